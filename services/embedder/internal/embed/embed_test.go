package embed

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/batcher"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/onnx"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() Config {
	return Config{Sessions: 1, IntraOpThreads: 1, MaxBatch: 8, TokenBudget: 8 * 16, MaxWait: time.Millisecond, QueueSize: 64}
}

// load writes the tiny model with edits and loads it.
func load(t *testing.T, spec testmodel.Spec, edits map[string]string, cfg Config, obs batcher.Observer) (*Embedder, *modeldir.Model) {
	t.Helper()
	if err := onnx.Init(testmodel.Library(t)); err != nil {
		t.Fatal(err)
	}
	m, err := modeldir.Load(spec.WriteDir(t, edits), modeldir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Load(context.Background(), m, cfg, obs, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e, m
}

// expect computes by hand what the tiny model, pooled with mode and
// normalized, gives for text.
func expect(spec testmodel.Spec, m *modeldir.Model, text string, maxLen int, mode pooling.Mode) []float64 {
	enc := m.Tokenizer.Encode(text, maxLen)
	dim := len(spec.Token(0, 0))
	v := make([]float64, dim)
	switch mode {
	case pooling.CLS:
		for j, x := range spec.Token(enc.IDs[0], enc.TypeIDs[0]) {
			v[j] = float64(x)
		}
	case pooling.Max:
		for j := range v {
			v[j] = math.Inf(-1)
		}
		for k, id := range enc.IDs {
			for j, x := range spec.Token(id, enc.TypeIDs[k]) {
				v[j] = math.Max(v[j], float64(x))
			}
		}
	default:
		for k, id := range enc.IDs {
			for j, x := range spec.Token(id, enc.TypeIDs[k]) {
				v[j] += float64(x) / float64(len(enc.IDs))
			}
		}
	}
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	for j := range v {
		v[j] /= math.Sqrt(ss)
	}
	return v
}

func maxDiff(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d := 0.0
	for j := range got {
		d = math.Max(d, math.Abs(float64(got[j])-want[j]))
	}
	return d
}

var texts = []string{
	"graph neural networks",
	"",
	"Deep learning for quantum field theory, and the data of the model!",
	"search",
	"a paper on vector search with embed models and graph data and neural networks for learning",
}

func TestEmbedMatchesHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits map[string]string
		mode  pooling.Mode
	}{
		{"mean", nil, pooling.Mean},
		{"cls", map[string]string{"1_Pooling/config.json": `{"word_embedding_dimension": 4, "pooling_mode_cls_token": true}`}, pooling.CLS},
		{"max", map[string]string{"1_Pooling/config.json": `{"word_embedding_dimension": 4, "pooling_mode_max_tokens": true}`}, pooling.Max},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testmodel.Spec{}
			e, m := load(t, spec, tc.edits, testConfig(), nil)
			info := e.Info()
			if info.Dimension != 4 || info.MaxSeqLen != 16 || info.Pooling != tc.mode || info.GraphPools || !info.Normalized ||
				info.Device != "cpu" || info.Provider != onnx.CPUProvider || len(info.SHA256) != 64 || info.VocabSize != len(testmodel.Vocab) {
				t.Errorf("Info = %+v", info)
			}
			// All at once (one padded batch), then one by one.
			all, err := e.Embed(context.Background(), texts, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				one, err := e.Embed(context.Background(), []string{text}, 0)
				if err != nil {
					t.Fatal(err)
				}
				want := expect(spec, m, text, 16, tc.mode)
				if d := maxDiff(all[i].Vector, want); d > 1e-6 {
					t.Errorf("text %d in a batch: %v, want %v", i, all[i].Vector, want)
				}
				if d := maxDiff(one[0].Vector, want); d > 1e-6 {
					t.Errorf("text %d alone: %v, want %v", i, one[0].Vector, want)
				}
				enc := m.Tokenizer.Encode(text, 16)
				if all[i].Tokens != enc.Len() || all[i].Truncated != enc.Truncated {
					t.Errorf("text %d: %d tokens, truncated %v; want %d, %v", i, all[i].Tokens, all[i].Truncated, enc.Len(), enc.Truncated)
				}
			}
		})
	}
}

func TestEmbedTruncation(t *testing.T) {
	spec := testmodel.Spec{}
	e, m := load(t, spec, nil, testConfig(), nil)
	long := texts[4]
	for _, tc := range []struct {
		maxLen, tokens int
		truncated      bool
	}{{0, 16, true}, {16, 16, true}, {5, 5, true}, {2, 2, true}} {
		got, err := e.Embed(context.Background(), []string{long, "search"}, tc.maxLen)
		if err != nil {
			t.Fatal(err)
		}
		short := min(3, tc.tokens) // "search" is [CLS] search [SEP]
		if got[0].Tokens != tc.tokens || got[0].Truncated != tc.truncated || got[1].Tokens != short || got[1].Truncated != (short < 3) {
			t.Errorf("maxLen %d: %+v / %+v", tc.maxLen, got[0], got[1])
		}
		if d := maxDiff(got[0].Vector, expect(spec, m, long, tc.tokens, pooling.Mean)); d > 1e-6 {
			t.Errorf("maxLen %d: vector off by %g", tc.maxLen, d)
		}
	}
	if got, _ := e.Embed(context.Background(), []string{""}, 0); got[0].Tokens != 2 {
		t.Errorf("empty text: %d tokens, want 2 ([CLS] [SEP])", got[0].Tokens)
	}
}

func TestEmbedInvalid(t *testing.T) {
	e, _ := load(t, testmodel.Spec{}, nil, testConfig(), nil)
	for _, tc := range []struct {
		texts  []string
		maxLen int
		want   string
	}{
		{nil, 0, "no texts"},
		{[]string{"a"}, 1, "max_seq_length 1: want 0 (the model's 16) or 2..16"},
		{[]string{"a"}, 17, "max_seq_length 17"},
		{[]string{"a"}, -1, "max_seq_length -1"},
	} {
		_, err := e.Embed(context.Background(), tc.texts, tc.maxLen)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Embed(%q, %d) err = %v, want ErrInvalid saying %q", tc.texts, tc.maxLen, err, tc.want)
		}
	}
}

func TestEmbedGraphPools(t *testing.T) {
	spec := testmodel.Spec{Output: "sentence_embedding", Pooled: true}
	e, m := load(t, spec, nil, testConfig(), nil)
	if info := e.Info(); !info.GraphPools || info.Dimension != 4 {
		t.Errorf("Info = %+v, want the graph pooling", info)
	}
	// The tiny graph's pooling averages every position, so compare a text
	// alone (no padding) with the hand-computed mean.
	for _, text := range texts {
		got, err := e.Embed(context.Background(), []string{text}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got[0].Vector, expect(spec, m, text, 16, pooling.Mean)); d > 1e-6 {
			t.Errorf("%q: off by %g", text, d)
		}
	}
}

func TestEmbedLowerCase(t *testing.T) {
	// "[SEP]" written in a text is the special token, unless
	// do_lower_case lowercases it first, as sentence-transformers does.
	for _, tc := range []struct {
		lower  bool
		tokens int
	}{{false, 3}, {true, 5}} {
		cfg := `{"max_seq_length": 16, "do_lower_case": false}`
		if tc.lower {
			cfg = `{"max_seq_length": 16, "do_lower_case": true}`
		}
		e, _ := load(t, testmodel.Spec{}, map[string]string{"sentence_bert_config.json": cfg}, testConfig(), nil)
		got, err := e.Embed(context.Background(), []string{"[SEP]"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Tokens != tc.tokens {
			t.Errorf("do_lower_case %v: %d tokens, want %d", tc.lower, got[0].Tokens, tc.tokens)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	if err := onnx.Init(testmodel.Library(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spec  testmodel.Spec
		edits map[string]string
		want  string
	}{
		{"dimension mismatch", testmodel.Spec{}, map[string]string{"1_Pooling/config.json": `{"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true}`},
			"outputs dimension 4 but 1_Pooling/config.json says word_embedding_dimension 8"},
		{"dense without a pooled output", testmodel.Spec{}, map[string]string{"modules.json": `[
			{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
			{"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
			{"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]`},
			"lists sentence_transformers.models.Dense"},
		{"graph not an embedder", testmodel.Spec{Output: "logits"}, nil, "graph has none of the outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := modeldir.Load(tc.spec.WriteDir(t, tc.edits), modeldir.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Load(context.Background(), m, testConfig(), nil, quiet()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load err = %v, want %q", err, tc.want)
			}
		})
	}
}

// recorder is a batcher.Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	batches  []batcher.BatchInfo
	rejected int
}

func (r *recorder) BatchDone(b batcher.BatchInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
}
func (r *recorder) QueueDepth(int) {}
func (r *recorder) Rejected(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected += n
}

func TestQueueFullCancelAndClose(t *testing.T) {
	cfg := testConfig()
	cfg.QueueSize = 2
	rec := &recorder{}
	e, _ := load(t, testmodel.Spec{}, nil, cfg, rec)

	if _, err := e.Embed(context.Background(), []string{"a", "b", "c"}, 0); !errors.Is(err, ErrOverloaded) {
		t.Errorf("3 texts with a queue of 2: err = %v, want ErrOverloaded", err)
	}
	if rec.rejected != 3 {
		t.Errorf("observer saw %d rejected texts, want 3", rec.rejected)
	}

	// Hold the only session: a request then waits in the queue until its
	// deadline.
	w := <-e.workers
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.Embed(ctx, []string{"graph"}, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued past the deadline: err = %v, want DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := e.Embed(cctx, []string{"graph"}, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want Canceled", err)
	}
	e.workers <- w

	got, err := e.Embed(context.Background(), []string{"graph", "neural network"}, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("after releasing the session: %v, %v", got, err)
	}
	rec.mu.Lock()
	last := rec.batches[len(rec.batches)-1]
	rec.mu.Unlock()
	if last.Size != 2 || last.Tokens != 3+4 || last.Padded != 2*4 {
		t.Errorf("last batch %+v, want 2 texts, 7 tokens, 8 padded", last)
	}

	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"graph"}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
}

// TestConcurrent embeds from many goroutines through several sessions and
// checks every result (run with -race).
func TestConcurrent(t *testing.T) {
	spec := testmodel.Spec{}
	cfg := testConfig()
	cfg.Sessions = 2
	e, m := load(t, spec, nil, cfg, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 20 {
				text := texts[(g+k)%len(texts)]
				got, err := e.Embed(context.Background(), []string{text, texts[k%len(texts)]}, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if d := maxDiff(got[0].Vector, expect(spec, m, text, 16, pooling.Mean)); d > 1e-6 {
					t.Errorf("%q: off by %g", text, d)
					return
				}
			}
		})
	}
	wg.Wait()
}
