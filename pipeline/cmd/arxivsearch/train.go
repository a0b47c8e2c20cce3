package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/train"
)

// configFlags registers the training configuration flags on fs.
func configFlags(fs *flag.FlagSet) func() (train.Config, error) {
	d := train.Defaults()
	c := d
	fs.IntVar(&c.Dim, "dim", d.Dim, "embedding dimension")
	fs.IntVar(&c.Steps, "steps", d.Steps, "training steps")
	fs.IntVar(&c.Batch, "batch", d.Batch, "pairs per step (distinct batches hold at most one pair per category)")
	fs.Float64Var(&c.LR, "lr", d.LR, "Adam learning rate")
	fs.StringVar(&c.LRDecay, "lr-decay", d.LRDecay, "learning rate schedule after warmup: constant or linear (to zero)")
	fs.IntVar(&c.Warmup, "warmup", d.Warmup, "linear warmup steps")
	fs.Float64Var(&c.Scale, "scale", d.Scale, "MNRL scale of the cosine similarities")
	neg := fs.String("negatives", string(d.Negatives), "how same-category negatives are avoided: masked (frequency-weighted batches, same-category pairs masked out of the softmax) or distinct (no two pairs of one category in a batch)")
	fs.Float64Var(&c.CategoryPower, "category-power", d.CategoryPower, "draw categories with probability proportional to size^power (1: frequency-weighted, 0: uniform)")
	fs.IntVar(&c.MaxSeqLen, "max-seq-length", d.MaxSeqLen, "truncation length in token ids, [CLS] and [SEP] included (also written to sentence_bert_config.json)")
	text := fs.String("text", string(d.Text), "text of a paper: title+abstract or abstract")
	initMode := fs.String("init", string(d.Init), "table initialization: normal, or idf (normal scaled by token idf)")
	fs.Float64Var(&c.InitStd, "init-std", d.InitStd, "standard deviation of the initial table")
	fs.IntVar(&c.MinDF, "min-df", d.MinDF, "keep tokens seen in at least this many training papers (others map to the zero row)")
	fs.Uint64Var(&c.Seed, "seed", d.Seed, "seed of initialization and pair sampling")
	return func() (train.Config, error) {
		c.Negatives = train.Negatives(*neg)
		c.Init = train.Init(*initMode)
		rule, err := dataset.ParseTextRule(*text)
		if err != nil {
			return c, err
		}
		c.Text = rule
		return c, c.Validate()
	}
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "train", "-data DIR -out DIR [flags]", `
Trains the static embedding model (a token table, mean pooling over all
ids including [CLS]/[SEP], L2 normalization) with
MultipleNegativesRankingLoss on pairs of training papers that share a
primary category, and writes an ONNX model directory the embedder serves
(docs/pipeline.md). Adam with lazy updates of the touched rows; seeded and
deterministic (the same inputs give a bit-identical table).

The model directory records a cache key (trainer version, configuration,
training data hash, vocabulary hash, dtype) in training.json; when -out
already holds a model with the same key, training is skipped.`)
	data := fs.String("data", "", "prepared directory (arxivsearch prepare) (required)")
	out := fs.String("out", "", "model directory to write (required)")
	dtype := fs.String("dtype", string(modeldir.Int8), "table storage in model.onnx: int8 (one scale per row; same quality as float32, a quarter of the size), float16 or float32")
	threads := fs.Int("threads", 0, "worker goroutines (0: GOMAXPROCS)")
	force := fs.Bool("force", false, "train even when -out holds an up-to-date model")
	evalEvery := fs.Int("eval-every", 500, "evaluate on a sample of the eval split every N steps (0: only at the end, -1: never)")
	evalSample := fs.Int("eval-sample", 0, "papers of the eval split drawn for that evaluation (20% queries); 0: the whole split")
	tokDir := fs.String("tokenizer", "", "tokenizer directory (default: the embedded BERT uncased tokenizer the embedder uses)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	cfgOf := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "data", "out"); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	cfg, err := cfgOf()
	if err != nil {
		return err
	}
	dt, err := modeldir.ParseDType(*dtype)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := train.Run(ctx, train.Options{
		DataDir: *data, OutDir: *out, Config: cfg, DType: dt, TokenizerDir: *tokDir, Threads: *threads,
		Force: *force, EvalEvery: *evalEvery, EvalSample: *evalSample, Producer: producer(), Log: log,
	})
	if err != nil {
		return err
	}
	info := res.Info
	if res.Skipped {
		fmt.Fprintf(stdout, "%s is up to date (cache key %s); nothing to do\n", *out, info.CacheKey[:16])
		return nil
	}
	fmt.Fprintf(stdout, "trained %s: %d steps x %d pairs in %.1fs (%.1f steps/s, %d threads), final loss %.4f, table %d x %d %s, model.onnx %d bytes\n",
		*out, info.Config.Steps, info.BatchPairs, info.Seconds.Train, info.StepsPerSecond, info.Threads, info.FinalLoss,
		info.Table.Rows, info.Table.Dim, info.DType, info.Table.ModelBytes)
	if n := len(info.EvalSplit); n > 0 {
		e := info.EvalSplit[n-1]
		fmt.Fprintf(stdout, "eval split: precision@10 %.4f  ndcg@10 %.4f  mrr@10 %.4f; non-cs queries: precision@10 %.4f  ndcg@10 %.4f  mrr@10 %.4f\n",
			e.PrecisionAt10, e.NDCG10, e.MRR10, e.NonCSP10, e.NonCSNDCG10, e.NonCSMRR10)
	}
	return nil
}
