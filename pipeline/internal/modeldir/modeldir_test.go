package modeldir

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/onnx"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
)

var texts = []string{
	"Set-Rationalizable Choice and Self-Stability A common assumption in modern microeconomic theory is that choice should be rationalizable.",
	"The Z1: Architecture and Algorithms of Konrad Zuse's First Computer",
	"",
	"Quantum error-correcting codes $\\alpha$ and \\emph{sets} of alternatives; Schrödinger's café 東京",
	strings.Repeat("graph neural networks for molecules ", 80), // truncated at MaxSeqLen
}

// testModel is a random model over the real tokenizer that drops every
// third token (they map to the zero row).
func testModel(t *testing.T, dim int) *staticmodel.Model {
	t.Helper()
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	m := &staticmodel.Model{Dim: dim, MaxSeqLen: 64, Tok: tok, Map: make([]int32, tok.VocabSize()), Rows: make([]float32, dim)}
	for id := range m.Map {
		if id%3 == 2 {
			continue
		}
		m.Map[id] = int32(m.NumRows())
		for range dim {
			m.Rows = append(m.Rows, float32(r.NormFloat64()*(0.1+r.Float64())))
		}
	}
	return m
}

func TestWriteLoadRoundTrip(t *testing.T) {
	m := testModel(t, 8)
	for _, dt := range []DType{Float32, Float16, Int8} {
		t.Run(string(dt), func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, m, Options{DType: dt, Producer: "test", Metadata: [][2]string{{"k", "v"}}}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{ModelFile, STConfigFile, ModulesFile, PoolingConfig, ConfigFile, "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "NOTICE.tokenizer"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s", f)
				}
			}
			got, info, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := Quantize(m, dt)
			if info.DType != dt || got.Dim != m.Dim || got.MaxSeqLen != m.MaxSeqLen || len(got.Rows) != len(want.Rows) {
				t.Fatalf("loaded %s: dim %d, max len %d, %d values", info.DType, got.Dim, got.MaxSeqLen, len(got.Rows))
			}
			var maxErr float64
			for i := range got.Rows {
				if got.Rows[i] != want.Rows[i] {
					t.Fatalf("row value %d: loaded %v, quantized %v", i, got.Rows[i], want.Rows[i])
				}
				maxErr = max(maxErr, math.Abs(float64(got.Rows[i]-m.Rows[i])))
			}
			limit := map[DType]float64{Float32: 0, Float16: 2e-3, Int8: 0.02}[dt]
			if maxErr > limit {
				t.Errorf("storage error %g > %g", maxErr, limit)
			}
			var pool map[string]any
			b, _ := os.ReadFile(filepath.Join(dir, PoolingConfig))
			if err := json.Unmarshal(b, &pool); err != nil || pool["pooling_mode_mean_tokens"] != true || pool["word_embedding_dimension"] != float64(8) {
				t.Errorf("pooling config %s", b)
			}
		})
	}
}

func TestLoadRejectsForeignGraph(t *testing.T) {
	m := testModel(t, 4)
	dir := t.TempDir()
	if err := Write(dir, m, Options{DType: Float32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ModelFile)
	b, _ := os.ReadFile(path)
	om, err := onnx.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	om.Graph.Nodes[1].OpType = "Identity" // no longer what Write makes
	if err := os.WriteFile(path, om.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "graph node") {
		t.Errorf("Load of a changed graph = %v", err)
	}
	if _, _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
}

var ortOnce sync.Once
var ortErr error

// initORT starts ONNX Runtime from $ONNXRUNTIME_LIB, or skips.
func initORT(t *testing.T) {
	t.Helper()
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("ONNXRUNTIME_LIB is not set (make test sets it after make setup installs ONNX Runtime); skipping the ONNX Runtime round trip")
	}
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("ONNXRUNTIME_LIB=%s: %v; skipping the ONNX Runtime round trip (run make setup)", lib, err)
	}
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment()
	})
	if ortErr != nil {
		t.Fatalf("ONNX Runtime: %v", ortErr)
	}
}

// TestONNXRuntimeMatchesModel runs the exported graph in ONNX Runtime,
// pools its token embeddings the way the embedder does (mean over the
// attention mask, then L2 normalization) and compares with the model's
// own embedding of the same texts.
func TestONNXRuntimeMatchesModel(t *testing.T) {
	initORT(t)
	m := testModel(t, 16)
	for _, dt := range []DType{Float32, Float16, Int8} {
		t.Run(string(dt), func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, m, Options{DType: dt}); err != nil {
				t.Fatal(err)
			}
			loaded, _, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			// The trainer's side: the model as stored, without reading
			// the directory back.
			want, err := Quantize(m, dt).Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, ModelFile)
			ins, outs, err := ort.GetInputOutputInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(ins) != 2 || ins[0].Name != InputIDs || ins[1].Name != AttentionMask || ins[0].DataType != ort.TensorElementDataTypeInt64 ||
				len(ins[0].Dimensions) != 2 || len(outs) != 1 || outs[0].Name != TokenEmbeddings ||
				outs[0].DataType != ort.TensorElementDataTypeFloat || len(outs[0].Dimensions) != 3 || outs[0].Dimensions[2] != 16 {
				t.Fatalf("graph signature: inputs %v outputs %v", ins, outs)
			}
			sess, err := ort.NewDynamicAdvancedSession(path, []string{InputIDs, AttentionMask}, []string{TokenEmbeddings}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Destroy()
			batch := loaded.Tok.EncodeBatch(nil, texts, loaded.MaxSeqLen)
			shape := ort.NewShape(int64(batch.Size), int64(batch.SeqLen))
			ids, err := ort.NewTensor(shape, batch.IDs)
			if err != nil {
				t.Fatal(err)
			}
			defer ids.Destroy()
			mask, err := ort.NewTensor(shape, batch.AttentionMask)
			if err != nil {
				t.Fatal(err)
			}
			defer mask.Destroy()
			outputs := []ort.Value{nil}
			if err := sess.Run([]ort.Value{ids, mask}, outputs); err != nil {
				t.Fatal(err)
			}
			defer outputs[0].Destroy()
			out := outputs[0].(*ort.Tensor[float32])
			if s := out.GetShape(); len(s) != 3 || s[0] != int64(batch.Size) || s[1] != int64(batch.SeqLen) || s[2] != 16 {
				t.Fatalf("output shape %v", s)
			}
			data := out.GetData()
			var maxDiff float64
			for i := range batch.Size {
				pooled := make([]float32, 16)
				n := 0
				for j := range batch.SeqLen {
					if batch.AttentionMask[i*batch.SeqLen+j] == 0 {
						continue
					}
					n++
					vecmath.Add(data[(i*batch.SeqLen+j)*16:(i*batch.SeqLen+j+1)*16], pooled)
				}
				vecmath.Scale(1/float32(n), pooled)
				vecmath.Normalize(pooled)
				for k := range pooled {
					maxDiff = max(maxDiff, math.Abs(float64(pooled[k]-want[i][k])))
				}
			}
			if maxDiff >= 1e-5 {
				t.Errorf("ONNX Runtime vs in-process embedding: max abs diff %g", maxDiff)
			}
			t.Logf("%s: max abs diff %g over %d texts", dt, maxDiff, batch.Size)
		})
	}
}
