package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/bm25"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/embedclient"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval/live"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/loadtest"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/searchclient"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/train"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// namedValue splits "name=value"; without a name, name is derived by fn.
func namedValue(s string, fn func(string) string) (name, value string) {
	if n, v, ok := strings.Cut(s, "="); ok && n != "" && !strings.ContainsAny(n, "/:") {
		return n, v
	}
	return fn(s), s
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "eval", "-data DIR [-model [NAME=]DIR ...] [-embedder [NAME=]HOST:PORT ...] [-gateway [NAME=]URL ...] [flags]", `
Evaluates rankers on a split of a prepared directory with the seed
system's protocol: relevance = same primary category; sentence-transformers'
accuracy@1/3/5/10, precision@1/5/10, recall@1/5/10, MRR@10, NDCG@10 and
MAP@100; exact search over normalized vectors.

Tasks:
  old   a seeded sample of -sample papers of the split, the first 20% of
        the draw as queries and the rest as corpus, queries without a
        relevant paper dropped (the seed system's evaluator)
  full  the same over the whole split

Each metric comes with a 95% bootstrap interval over queries, separately
for all queries, cs queries and non-cs queries, with paired differences
(all and non-cs queries) against -baseline and a per-category table.

Rankers, in report order: every -model (in process, pure Go, exactly the
ONNX graph's arithmetic), every -embedder (a running embedder over gRPC),
every -gateway in every -modes (a live deployment through its REST API),
then every -hybrid, then the baselines: BM25 (-bm25) and the untrained model (-untrained: the
first -model's training configuration before any step, rebuilt from the
train split of -data).

A -gateway must be a dedicated deployment: for each task in turn the
evaluation makes its index hold exactly the task's corpus (POST
/v1/papers with -write-token, DELETE for what the previous task left),
checks the paper count (/v1/info), then sends every query as POST
/v1/search (k 100) in each mode, and deletes its papers at the end
(unless -keep). Papers of the split left by an interrupted run are found
and managed; any other paper makes it stop. Dense contenders also report
the live index's recall@10 against exact search over the deployment's
own embeddings (POST /v1/embed). Shard kinds (flat or IVF, nlist, nprobe)
are read from the index instances /v1/info names; -retrain trains every
shard into IVF after each load.

A -hybrid is the index's hybrid mode offline: papers are placed on shards
by the index's hash of their ids; on each shard the first -model's exact
dense list and a lexical list, each cut to a depth n, are fused, the
shard keeps its best k, and the shards are merged by fused score. Its
value is comma-separated settings:
  k=60        reciprocal rank fusion constant (default 60)
  w=0.5       lexical weight (default 1); wd=1 the dense weight (default 1)
  score       weighted min-max normalized score fusion instead of RRF
  n=200, n=2x list depth per shard, absolute or times k (default k)
  at-merge    fuse once after merging the shards' dense lists (by cosine)
              and lexical lists (by BM25) instead of per shard
  req-k=10    emulate a request for 10 results (default: 100, the metrics' depth)
  shards=8    the index's shard count (default 8; 1: fuse globally)
  lex=fts     lexical ranker: fts (approximates the index's FTS5: words,
              title weight 2, first 32 distinct non-stop query words, no
              stemming) or wordpiece (the -bm25 baseline's BM25)
  name=NAME   contender name (default: the settings)`)
	data := fs.String("data", "", "prepared directory (required)")
	splitName := fs.String("split", dataset.Test, "split to evaluate on")
	var models, embedders listFlag
	fs.Var(&models, "model", "model directory to evaluate in process, optionally NAME=DIR (repeatable)")
	fs.Var(&embedders, "embedder", "embedder gRPC address to evaluate, optionally NAME=HOST:PORT (repeatable)")
	var gateways listFlag
	fs.Var(&gateways, "gateway", "gateway base URL of a dedicated deployment to evaluate live, optionally NAME=URL (repeatable)")
	modesFlag := fs.String("modes", "dense,lexical,hybrid", "search modes evaluated on every -gateway (comma-separated)")
	nprobeFlag := fs.String("nprobe", "0", "nprobe values for the dense and hybrid modes of -gateway, comma-separated (0: each shard's default)")
	writeToken := fs.String("write-token", "", "the gateway's write token, for ingest and delete (default $GATEWAY_WRITE_TOKEN)")
	concurrency := fs.Int("concurrency", 8, "requests in flight per -gateway (searches, ingest, delete, embed)")
	retrain := fs.Bool("retrain", false, "after loading each task's corpus, train every shard of the -gateway's index into IVF (index TrainShards)")
	settle := fs.Duration("settle", 10*time.Minute, "longest wait for a -gateway's shards to finish indexing and training after a load")
	keep := fs.Bool("keep", false, "leave the last task's corpus in the -gateway's deployment")
	allowRemote := fs.Bool("allow-remote", false, "allow a -gateway that is not on loopback")
	baseline := fs.String("baseline", "", "ranker the others are compared with, query by query (default: the first)")
	var hybrids listFlag
	fs.Var(&hybrids, "hybrid", "offline hybrid ranker fusing the first -model's dense lists with a lexical ranker as the index does per shard, e.g. k=60,w=0.5 (repeatable; see -help)")
	useBM25 := fs.Bool("bm25", true, "include the BM25 baseline")
	untrained := fs.Bool("untrained", true, "include the untrained model (needs a -model with training.json)")
	text := fs.String("text", string(dataset.TitleAbstract), "text of a paper for queries and corpus: title+abstract or abstract")
	tasks := fs.String("tasks", "old,full", "tasks to run: old, full or both (comma-separated)")
	sample := fs.Int("sample", 5000, "papers drawn for the old-protocol task")
	seed := fs.Uint64("seed", 42, "seed of the sample and of the bootstrap")
	resamples := fs.Int("bootstrap", 1000, "bootstrap resamples over queries (0: no intervals)")
	maxSeq := fs.Int("max-seq-length", 0, "override the models' max_seq_length (0: each model's own)")
	minCat := fs.Int("min-category-queries", 5, "queries a category needs for a row in the per-category table")
	out := fs.String("out", "", "directory for eval.json and eval.md (default: print Markdown only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "data"); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	rule, err := dataset.ParseTextRule(*text)
	if err != nil {
		return err
	}
	taskNames := strings.Split(*tasks, ",")
	for _, t := range taskNames {
		if t = strings.TrimSpace(t); t != "old" && t != "full" {
			return fmt.Errorf("%w: -tasks %q: want old and/or full", errUsage, *tasks)
		}
	}
	papers, err := dataset.ReadSplit(*data, *splitName)
	if err != nil {
		return err
	}
	var evalTasks []eval.Task
	for _, t := range taskNames {
		switch strings.TrimSpace(t) {
		case "old":
			evalTasks = append(evalTasks, eval.NewTask("old protocol",
				fmt.Sprintf("Seed system's protocol: %d papers drawn from the %s split (seed %d), first 20%% queries, rest corpus.", min(*sample, len(papers)), *splitName, *seed),
				papers, *sample, *seed))
		case "full":
			evalTasks = append(evalTasks, eval.NewTask("full split",
				fmt.Sprintf("The whole %s split (%d papers) shuffled (seed %d), first 20%% queries, rest corpus.", *splitName, len(papers), *seed),
				papers, 0, *seed))
		}
	}

	var contenders []eval.Contender
	var firstInfo *train.Info
	var firstModel *staticmodel.Model
	var firstDense eval.Embedder
	for _, spec := range models {
		name, dir := namedValue(spec, filepath.Base)
		m, info, err := modeldir.Load(dir)
		if err != nil {
			return err
		}
		if *maxSeq > 0 {
			m.MaxSeqLen = *maxSeq
		}
		note := fmt.Sprintf("static model %s: %d x %d table (%s), max_seq_length %d", dir, m.NumRows(), m.Dim, info.DType, m.MaxSeqLen)
		if firstDense == nil {
			firstDense = m
		}
		if ti, err := train.ReadInfo(dir); err == nil && firstInfo == nil {
			firstInfo, firstModel = ti, m
		}
		contenders = append(contenders, eval.Contender{Name: name, Note: note, Ranker: eval.Dense{Embedder: m, Label: name + ": "}})
	}
	for _, spec := range embedders {
		name, addr := namedValue(spec, func(s string) string { return "embedder@" + s })
		c, err := embedclient.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.MaxSeqLen = *maxSeq
		served, dim, err := c.ModelName(ctx)
		if err != nil {
			return err
		}
		contenders = append(contenders, eval.Contender{Name: name, Note: fmt.Sprintf("embedder at %s serving %s (%d dims)", addr, served, dim), Ranker: eval.Dense{Embedder: c, Label: name + ": "}})
	}
	deployments, err := gatewayContenders(ctx, gateways, gatewayOptions{
		modes: *modesFlag, nprobe: *nprobeFlag, token: *writeToken, concurrency: *concurrency,
		retrain: *retrain, settle: *settle, allowRemote: *allowRemote, text: rule, known: papers, log: log,
	}, &contenders)
	if err != nil {
		return err
	}
	defer func() {
		// Clean up even after Ctrl+C or a failed evaluation: the
		// deployment must not keep papers the next run would trip on.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		for _, d := range deployments {
			if *keep {
				d.Close()
				log.Info("papers left in the deployment (-keep)", "deployment", d.Name, "papers", d.Held())
				continue
			}
			if err := d.Unload(cctx); err != nil {
				log.Error("cleanup failed: the deployment still holds evaluation papers; a later eval run finds and replaces them", "deployment", d.Name, "err", err)
			}
		}
	}()
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		return err
	}
	if len(hybrids) > 0 {
		if firstDense == nil {
			return fmt.Errorf("%w: -hybrid needs a -model for its dense lists", errUsage)
		}
		hs, err := hybridContenders(hybrids, firstDense, tok)
		if err != nil {
			return err
		}
		contenders = append(contenders, hs...)
	}
	if *useBM25 {
		contenders = append(contenders, eval.Contender{Name: "BM25", Note: "Okapi BM25, k1=1.2, b=0.75, over BERT uncased word pieces", Ranker: bm25.Ranker{Tok: tok, K1: bm25.K1, B: bm25.B}})
	}
	if *untrained {
		if firstInfo == nil {
			log.Warn("no untrained baseline: no -model with a training.json")
		} else {
			trainPapers, err := dataset.ReadSplit(*data, dataset.Train)
			if err != nil {
				return err
			}
			cfg := firstInfo.Config
			m, err := train.Untrained(ctx, cfg, trainPapers, firstModel.Tok, 0)
			if err != nil {
				return err
			}
			if *maxSeq > 0 {
				m.MaxSeqLen = *maxSeq
			}
			contenders = append(contenders, eval.Contender{Name: "untrained",
				Note:   fmt.Sprintf("the first model's initial table (init %s, std %g, seed %d), no training", cfg.Init, cfg.InitStd, cfg.Seed),
				Ranker: eval.Dense{Embedder: m, Label: "untrained: "}})
		}
	}
	if len(contenders) == 0 {
		return fmt.Errorf("%w: nothing to evaluate: give -model, -embedder, -gateway or -bm25", errUsage)
	}
	seen := map[string]bool{}
	for _, c := range contenders {
		if seen[c.Name] {
			return fmt.Errorf("%w: two rankers are named %q: name them (NAME=...)", errUsage, c.Name)
		}
		seen[c.Name] = true
	}
	if *baseline != "" && !seen[*baseline] {
		return fmt.Errorf("%w: -baseline %q is not a ranker (rankers: %s)", errUsage, *baseline, strings.Join(slices.Sorted(maps.Keys(seen)), ", "))
	}
	rep, err := eval.Run(ctx, eval.Options{Tasks: evalTasks, Contenders: contenders, Text: rule,
		Resamples: *resamples, Seed: *seed, MinCategoryQueries: *minCat, Baseline: *baseline, Log: log})
	if err != nil {
		return err
	}
	md := rep.Markdown()
	var notes strings.Builder
	notes.WriteString("# Evaluation\n\nRankers:\n\n")
	for _, c := range contenders {
		fmt.Fprintf(&notes, "- **%s**: %s\n", c.Name, c.Note)
	}
	notes.WriteString("\n")
	md = notes.String() + md
	if *out == "" {
		fmt.Fprint(stdout, md)
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := writeJSONFile(filepath.Join(*out, "eval.json"), rep); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "eval.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*out, "eval.json"), filepath.Join(*out, "eval.md"))
	for _, t := range rep.Tasks {
		fmt.Fprintf(stdout, "%s (%d queries, %d corpus):\n", t.Name, t.Queries, t.Corpus)
		for _, r := range t.Results {
			fmt.Fprintf(stdout, "  %-20s P@10 %.4f  NDCG@10 %.4f  MRR@10 %.4f   non-cs P@10 %.4f (%d queries)", r.Name,
				r.All.Get("precision@10").Mean, r.All.Get("ndcg@10").Mean, r.All.Get("mrr@10").Mean,
				r.NonCS.Get("precision@10").Mean, r.NonCS.Queries)
			for _, m := range r.Measures {
				fmt.Fprintf(stdout, "   %s %.4f", m.Name, m.Mean)
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

type gatewayOptions struct {
	modes, nprobe, token string
	concurrency          int
	retrain, allowRemote bool
	settle               time.Duration
	text                 dataset.TextRule
	known                []dataset.Paper
	log                  *slog.Logger
}

// gatewayContenders adds a contender per -gateway, mode and nprobe, after
// checking that every gateway answers; it returns the deployments, which
// the caller unloads.
func gatewayContenders(ctx context.Context, specs []string, o gatewayOptions, contenders *[]eval.Contender) ([]*live.Deployment, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if o.text != dataset.TitleAbstract {
		return nil, fmt.Errorf("%w: -gateway embeds title+abstract, as the deployment ingests; -text %s cannot apply to it", errUsage, o.text)
	}
	var modes []searchclient.Mode
	for m := range strings.SplitSeq(o.modes, ",") {
		mode, err := searchclient.ParseMode(m)
		if err != nil {
			return nil, fmt.Errorf("%w: -modes: %v", errUsage, err)
		}
		if slices.Contains(modes, mode) {
			return nil, fmt.Errorf("%w: -modes names %s twice", errUsage, mode.Short())
		}
		modes = append(modes, mode)
	}
	var nprobes []int
	for v := range strings.SplitSeq(o.nprobe, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 1024 {
			return nil, fmt.Errorf("%w: -nprobe %q: want integers 0..1024 (0: the shards' default)", errUsage, v)
		}
		if slices.Contains(nprobes, n) {
			return nil, fmt.Errorf("%w: -nprobe names %d twice", errUsage, n)
		}
		nprobes = append(nprobes, n)
	}
	if o.token == "" {
		o.token = os.Getenv("GATEWAY_WRITE_TOKEN")
	}
	var out []*live.Deployment
	for _, spec := range specs {
		name, target := namedValue(spec, func(s string) string {
			if u, err := url.Parse(s); err == nil && u.Host != "" {
				return u.Host
			}
			return s
		})
		if _, err := loadtest.CheckTarget(ctx, target, o.allowRemote, nil); err != nil {
			return nil, fmt.Errorf("-gateway: %w", err)
		}
		c, err := searchclient.New(target, o.concurrency)
		if err != nil {
			return nil, fmt.Errorf("%w: -gateway: %v", errUsage, err)
		}
		c.Token = o.token
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("-gateway %s: %w", target, err)
		}
		d := &live.Deployment{Name: name, Client: c, Concurrency: o.concurrency, Known: o.known,
			Retrain: o.retrain, Settle: o.settle, Log: o.log}
		out = append(out, d)
		base := fmt.Sprintf("live deployment at %s (model %s, %d dims; %d shards; gateway %s, default mode %s), searched through POST /v1/search with k %d, %d in flight",
			c.URL(), info.Model, info.Dimension, info.TotalShards, info.Version, info.DefaultMode.Short(), searchclient.MaxK, o.concurrency)
		for _, mode := range modes {
			for _, np := range nprobes {
				if mode == searchclient.Lexical && np != nprobes[0] {
					continue // nprobe does not apply to lexical search
				}
				r := &live.Ranker{D: d, Mode: mode, Recall: mode == searchclient.Dense}
				cname, note := name+" "+mode.Short(), base+", mode "+mode.Short()
				if mode != searchclient.Lexical {
					r.Nprobe = np
					if np > 0 {
						cname += fmt.Sprintf(" nprobe=%d", np)
						note += fmt.Sprintf(", nprobe %d", np)
					}
				}
				if r.Recall {
					note += "; recall@10 against exact search over the deployment's /v1/embed vectors"
				}
				*contenders = append(*contenders, eval.Contender{Name: cname, Note: note, Ranker: r})
			}
		}
	}
	return out, nil
}

// hybridContenders parses -hybrid values into contenders; settings with
// the same shards and lexical ranker share one source, so the lists are
// computed once per task.
func hybridContenders(specs []string, dense eval.Embedder, tok *tokenizer.Tokenizer) ([]eval.Contender, error) {
	type srcKey struct {
		shards int
		lex    string
	}
	sources := map[srcKey]*eval.HybridSource{}
	var out []eval.Contender
	for _, spec := range specs {
		f := eval.Fusion{RRFK: 60, WDense: 1, WLex: 1}
		key := srcKey{shards: 8, lex: eval.LexFTS}
		name := ""
		for kv := range strings.SplitSeq(spec, ",") {
			if strings.TrimSpace(kv) == "" {
				continue // "-hybrid ''" is the index's plain RRF
			}
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			var err error
			switch k {
			case "k":
				f.RRFK, err = strconv.Atoi(v)
				if err == nil && f.RRFK < 0 {
					err = fmt.Errorf("negative")
				}
			case "w":
				f.WLex, err = strconv.ParseFloat(v, 64)
			case "wd":
				f.WDense, err = strconv.ParseFloat(v, 64)
			case "score":
				f.Score = true
			case "at-merge":
				f.AtMerge = true
			case "n":
				if x, ok := strings.CutSuffix(v, "x"); ok {
					f.DepthFactor, err = strconv.Atoi(x)
				} else {
					f.Depth, err = strconv.Atoi(v)
				}
				if err == nil && (f.Depth < 0 || f.DepthFactor < 0) {
					err = fmt.Errorf("negative")
				}
			case "req-k":
				f.K, err = strconv.Atoi(v)
				if err == nil && (f.K < 1 || f.K > eval.MaxK) {
					err = fmt.Errorf("want 1..%d", eval.MaxK)
				}
			case "shards":
				key.shards, err = strconv.Atoi(v)
				if err == nil && (key.shards < 1 || key.shards > shardset.MaxShards) {
					err = fmt.Errorf("want 1..%d", shardset.MaxShards)
				}
			case "lex":
				if v != eval.LexFTS && v != eval.LexWordPiece {
					err = fmt.Errorf("want %s or %s", eval.LexFTS, eval.LexWordPiece)
				}
				key.lex = v
			case "name":
				name = v
			default:
				err = fmt.Errorf("unknown setting (k, w, wd, score, at-merge, n, req-k, shards, lex, name)")
			}
			if err != nil {
				return nil, fmt.Errorf("%w: -hybrid %q: %s: %v", errUsage, spec, kv, err)
			}
		}
		if math.IsNaN(f.WLex) || math.IsNaN(f.WDense) || f.WLex < 0 || f.WDense < 0 {
			return nil, fmt.Errorf("%w: -hybrid %q: weights must be >= 0", errUsage, spec)
		}
		if !f.Score && f.RRFK == 0 {
			return nil, fmt.Errorf("%w: -hybrid %q: k must be positive", errUsage, spec)
		}
		src := sources[key]
		if src == nil {
			src = &eval.HybridSource{Embedder: dense, Lexical: key.lex, Tok: tok, Shards: key.shards}
			sources[key] = src
		}
		reqK := eval.MaxK
		if f.K > 0 {
			reqK = f.K
		}
		depth := reqK
		if f.DepthFactor > 0 {
			depth = f.DepthFactor * reqK
		} else if f.Depth > 0 {
			depth = f.Depth
		}
		src.MaxDepth = max(src.MaxDepth, depth)
		if name == "" {
			name = fmt.Sprintf("hybrid %s shards=%d lex=%s", f, key.shards, key.lex)
		}
		out = append(out, eval.Contender{Name: name, Ranker: eval.Hybrid{Source: src, Fusion: f},
			Note: fmt.Sprintf("offline hybrid: %s, %d shards, lexical %s, dense from the first -model", f, key.shards, key.lex)})
	}
	return out, nil
}
