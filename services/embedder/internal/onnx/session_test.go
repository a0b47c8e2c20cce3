package onnx

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
)

func initORT(t testing.TB) {
	t.Helper()
	if err := Init(testmodel.Library(t)); err != nil {
		t.Fatal(err)
	}
}

func writeModel(t *testing.T, spec testmodel.Spec) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, spec.Model(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInitTwice(t *testing.T) {
	lib := testmodel.Library(t)
	initORT(t)
	if err := Init(lib); err != nil {
		t.Errorf("second Init with the same library: %v", err)
	}
	if err := Init(lib + ".other"); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("Init with another library: err = %v, want already loaded", err)
	}
	if v := Version(); v == "" {
		t.Error("Version is empty")
	}
}

func TestInspect(t *testing.T) {
	initORT(t)
	tests := []struct {
		name    string
		spec    testmodel.Spec
		want    Graph
		wantErr string
	}{
		{name: "bert", spec: testmodel.Spec{},
			want: Graph{Inputs: []string{InputIDs, AttentionMask, TokenTypeIDs}, TypeIDs: true, Output: LastHiddenState, Dim: 4}},
		{name: "no token types", spec: testmodel.Spec{Inputs: []testmodel.Input{{Name: "input_ids"}, {Name: "attention_mask"}}, Output: "token_embeddings", Dim: 6},
			want: Graph{Inputs: []string{InputIDs, AttentionMask}, Output: TokenEmbeddings, Dim: 6}},
		{name: "pooled", spec: testmodel.Spec{Output: "sentence_embedding", Pooled: true},
			want: Graph{Inputs: []string{InputIDs, AttentionMask, TokenTypeIDs}, TypeIDs: true, Output: SentenceEmbedding, Pooled: true, Dim: 4}},
		{name: "extra input", spec: testmodel.Spec{Inputs: []testmodel.Input{{Name: "input_ids"}, {Name: "attention_mask"}, {Name: "position_ids"}}},
			wantErr: `graph input "position_ids" is not supported`},
		{name: "int32 ids", spec: testmodel.Spec{Inputs: []testmodel.Input{{Name: "input_ids", Type: testmodel.Int32}, {Name: "attention_mask"}}},
			wantErr: "graph input input_ids: want an int64 tensor"},
		{name: "no mask", spec: testmodel.Spec{Inputs: []testmodel.Input{{Name: "input_ids"}, {Name: "token_type_ids"}}},
			wantErr: "graph has no attention_mask input (inputs: input_ids, token_type_ids)"},
		{name: "unknown output", spec: testmodel.Spec{Output: "logits"},
			wantErr: "graph has none of the outputs sentence_embedding, token_embeddings or last_hidden_state (outputs: logits)"},
		{name: "pooled output of rank 3", spec: testmodel.Spec{Output: "sentence_embedding"},
			wantErr: "graph output sentence_embedding: want a float32 tensor [batch, dim]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeModel(t, tc.spec)
			g, err := Inspect(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalGraph(g, tc.want) {
				t.Errorf("graph = %+v, want %+v", g, tc.want)
			}
		})
	}
	if _, err := Inspect(filepath.Join(t.TempDir(), "absent.onnx")); err == nil {
		t.Error("Inspect of a missing file: no error")
	}
}

func equalGraph(a, b Graph) bool {
	return strings.Join(a.Inputs, ",") == strings.Join(b.Inputs, ",") && a.TypeIDs == b.TypeIDs &&
		a.Output == b.Output && a.Pooled == b.Pooled && a.Dim == b.Dim
}

// TestRun checks the session's output against the tiny model's formula,
// including a padding position.
func TestRun(t *testing.T) {
	initORT(t)
	for _, discover := range []bool{false, true} {
		spec := testmodel.Spec{Dim: 3}
		path := writeModel(t, spec)
		g, err := Inspect(path)
		if err != nil {
			t.Fatal(err)
		}
		if discover {
			g.Dim = 0 // as for a graph that names its output dimension symbolically
		}
		s, err := NewSession(path, g, Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Device() != "cpu" || s.Provider() != CPUProvider {
			t.Errorf("device %s, provider %s; want cpu, %s", s.Device(), s.Provider(), CPUProvider)
		}
		// Two rows: [2 21 3] and [2 3 PAD].
		in := Input{Size: 2, SeqLen: 3,
			IDs:           []int64{2, 21, 3, 2, 3, 0},
			AttentionMask: []int64{1, 1, 1, 1, 1, 0},
			TypeIDs:       []int64{0, 1, 0, 0, 0, 0},
		}
		for run := range 2 { // the second run reuses the buffers
			out, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			dim := s.Graph().Dim
			if dim != spec.Dim {
				t.Fatalf("Dim after run = %d, want %d", dim, spec.Dim)
			}
			if len(out) != 2*3*dim {
				t.Fatalf("run %d: %d values, want %d", run, len(out), 2*3*dim)
			}
			for pos := range 6 {
				want := spec.Token(in.IDs[pos], in.TypeIDs[pos])
				if in.AttentionMask[pos] == 0 {
					w, ty := spec.Words(0), spec.Types(0)
					for j := range want {
						want[j] = w[j] + ty[j]
					}
				}
				for j := range dim {
					if got := out[pos*dim+j]; math.Abs(float64(got-want[j])) > 1e-6 {
						t.Fatalf("run %d position %d: got %v, want %v", run, pos, out[pos*dim:pos*dim+dim], want)
					}
				}
			}
		}
	}
}

func TestRunRejectsShortInput(t *testing.T) {
	initORT(t)
	path := writeModel(t, testmodel.Spec{})
	g, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(path, g, Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(Input{Size: 2, SeqLen: 2, IDs: []int64{1, 2, 3}, AttentionMask: []int64{1, 1, 1, 1}, TypeIDs: make([]int64, 4)}); err == nil {
		t.Error("Run with 3 ids for 2×2: no error")
	}
}

// TestCUDAFallback asks for CUDA from a library built without it (the one
// make setup installs) and wants a CPU session and a warning saying so.
func TestCUDAFallback(t *testing.T) {
	initORT(t)
	path := writeModel(t, testmodel.Spec{})
	g, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"cuda", "auto"} {
		d, err := ParseDevice(dev)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		s, err := NewSession(path, g, Options{IntraOpThreads: 1, Device: d, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("%s: %v", dev, err)
		}
		if s.Provider() == CUDAProvider {
			s.Close()
			t.Skipf("this ONNX Runtime and host run CUDA: no fallback to test")
		}
		if s.Device() != "cpu" || s.Provider() != CPUProvider {
			t.Errorf("%s: device %s, provider %s; want the CPU", dev, s.Device(), s.Provider())
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "CUDA execution provider unavailable") {
			t.Errorf("%s: no fallback warning in logs:\n%s", dev, logs.String())
		}
		if _, err := s.Run(Input{Size: 1, SeqLen: 2, IDs: []int64{2, 3}, AttentionMask: []int64{1, 1}, TypeIDs: []int64{0, 0}}); err != nil {
			t.Errorf("%s: run after fallback: %v", dev, err)
		}
		s.Close()
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want Device
		err  bool
	}{
		{"cpu", Device{Kind: CPU}, false},
		{"CUDA", Device{Kind: CUDA}, false},
		{"cuda:2", Device{Kind: CUDA, ID: 2}, false},
		{"auto", Device{Kind: Auto}, false},
		{"cuda:-1", Device{}, true},
		{"cuda:x", Device{}, true},
		{"gpu", Device{}, true},
		{"", Device{}, true},
	}
	for _, tc := range tests {
		got, err := ParseDevice(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
