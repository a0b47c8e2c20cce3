// Package embed turns texts into embedding vectors exactly as
// sentence-transformers does for the loaded model: tokenize (with the
// model's max_seq_length), run the ONNX graph on padded batches, pool over
// the attention mask and L2-normalize.
//
// Requests tokenize on their own goroutines, then queue their texts in a
// dynamic batcher that groups texts of similar length from all concurrent
// requests into batches for a pool of ONNX Runtime sessions, one batch per
// session at a time.
package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/batcher"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/onnx"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Errors Embed returns besides the context's.
var (
	// ErrInvalid wraps a request the caller must change.
	ErrInvalid = errors.New("invalid request")
	// ErrOverloaded: the queue is full; retry later.
	ErrOverloaded = batcher.ErrQueueFull
	// ErrClosed: the embedder is shutting down.
	ErrClosed = batcher.ErrClosed
)

// Config sizes the session pool and the batches.
type Config struct {
	// Sessions is the number of ONNX Runtime sessions, each running one
	// batch at a time.
	Sessions int
	// IntraOpThreads and InterOpThreads are per session; 0 lets ONNX
	// Runtime choose.
	IntraOpThreads int
	InterOpThreads int
	Device         onnx.Device
	// Batching: see batcher.Config. TokenBudget counts padded tokens.
	MaxBatch    int
	TokenBudget int
	MaxWait     time.Duration
	QueueSize   int
}

// Info describes the loaded model and where it runs.
type Info struct {
	Name            string
	Dimension       int
	MaxSeqLen       int
	MaxSeqLenSource string
	// Pooling is the Go-side pooling; GraphPools says the graph outputs a
	// pooled sentence embedding instead and Pooling is unused.
	Pooling    pooling.Mode
	GraphPools bool
	Normalized bool
	Device     string
	Provider   string
	SHA256     string
	VocabSize  int
	Lowercase  bool
	// Sessions and IntraOpThreads are what runs.
	Sessions       int
	IntraOpThreads int
}

// Embedding is one text's vector.
type Embedding struct {
	Vector []float32
	// Tokens fed to the model, special tokens included.
	Tokens int
	// Truncated: the text had more than max_seq_length tokens.
	Truncated bool
}

// Embedder embeds texts with one model. It is safe for concurrent use.
type Embedder struct {
	info      Info
	tok       *tokenizer.Tokenizer
	lowerCase bool
	pool      pooling.Mode
	normalize bool
	logger    *slog.Logger

	workers chan *worker
	all     []*worker
	batcher *batcher.Batcher[item, output]
	encs    sync.Pool // *tokenizer.Batch
}

// item is one tokenized text: a row of ids and type ids, unpadded.
type item struct {
	ids, types []int64
}

// output is one text's vector and the batch it ran in.
type output struct {
	vec   []float32
	batch *batchTrace
}

// batchTrace is when a batch ran, for the requests' trace spans.
type batchTrace struct {
	size, seqLen, tokens    int
	start, inferred, pooled time.Time
}

// Load opens the model's ONNX graph in cfg.Sessions sessions, runs a
// warm-up batch on each, and starts the batcher. obs (optional) receives
// the batcher's events for metrics.
func Load(ctx context.Context, m *modeldir.Model, cfg Config, obs batcher.Observer, logger *slog.Logger) (*Embedder, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Sessions < 1 {
		return nil, fmt.Errorf("embed: %d sessions: want at least 1", cfg.Sessions)
	}
	start := time.Now()
	g, err := onnx.Inspect(m.ONNXPath)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if !g.Pooled && len(m.AfterPooling) > 0 {
		return nil, fmt.Errorf("embed: %s lists %s after pooling, but %s outputs token embeddings (%s) without them; export the model with its sentence_embedding output",
			filepath.Join(m.Dir, "modules.json"), strings.Join(m.AfterPooling, ", "), m.ONNXPath, g.Output)
	}
	sha, err := modeldir.FileSHA256(m.ONNXPath)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	e := &Embedder{
		tok: m.Tokenizer, lowerCase: m.LowerCase, pool: m.Pooling, normalize: m.Normalize, logger: logger,
		workers: make(chan *worker, cfg.Sessions),
		info: Info{
			Name: m.Name, MaxSeqLen: m.MaxSeqLen, MaxSeqLenSource: m.MaxSeqLenSource,
			Pooling: m.Pooling, GraphPools: g.Pooled, Normalized: m.Normalize,
			SHA256: sha, VocabSize: m.Tokenizer.VocabSize(), Lowercase: m.Tokenizer.Lowercase() || m.LowerCase,
			Sessions: cfg.Sessions, IntraOpThreads: cfg.IntraOpThreads,
		},
	}
	device := cfg.Device
	for i := range cfg.Sessions {
		if err := ctx.Err(); err != nil {
			e.closeSessions()
			return nil, fmt.Errorf("embed: loading: %w", err)
		}
		s, err := onnx.NewSession(m.ONNXPath, g, onnx.Options{
			IntraOpThreads: cfg.IntraOpThreads, InterOpThreads: cfg.InterOpThreads,
			Device: device, Logger: logger,
		})
		if err != nil {
			e.closeSessions()
			return nil, fmt.Errorf("embed: session %d: %w", i, err)
		}
		if i == 0 {
			e.info.Device, e.info.Provider = s.Device(), s.Provider()
			if s.Provider() == onnx.CPUProvider {
				device = onnx.Device{Kind: onnx.CPU} // a fallback is decided once
			}
		}
		w := &worker{sess: s, padID: e.tok.PadID()}
		e.all = append(e.all, w)
		if err := e.warmUp(w); err != nil {
			e.closeSessions()
			return nil, err
		}
		if i == 0 {
			e.info.Dimension = s.Graph().Dim
		}
		e.workers <- w
	}
	if !g.Pooled && m.Dim > 0 && e.info.Dimension != m.Dim {
		e.closeSessions()
		return nil, fmt.Errorf("embed: %s outputs dimension %d but %s says word_embedding_dimension %d", m.ONNXPath, e.info.Dimension, m.PoolingSource, m.Dim)
	}
	e.batcher, err = batcher.New(batcher.Config{
		MaxBatch: cfg.MaxBatch, TokenBudget: cfg.TokenBudget, MaxWait: cfg.MaxWait,
		QueueSize: cfg.QueueSize, Workers: cfg.Sessions,
	}, func(it item) int { return len(it.ids) }, e.runBatch, obs)
	if err != nil {
		e.closeSessions()
		return nil, fmt.Errorf("embed: %w", err)
	}
	logger.Info("model loaded and warmed up", "name", e.info.Name, "dir", m.Dir, "onnx", m.ONNXPath,
		"dimension", e.info.Dimension, "max_seq_length", e.info.MaxSeqLen, "max_seq_length_source", e.info.MaxSeqLenSource,
		"pooling", e.poolingName(), "normalized", e.info.Normalized, "device", e.info.Device, "execution_provider", e.info.Provider,
		"sessions", cfg.Sessions, "intra_op_threads", cfg.IntraOpThreads, "onnxruntime", onnx.Version(),
		"sha256", sha, "took", time.Since(start).Round(time.Millisecond))
	return e, nil
}

func (e *Embedder) poolingName() string {
	if e.info.GraphPools {
		return "graph"
	}
	return e.pool.String()
}

// warmUp runs a batch of a short and a max_seq_length text on w, so that
// ONNX Runtime sizes its buffers before the first request and a symbolic
// output dimension becomes known.
func (e *Embedder) warmUp(w *worker) error {
	long := e.tok.Encode(strings.Repeat("warm up ", e.info.MaxSeqLen), e.info.MaxSeqLen)
	short := e.tok.Encode("warm up", e.info.MaxSeqLen)
	outs, err := w.run([]item{{short.IDs, short.TypeIDs}, {long.IDs, long.TypeIDs}}, e.pool, e.normalize)
	if err != nil {
		return fmt.Errorf("embed: warm-up: %w", err)
	}
	if len(outs[0].vec) == 0 {
		return errors.New("embed: warm-up: the model gave empty vectors")
	}
	return nil
}

// Info describes the model and where it runs.
func (e *Embedder) Info() Info { return e.info }

// Embed returns one embedding per text, in order. maxLen is the most tokens
// per text, special tokens included; 0 means the model's max_seq_length.
// Texts must be valid UTF-8 (invalid bytes tokenize as U+FFFD).
func (e *Embedder) Embed(ctx context.Context, texts []string, maxLen int) ([]Embedding, error) {
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no texts", ErrInvalid)
	}
	if maxLen == 0 {
		maxLen = e.info.MaxSeqLen
	}
	if maxLen < 2 || maxLen > e.info.MaxSeqLen {
		return nil, fmt.Errorf("%w: max_seq_length %d: want 0 (the model's %d) or 2..%d", ErrInvalid, maxLen, e.info.MaxSeqLen, e.info.MaxSeqLen)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	_, span := tracer().Start(ctx, "embed.tokenize")
	if e.lowerCase {
		lowered := make([]string, len(texts))
		for i, t := range texts {
			lowered[i] = pyLower(t)
		}
		texts = lowered
	}
	enc, _ := e.encs.Get().(*tokenizer.Batch)
	enc = e.tok.EncodeBatch(enc, texts, maxLen)
	items := make([]item, len(texts))
	res := make([]Embedding, len(texts))
	for i := range texts {
		ids, _, types := enc.Row(i)
		n := enc.Lens[i]
		items[i] = item{ids: ids[:n:n], types: types[:n:n]}
		res[i] = Embedding{Tokens: n, Truncated: enc.Truncated[i]}
	}
	span.End()

	submitted := time.Now()
	outs, err := e.batcher.Submit(ctx, items)
	switch {
	case err == nil:
	case errors.Is(err, batcher.ErrQueueFull), errors.Is(err, batcher.ErrClosed):
		e.encs.Put(enc) // nothing was queued
		return nil, err
	default:
		// A batch may still be reading enc's rows; leave enc to the GC.
		return nil, err
	}
	e.encs.Put(enc)
	for i, o := range outs {
		res[i].Vector = o.vec
	}
	traceBatches(ctx, submitted, outs)
	return res, nil
}

// runBatch is the batcher's RunFunc: it runs a batch on an idle session.
func (e *Embedder) runBatch(_ context.Context, items []item) ([]output, error) {
	w := <-e.workers // the batcher runs no more batches than sessions
	defer func() { e.workers <- w }()
	return w.run(items, e.pool, e.normalize)
}

// Close stops taking texts, lets queued and running batches finish, then
// releases the sessions. If ctx ends first the sessions are left open, as
// a batch may still be running on them.
func (e *Embedder) Close(ctx context.Context) error {
	if err := e.batcher.Close(ctx); err != nil {
		return fmt.Errorf("embed: closing: %w", err)
	}
	e.closeSessions()
	return nil
}

func (e *Embedder) closeSessions() {
	for _, w := range e.all {
		if err := w.sess.Close(); err != nil {
			e.logger.Warn("closing ONNX Runtime session", "err", err)
		}
	}
	e.all = nil
}

// worker owns a session and the buffers its batches are packed into.
type worker struct {
	sess             *onnx.Session
	padID            int64
	ids, mask, types []int64
}

// run pads items to the longest, runs them, and pools and normalizes the
// output into one new vector per item.
func (w *worker) run(items []item, mode pooling.Mode, normalize bool) ([]output, error) {
	bt := &batchTrace{size: len(items), start: time.Now()}
	for _, it := range items {
		bt.seqLen = max(bt.seqLen, len(it.ids))
		bt.tokens += len(it.ids)
	}
	rows, seq := len(items), bt.seqLen
	n := rows * seq
	w.ids, w.mask, w.types = grow(w.ids, n), grow(w.mask, n), grow(w.types, n)
	for i, it := range items {
		ids, mask, types := w.ids[i*seq:(i+1)*seq], w.mask[i*seq:(i+1)*seq], w.types[i*seq:(i+1)*seq]
		k := copy(ids, it.ids)
		copy(types, it.types)
		for j := range k {
			mask[j] = 1
		}
		for j := k; j < seq; j++ {
			ids[j], mask[j], types[j] = w.padID, 0, 0
		}
	}
	out, err := w.sess.Run(onnx.Input{Size: rows, SeqLen: seq, IDs: w.ids, AttentionMask: w.mask, TypeIDs: w.types})
	if err != nil {
		return nil, err
	}
	bt.inferred = time.Now()

	dim := w.sess.Graph().Dim
	flat := make([]float32, rows*dim)
	vecs := make([][]float32, rows)
	for i := range vecs {
		vecs[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	if w.sess.Graph().Pooled {
		copy(flat, out[:rows*dim])
	} else {
		mode.Batch(vecs, out, w.mask, seq, dim)
	}
	outs := make([]output, rows)
	for i, v := range vecs {
		if normalize {
			pooling.Normalize(v)
		}
		outs[i] = output{vec: v, batch: bt}
	}
	bt.pooled = time.Now()
	return outs, nil
}

func grow(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}
