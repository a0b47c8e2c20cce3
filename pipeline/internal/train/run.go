package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// InfoFile is the training record in a model directory.
const InfoFile = "training.json"

// Options configure Run.
type Options struct {
	DataDir string // prepared directory (arxivsearch prepare)
	OutDir  string // model directory to write
	Config  Config
	DType   modeldir.DType
	// TokenizerDir is a tokenizer directory; empty uses the embedded BERT
	// uncased tokenizer (the embedder's).
	TokenizerDir string
	Threads      int
	// Force retrains even when OutDir holds a model with the same cache
	// key.
	Force bool
	// EvalEvery evaluates on a sample of the eval split every so many
	// steps (0: only at the end; < 0: never).
	EvalEvery int
	// EvalSample is the size of that sample (0: the whole split).
	EvalSample int
	Producer   string
	Log        *slog.Logger
	Progress   []progress.Option
}

// Info is training.json.
type Info struct {
	CacheKey       string         `json:"cache_key"`
	TrainerVersion string         `json:"trainer_version"`
	Config         Config         `json:"config"`
	DType          modeldir.DType `json:"dtype"`
	Data           DataInfo       `json:"data"`
	VocabSHA256    string         `json:"vocab_sha256"`
	Table          TableInfo      `json:"table"`
	Threads        int            `json:"threads"`
	BatchPairs     int            `json:"batch_pairs"`
	Seconds        Timing         `json:"seconds"`
	StepsPerSecond float64        `json:"steps_per_second"`
	FinalLoss      float64        `json:"final_loss"`
	Loss           []LossPoint    `json:"loss"`
	EvalSplit      []EvalPoint    `json:"eval_split"`
	Producer       string         `json:"producer"`
}

// DataInfo identifies the training data.
type DataInfo struct {
	Dir          string `json:"dir"`
	TrainFile    string `json:"train_file"`
	TrainSHA256  string `json:"train_content_sha256"` // of the decompressed split file
	TrainPapers  int    `json:"train_papers"`
	SourceSHA256 string `json:"source_sha256"`
}

// TableInfo describes the table.
type TableInfo struct {
	Rows       int   `json:"rows"` // including the zero row
	Dim        int   `json:"dim"`
	ModelBytes int64 `json:"model_onnx_bytes"`
}

// Timing is where the time went.
type Timing struct {
	Tokenize float64 `json:"tokenize"`
	Train    float64 `json:"train"`
	Eval     float64 `json:"eval"`
	Total    float64 `json:"total"`
}

// LossPoint is the mean loss over the steps since the previous point.
type LossPoint struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

// EvalPoint is an evaluation on the eval split: all queries, and the
// non-cs queries.
type EvalPoint struct {
	Step          int     `json:"step"`
	PrecisionAt10 float64 `json:"precision@10"`
	NDCG10        float64 `json:"ndcg@10"`
	MRR10         float64 `json:"mrr@10"`
	NonCSP10      float64 `json:"non_cs_precision@10"`
	NonCSNDCG10   float64 `json:"non_cs_ndcg@10"`
	NonCSMRR10    float64 `json:"non_cs_mrr@10"`
}

// ReadInfo reads a model directory's training.json.
func ReadInfo(dir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
	}
	return &info, nil
}

// Result is what Run did.
type Result struct {
	Info    *Info
	Model   *staticmodel.Model // nil when skipped
	Skipped bool               // the cached model was up to date
}

// Run trains a model on the train split of opts.DataDir and writes it to
// opts.OutDir, unless OutDir already holds the model of the same cache
// key.
func Run(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.DType == "" {
		opts.DType = modeldir.Float32
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tok, err := assets.LoadTokenizer(opts.TokenizerDir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vocabSHA, err := assets.VocabSHA256(opts.TokenizerDir)
	if err != nil {
		return nil, err
	}
	man, err := dataset.ReadManifest(opts.DataDir)
	if err != nil {
		return nil, err
	}
	split, err := man.Split(dataset.Train)
	if err != nil {
		return nil, err
	}
	trainPath := filepath.Join(opts.DataDir, split.File)
	trainSHA, err := dataset.ContentSHA256(trainPath)
	if err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	key := CacheKey(cfg, trainSHA, vocabSHA, string(opts.DType))
	if !opts.Force {
		if info, err := ReadInfo(opts.OutDir); err == nil && info.CacheKey == key {
			if _, err := modeldir.ModelPath(opts.OutDir); err == nil {
				log.Info("model is up to date; skipping training (use -force to retrain)", "out", opts.OutDir, "cache_key", key[:16])
				return &Result{Info: info, Skipped: true}, nil
			}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("ignoring unreadable training record", "error", err)
		}
	}

	papers, err := dataset.ReadSplit(opts.DataDir, dataset.Train)
	if err != nil {
		return nil, err
	}
	var evalPapers []dataset.Paper
	if opts.EvalEvery >= 0 {
		if evalPapers, err = dataset.ReadSplit(opts.DataDir, dataset.Eval); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	corpus, err := BuildCorpus(ctx, papers, tok, cfg, opts.Progress...)
	if err != nil {
		return nil, err
	}
	tokSecs := time.Since(t0).Seconds()
	tr, err := New(cfg, corpus, opts.Threads)
	if err != nil {
		return nil, err
	}
	log.Info("training", "papers", len(papers), "categories", len(corpus.Categories), "rows", corpus.NumRows(),
		"dim", cfg.Dim, "steps", cfg.Steps, "batch_pairs", tr.BatchPairs(), "negatives", cfg.Negatives, "threads", opts.Threads)

	info := &Info{
		CacheKey: key, TrainerVersion: Version, Config: cfg, DType: opts.DType,
		Data:        DataInfo{Dir: opts.DataDir, TrainFile: split.File, TrainSHA256: trainSHA, TrainPapers: len(papers), SourceSHA256: man.Source.SHA256},
		VocabSHA256: vocabSHA, Threads: opts.Threads, BatchPairs: tr.BatchPairs(), Producer: opts.Producer,
	}
	var evalTask eval.Task
	if evalPapers != nil {
		evalTask = eval.NewTask("eval-split", "", evalPapers, opts.EvalSample, cfg.Seed)
	}
	var evalSecs float64
	evaluate := func(step int) error {
		e0 := time.Now()
		m := tr.Model(tok)
		// Quiet: the training bar is on screen; the result is logged below.
		quiet := []progress.Option{progress.WithTTY(false), progress.WithLogger(slog.New(slog.DiscardHandler))}
		ranked, err := eval.Dense{Embedder: m, Threads: opts.Threads, Progress: quiet}.Rank(ctx, cfg.Text.Texts(evalTask.Queries), cfg.Text.Texts(evalTask.Corpus), eval.MaxK)
		if err != nil {
			return err
		}
		scores := evalTask.ScoreRankings(ranked)
		var noncs []eval.Scores
		for i, q := range evalTask.Queries {
			if !dataset.IsCS(q.PrimaryCategory) {
				noncs = append(noncs, scores[i])
			}
		}
		s, n := eval.Summarize(scores, 0, 0), eval.Summarize(noncs, 0, 0)
		pt := EvalPoint{Step: step,
			PrecisionAt10: s.Get("precision@10").Mean, NDCG10: s.Get("ndcg@10").Mean, MRR10: s.Get("mrr@10").Mean,
			NonCSP10: n.Get("precision@10").Mean, NonCSNDCG10: n.Get("ndcg@10").Mean, NonCSMRR10: n.Get("mrr@10").Mean}
		info.EvalSplit = append(info.EvalSplit, pt)
		evalSecs += time.Since(e0).Seconds()
		log.Info("eval split", "step", step, "queries", len(scores), "p@10", f4(pt.PrecisionAt10), "ndcg@10", f4(pt.NDCG10), "mrr@10", f4(pt.MRR10),
			"non_cs_queries", len(noncs), "non_cs_p@10", f4(pt.NonCSP10), "non_cs_ndcg@10", f4(pt.NonCSNDCG10), "non_cs_mrr@10", f4(pt.NonCSMRR10))
		return nil
	}
	if evalPapers != nil && opts.EvalEvery > 0 {
		if err := evaluate(0); err != nil {
			return nil, err
		}
	}

	bar := progress.New("train", int64(cfg.Steps), append([]progress.Option{progress.WithUnit("steps")}, opts.Progress...)...)
	t1 := time.Now()
	var lossSum float64
	var lossN int
	const lossEvery = 100
	err = tr.Train(ctx, func(step int, loss float64) error {
		lossSum += loss
		lossN++
		bar.Add(1)
		if step%lossEvery == 0 || step == cfg.Steps {
			mean := lossSum / float64(lossN)
			info.Loss = append(info.Loss, LossPoint{Step: step, Loss: mean})
			bar.Note("loss %.4f", mean)
			lossSum, lossN = 0, 0
		}
		if evalPapers != nil && opts.EvalEvery > 0 && step%opts.EvalEvery == 0 && step != cfg.Steps {
			return evaluate(step)
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return nil, err
	}
	trainSecs := time.Since(t1).Seconds() - evalSecs
	if evalPapers != nil {
		if err := evaluate(cfg.Steps); err != nil {
			return nil, err
		}
	}
	if n := len(info.Loss); n > 0 {
		info.FinalLoss = info.Loss[n-1].Loss
	}
	model := tr.Model(tok)
	if err := modeldir.Write(opts.OutDir, model, modeldir.Options{DType: opts.DType, Producer: opts.Producer, TokenizerDir: opts.TokenizerDir,
		Metadata: [][2]string{{"trainer", Version}, {"cache_key", key}}}); err != nil {
		return nil, err
	}
	path, _ := modeldir.ModelPath(opts.OutDir)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	info.Table = TableInfo{Rows: model.NumRows(), Dim: model.Dim, ModelBytes: fi.Size()}
	info.Seconds = Timing{Tokenize: tokSecs, Train: trainSecs, Eval: evalSecs, Total: time.Since(start).Seconds()}
	if trainSecs > 0 {
		info.StepsPerSecond = float64(cfg.Steps) / trainSecs
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(opts.OutDir, InfoFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", InfoFile, err)
	}
	if err := os.WriteFile(filepath.Join(opts.OutDir, "README.md"), []byte(modelCard(info)), 0o644); err != nil {
		return nil, fmt.Errorf("write model card: %w", err)
	}
	log.Info("model written", "out", opts.OutDir, "dtype", opts.DType, "model_bytes", fi.Size(),
		"train_seconds", fmt.Sprintf("%.1f", trainSecs), "total_seconds", fmt.Sprintf("%.1f", info.Seconds.Total))
	return &Result{Info: info, Model: modeldir.Quantize(model, opts.DType)}, nil
}

// Untrained returns the model a training run with cfg starts from: the
// same kept tokens and the seeded initial table, before any step.
func Untrained(ctx context.Context, cfg Config, papers []dataset.Paper, tok *tokenizer.Tokenizer, threads int, popts ...progress.Option) (*staticmodel.Model, error) {
	corpus, err := BuildCorpus(ctx, papers, tok, cfg, popts...)
	if err != nil {
		return nil, err
	}
	tr, err := New(cfg, corpus, threads)
	if err != nil {
		return nil, err
	}
	return tr.Model(tok), nil
}

func f4(x float64) string { return fmt.Sprintf("%.4f", x) }

// modelCard is the README.md of a model directory.
func modelCard(info *Info) string {
	c := info.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Static embedding model (%d dimensions)\n\n", c.Dim)
	fmt.Fprintf(&b, "Trained by `%s` (trainer %s). A token table (%d rows including the zero row, stored as %s) "+
		"whose mean over a text's BERT uncased word pieces, [CLS] and [SEP] included, L2-normalized, is the text's embedding. "+
		"Serve it with the embedder (`-model-dir`); docs/pipeline.md describes the files.\n\n",
		info.Producer, info.TrainerVersion, info.Table.Rows, info.DType)
	fmt.Fprintf(&b, "- Data: %d training papers (`%s`, content SHA-256 `%s`), text `%s`, max_seq_length %d\n",
		info.Data.TrainPapers, info.Data.TrainFile, info.Data.TrainSHA256, c.Text, c.MaxSeqLen)
	fmt.Fprintf(&b, "- Training: MultipleNegativesRankingLoss (scale %g), %s negatives, category power %g, %d steps x %d pairs, "+
		"Adam (lazy) lr %g (%s), init %s std %g, min df %d, seed %d\n",
		c.Scale, c.Negatives, c.CategoryPower, c.Steps, info.BatchPairs, c.LR, c.LRDecay, c.Init, c.InitStd, c.MinDF, c.Seed)
	fmt.Fprintf(&b, "- Time: %.0f s of training on %d threads (%.1f steps/s); %.0f s in all\n",
		info.Seconds.Train, info.Threads, info.StepsPerSecond, info.Seconds.Total)
	if n := len(info.EvalSplit); n > 0 {
		e := info.EvalSplit[n-1]
		fmt.Fprintf(&b, "- Eval split: precision@10 %.4f, NDCG@10 %.4f, MRR@10 %.4f (non-cs queries: %.4f, %.4f, %.4f)\n",
			e.PrecisionAt10, e.NDCG10, e.MRR10, e.NonCSP10, e.NonCSNDCG10, e.NonCSMRR10)
	}
	b.WriteString("\nTokenizer files: Apache-2.0, see NOTICE.tokenizer. training.json has the full record and the cache key.\n")
	return b.String()
}
