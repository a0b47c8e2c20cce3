package embed

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/testshared"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/onnx"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
)

// goldenLine is one reference embedding of the shared MiniLM-shaped model,
// computed by an independent ONNX Runtime + Hugging Face pipeline (mean
// pooling, L2 normalization, max length 256).
type goldenLine struct {
	ID        string    `json:"id"`
	Text      string    `json:"text"`
	IDs       []int64   `json:"input_ids"`
	Embedding []float32 `json:"embedding"`
}

func readGolden(tb testing.TB, shared string) []goldenLine {
	tb.Helper()
	return testshared.ReadJSONLines[goldenLine](tb, filepath.Join(shared, testmodel.SharedGolden))
}

// loadShared loads the shared MiniLM-shaped model with random weights.
func loadShared(tb testing.TB, cfg Config) (*Embedder, []goldenLine) {
	tb.Helper()
	shared := testmodel.SharedDir(tb)
	if err := onnx.Init(testmodel.Library(tb)); err != nil {
		tb.Fatal(err)
	}
	m, err := modeldir.Load(filepath.Join(shared, testmodel.SharedModel), modeldir.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	e, err := Load(context.Background(), m, cfg, nil, quiet())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return e, readGolden(tb, shared)
}

func sharedConfig() Config {
	return Config{Sessions: 1, IntraOpThreads: 2, MaxBatch: 32, TokenBudget: 32 * 256, QueueSize: 1024}
}

// TestGolden embeds every golden text alone and inside mixed-length
// batches and wants every component within 1e-5 of the reference: one
// wrong token or a pooling that lets padding in moves components by far
// more. With -short it checks every tenth text.
func TestGolden(t *testing.T) {
	// Two single-threaded sessions fed by two clients: the most texts per
	// second on a shared 2-core machine (see docs/benchmarks.md).
	cfg := sharedConfig()
	cfg.Sessions, cfg.IntraOpThreads = 2, 1
	alone := cfg
	alone.MaxBatch = 1 // every batch one text: no padding at all
	single, lines := loadShared(t, alone)
	batched, _ := loadShared(t, cfg)
	if len(lines) != 300 {
		t.Fatalf("%d golden lines, want 300", len(lines))
	}
	if testing.Short() {
		var some []goldenLine
		for i := 0; i < len(lines); i += 10 {
			some = append(some, lines[i])
		}
		lines = some
	}
	if info := batched.Info(); info.Dimension != 384 || info.MaxSeqLen != 256 {
		t.Fatalf("Info = %+v", info)
	}
	const tol = 1e-5
	var mu sync.Mutex
	worst := map[string]float64{}
	check := func(mode string, l goldenLine, got Embedding) {
		if got.Tokens != len(l.IDs) {
			t.Errorf("%s %s: %d tokens, reference has %d", mode, l.ID, got.Tokens, len(l.IDs))
		}
		if len(got.Vector) != len(l.Embedding) {
			t.Errorf("%s %s: dimension %d, want %d", mode, l.ID, len(got.Vector), len(l.Embedding))
			return
		}
		d := 0.0
		for j, x := range got.Vector {
			d = math.Max(d, math.Abs(float64(x)-float64(l.Embedding[j])))
		}
		if d > tol {
			t.Errorf("%s %s: max abs difference %.3g > %g", mode, l.ID, d, tol)
		}
		mu.Lock()
		worst[mode] = math.Max(worst[mode], d)
		mu.Unlock()
	}

	// Requests: each text alone; then requests of 16 texts mixing the
	// shortest and the longest, so most rows are padded.
	var requests [][]goldenLine
	for _, l := range lines {
		requests = append(requests, []goldenLine{l})
	}
	nAlone := len(requests)
	byLen := slices.Clone(lines)
	slices.SortStableFunc(byLen, func(a, b goldenLine) int { return len(a.IDs) - len(b.IDs) })
	var mixed []goldenLine
	for lo, hi := 0, len(byLen)-1; lo <= hi; lo, hi = lo+1, hi-1 {
		mixed = append(mixed, byLen[lo])
		if lo != hi {
			mixed = append(mixed, byLen[hi])
		}
	}
	padded := 0
	for start := 0; start < len(mixed); start += 16 {
		req := mixed[start:min(start+16, len(mixed))]
		longest := 0
		for _, l := range req {
			longest = max(longest, len(l.IDs))
		}
		for _, l := range req {
			if len(l.IDs) < longest {
				padded++
			}
		}
		requests = append(requests, req)
	}

	next := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range next {
				req := requests[i]
				e, mode := single, "alone"
				if i >= nAlone {
					e, mode = batched, "batched"
				}
				texts := make([]string, len(req))
				for k, l := range req {
					texts[k] = l.Text
				}
				got, err := e.Embed(context.Background(), texts, 0)
				if err != nil {
					t.Error(err)
					continue
				}
				for k, l := range req {
					check(mode, l, got[k])
				}
			}
		})
	}
	for i := range requests {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("max abs difference over %d texts: alone %.3g, in mixed-length batches of 16 %.3g (%d texts padded)",
		len(lines), worst["alone"], worst["batched"], padded)
}

// TestGoldenTokens checks the tokenizer against the reference ids, so a
// failure of TestGolden can be told apart from a tokenization difference.
func TestGoldenTokens(t *testing.T) {
	shared := testmodel.SharedDir(t)
	m, err := modeldir.Load(filepath.Join(shared, testmodel.SharedModel), modeldir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range readGolden(t, shared) {
		if got := m.Tokenizer.Encode(l.Text, m.MaxSeqLen); !slices.Equal(got.IDs, l.IDs) {
			t.Errorf("%s: ids differ from the reference", l.ID)
		}
	}
}
