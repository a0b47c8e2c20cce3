package modeldir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
)

func TestLoadTiny(t *testing.T) {
	dir := testmodel.Spec{}.WriteDir(t, nil)
	m, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Model{
		Dir: dir, Name: "tiny-model", ONNXPath: filepath.Join(dir, "model.onnx"),
		MaxSeqLen: 16, MaxSeqLenSource: "sentence_bert_config.json", MaxPositions: 64,
		Pooling: pooling.Mean, PoolingSource: "1_Pooling/config.json", Dim: 4, Normalize: true,
	}
	got := *m
	got.Tokenizer = nil
	if !equalModel(got, want) {
		t.Errorf("Load = %+v\nwant   %+v", got, want)
	}
	if m.Tokenizer == nil || m.Tokenizer.VocabSize() != len(testmodel.Vocab) || !m.Tokenizer.Lowercase() {
		t.Errorf("tokenizer not loaded from vocab.txt and tokenizer_config.json")
	}
}

func equalModel(a, b Model) bool {
	return a.Dir == b.Dir && a.Name == b.Name && a.ONNXPath == b.ONNXPath && a.MaxSeqLen == b.MaxSeqLen &&
		a.MaxSeqLenSource == b.MaxSeqLenSource && a.MaxPositions == b.MaxPositions && a.LowerCase == b.LowerCase &&
		a.Pooling == b.Pooling && a.PoolingSource == b.PoolingSource && a.Dim == b.Dim && a.Normalize == b.Normalize &&
		slices.Equal(a.AfterPooling, b.AfterPooling)
}

func pool(modes ...string) string {
	s := `{"word_embedding_dimension": 4`
	for _, m := range []string{"cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"} {
		s += `, "pooling_mode_` + m + `": ` + map[bool]string{true: "true", false: "false"}[slices.Contains(modes, m)]
	}
	return s + "}"
}

func modules(kinds ...string) string {
	var parts []string
	for i, k := range kinds {
		path := ""
		switch k {
		case "Pooling":
			path = "1_Pooling"
		case "Dense":
			path = "2_Dense"
		}
		parts = append(parts, `{"idx": `+string(rune('0'+i))+`, "name": "`+string(rune('0'+i))+`", "path": "`+path+`", "type": "sentence_transformers.models.`+k+`"}`)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// TestLoadVariants covers what the files may say, and what they must not.
func TestLoadVariants(t *testing.T) {
	tests := []struct {
		name    string
		edits   map[string]string
		opts    Options
		check   func(t *testing.T, m *Model)
		wantErr []string // substrings of the error
	}{
		{name: "onnx subdirectory", edits: map[string]string{"model.onnx": "", "onnx/model.onnx": "<model>"},
			check: func(t *testing.T, m *Model) { wantSuffix(t, m.ONNXPath, "onnx/model.onnx") }},
		{name: "onnx subdirectory preferred", edits: map[string]string{"onnx/model.onnx": "<model>"},
			check: func(t *testing.T, m *Model) { wantSuffix(t, m.ONNXPath, "onnx/model.onnx") }},
		{name: "chosen onnx file", edits: map[string]string{"onnx/model_quint8.onnx": "<model>"}, opts: Options{ONNXFile: "onnx/model_quint8.onnx"},
			check: func(t *testing.T, m *Model) { wantSuffix(t, m.ONNXPath, "onnx/model_quint8.onnx") }},
		{name: "no onnx", edits: map[string]string{"model.onnx": ""},
			wantErr: []string{"has no ONNX model: onnx/model.onnx nor model.onnx not found"}},
		{name: "chosen onnx file missing", opts: Options{ONNXFile: "onnx/model_O4.onnx"},
			wantErr: []string{"onnx/model_O4.onnx not found"}},
		{name: "no tokenizer", edits: map[string]string{"vocab.txt": ""},
			wantErr: []string{"neither tokenizer.json nor vocab.txt"}},
		{name: "no modules.json: mean pooling, not normalized", edits: map[string]string{"modules.json": "", "1_Pooling/config.json": ""},
			check: func(t *testing.T, m *Model) {
				if m.Pooling != pooling.Mean || m.Normalize || !strings.Contains(m.PoolingSource, "no modules.json") {
					t.Errorf("pooling %v from %q, normalize %v", m.Pooling, m.PoolingSource, m.Normalize)
				}
			}},
		{name: "cls", edits: map[string]string{"1_Pooling/config.json": pool("cls_token")},
			check: func(t *testing.T, m *Model) { wantPooling(t, m, pooling.CLS) }},
		{name: "max", edits: map[string]string{"1_Pooling/config.json": pool("max_tokens")},
			check: func(t *testing.T, m *Model) { wantPooling(t, m, pooling.Max) }},
		{name: "mean_sqrt_len", edits: map[string]string{"1_Pooling/config.json": pool("mean_sqrt_len_tokens")},
			wantErr: []string{"1_Pooling/config.json", "pooling_mode_mean_sqrt_len_tokens is not supported"}},
		{name: "weightedmean", edits: map[string]string{"1_Pooling/config.json": pool("weightedmean_tokens")},
			wantErr: []string{"1_Pooling/config.json", "pooling_mode_weightedmean_tokens is not supported"}},
		{name: "combined modes", edits: map[string]string{"1_Pooling/config.json": pool("cls_token", "mean_tokens")},
			wantErr: []string{"1_Pooling/config.json", "pooling_mode_cls_token and pooling_mode_mean_tokens together"}},
		{name: "no mode", edits: map[string]string{"1_Pooling/config.json": pool()},
			wantErr: []string{"1_Pooling/config.json enables no pooling mode"}},
		{name: "pooling config missing", edits: map[string]string{"1_Pooling/config.json": ""},
			wantErr: []string{"1_Pooling/config.json is missing"}},
		{name: "pooling config broken", edits: map[string]string{"1_Pooling/config.json": "{"},
			wantErr: []string{"1_Pooling/config.json: unexpected end of JSON input"}},
		{name: "modules.json broken", edits: map[string]string{"modules.json": `{"idx": 0}`},
			wantErr: []string{"modules.json: json: cannot unmarshal"}},
		{name: "no pooling module", edits: map[string]string{"modules.json": modules("Transformer")},
			wantErr: []string{"modules.json has no sentence_transformers.models.Pooling module"}},
		{name: "pooling first", edits: map[string]string{"modules.json": modules("Pooling", "Transformer")},
			wantErr: []string{"first module is sentence_transformers.models.Pooling"}},
		{name: "normalize before pooling", edits: map[string]string{"modules.json": modules("Transformer", "Normalize", "Pooling")},
			wantErr: []string{"module sentence_transformers.models.Normalize comes before any Pooling module"}},
		{name: "without normalize", edits: map[string]string{"modules.json": modules("Transformer", "Pooling")},
			check: func(t *testing.T, m *Model) {
				if m.Normalize {
					t.Error("Normalize without a Normalize module")
				}
			}},
		{name: "dense after pooling", edits: map[string]string{"modules.json": modules("Transformer", "Pooling", "Dense", "Normalize")},
			check: func(t *testing.T, m *Model) {
				if !m.Normalize || len(m.AfterPooling) != 1 || !strings.Contains(m.AfterPooling[0], "Dense") {
					t.Errorf("normalize %v, after pooling %v; want true and the Dense module", m.Normalize, m.AfterPooling)
				}
			}},
		{name: "normalize then dense", edits: map[string]string{"modules.json": modules("Transformer", "Pooling", "Normalize", "Dense")},
			check: func(t *testing.T, m *Model) {
				if m.Normalize || len(m.AfterPooling) != 2 {
					t.Errorf("normalize %v, after pooling %v; want false and two modules", m.Normalize, m.AfterPooling)
				}
			}},
		{name: "max_seq_length override", opts: Options{MaxSeqLen: 8, MaxSeqLenSource: "flag -max-seq-length"},
			check: func(t *testing.T, m *Model) { wantMaxLen(t, m, 8, "flag -max-seq-length") }},
		{name: "max_seq_length from the model's positions", edits: map[string]string{"sentence_bert_config.json": ""},
			check: func(t *testing.T, m *Model) { wantMaxLen(t, m, 64, "config.json max_position_embeddings") }},
		{name: "max_seq_length from the tokenizer", edits: map[string]string{"sentence_bert_config.json": `{}`,
			"tokenizer_config.json": `{"do_lower_case": true, "model_max_length": 32}`},
			check: func(t *testing.T, m *Model) { wantMaxLen(t, m, 32, "tokenizer_config.json model_max_length") }},
		{name: "tokenizer without limit", edits: map[string]string{"sentence_bert_config.json": `{}`, "config.json": `{}`,
			"tokenizer_config.json": `{"do_lower_case": true, "model_max_length": 1000000000000000019884624838656}`},
			wantErr: []string{"no max_seq_length"}},
		{name: "max_seq_length beyond positions", opts: Options{MaxSeqLen: 65, MaxSeqLenSource: "flag -max-seq-length"},
			wantErr: []string{"max_seq_length 65 (from flag -max-seq-length) exceeds config.json max_position_embeddings 64"}},
		{name: "max_seq_length too small", edits: map[string]string{"sentence_bert_config.json": `{"max_seq_length": 1}`},
			wantErr: []string{"max_seq_length 1 (from sentence_bert_config.json): want at least 2"}},
		{name: "do_lower_case", edits: map[string]string{"sentence_bert_config.json": `{"max_seq_length": 16, "do_lower_case": true}`},
			check: func(t *testing.T, m *Model) {
				if !m.LowerCase {
					t.Error("LowerCase false")
				}
			}},
		{name: "name override", opts: Options{Name: "acme/embedder-v2"},
			check: func(t *testing.T, m *Model) {
				if m.Name != "acme/embedder-v2" {
					t.Errorf("Name = %q", m.Name)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testmodel.Spec{}.WriteDir(t, tc.edits)
			m, err := Load(dir, tc.opts)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one saying %q", tc.wantErr)
				}
				for _, w := range append(tc.wantErr, dir) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v\nwant it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func wantSuffix(t *testing.T, path, suffix string) {
	t.Helper()
	if !strings.HasSuffix(filepath.ToSlash(path), "/"+suffix) {
		t.Errorf("ONNXPath = %s, want .../%s", path, suffix)
	}
}

func wantPooling(t *testing.T, m *Model, p pooling.Mode) {
	t.Helper()
	if m.Pooling != p {
		t.Errorf("Pooling = %v, want %v", m.Pooling, p)
	}
}

func wantMaxLen(t *testing.T, m *Model, n int, source string) {
	t.Helper()
	if m.MaxSeqLen != n || m.MaxSeqLenSource != source {
		t.Errorf("MaxSeqLen = %d from %q, want %d from %q", m.MaxSeqLen, m.MaxSeqLenSource, n, source)
	}
}

func TestLoadNotADirectory(t *testing.T) {
	dir := testmodel.Spec{}.WriteDir(t, nil)
	if _, err := Load(filepath.Join(dir, "model.onnx"), Options{}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("err = %v, want not a directory", err)
	}
	if _, err := Load(filepath.Join(dir, "absent"), Options{}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("err = %v, want one naming the missing directory", err)
	}
}

func TestNameOf(t *testing.T) {
	commit := strings.Repeat("0123456789", 4)
	tests := []struct{ dir, want string }{
		{"/models/minilm-l6-random", "minilm-l6-random"},
		{"/home/u/.cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/" + commit, "sentence-transformers/all-MiniLM-L6-v2"},
		{"/cache/arxivsearch/models/BAAI--bge-small-en-v1.5/" + commit, "BAAI/bge-small-en-v1.5"},
		{"/cache/x/" + commit, commit},
	}
	for _, tc := range tests {
		if got := nameOf(tc.dir); got != tc.want {
			t.Errorf("nameOf(%s) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}

func TestFileSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("FileSHA256 = %s, want %s", got, want)
	}
}

// TestLoadShared loads the shared MiniLM-shaped model directory.
func TestLoadShared(t *testing.T) {
	dir := filepath.Join(testmodel.SharedDir(t), testmodel.SharedModel)
	m, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "minilm-l6-random" || m.MaxSeqLen != 256 || m.MaxSeqLenSource != "sentence_bert_config.json" ||
		m.Pooling != pooling.Mean || !m.Normalize || m.Dim != 384 || m.LowerCase || m.Tokenizer.VocabSize() != 30522 {
		t.Errorf("shared model: %+v", *m)
	}
}
