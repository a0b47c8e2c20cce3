package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/bm25"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/embedclient"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/train"
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
	fs, lf := newFlagSet(stderr, "eval", "-data DIR [-model [NAME=]DIR ...] [-embedder [NAME=]HOST:PORT ...] [flags]", `
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
against the first ranker and a per-category table.

Rankers, in report order: every -model (in process, pure Go, exactly the
ONNX graph's arithmetic), every -embedder (a running embedder over gRPC),
then the baselines: BM25 (-bm25) and the untrained model (-untrained: the
first -model's training configuration before any step, rebuilt from the
train split of -data).`)
	data := fs.String("data", "", "prepared directory (required)")
	splitName := fs.String("split", dataset.Test, "split to evaluate on")
	var models, embedders listFlag
	fs.Var(&models, "model", "model directory to evaluate in process, optionally NAME=DIR (repeatable)")
	fs.Var(&embedders, "embedder", "embedder gRPC address to evaluate, optionally NAME=HOST:PORT (repeatable)")
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
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		return err
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
		return fmt.Errorf("%w: nothing to evaluate: give -model, -embedder or -bm25", errUsage)
	}
	rep, err := eval.Run(ctx, eval.Options{Tasks: evalTasks, Contenders: contenders, Text: rule,
		Resamples: *resamples, Seed: *seed, MinCategoryQueries: *minCat, Log: log})
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
			fmt.Fprintf(stdout, "  %-20s P@10 %.4f  NDCG@10 %.4f  MRR@10 %.4f   non-cs P@10 %.4f (%d queries)\n", r.Name,
				r.All.Get("precision@10").Mean, r.All.Get("ndcg@10").Mean, r.All.Get("mrr@10").Mean,
				r.NonCS.Get("precision@10").Mean, r.NonCS.Queries)
		}
	}
	return nil
}
