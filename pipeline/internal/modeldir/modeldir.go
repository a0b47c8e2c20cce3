// Package modeldir writes and reads a static model as a
// sentence-transformers-style ONNX model directory that the embedder
// serves unchanged:
//
//	model.onnx                 inputs input_ids, attention_mask (int64 [batch, seq]);
//	                           output token_embeddings (float32 [batch, seq, dim])
//	sentence_bert_config.json  max_seq_length
//	modules.json               Transformer, Pooling (mean), Normalize
//	1_Pooling/config.json      mean pooling
//	config.json                model type, dimension, vocabulary size
//	vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
//	NOTICE.tokenizer           attribution of the tokenizer files
//
// The graph maps token ids to table rows with a Gather on an int32 map
// (tokens the model dropped go to row 0, all zeros), then gathers the
// rows from the table, stored as float32, float16 (then Cast) or int8
// with one float32 scale per row (Cast, then Mul by the gathered scale).
// The embedder's mean pooling over the attention mask and normalization
// then give exactly the model's embedding.
package modeldir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/onnx"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// DType is how the table is stored in model.onnx.
type DType string

const (
	Float32 DType = "float32"
	Float16 DType = "float16"
	Int8    DType = "int8"
)

// ParseDType parses a -dtype value.
func ParseDType(s string) (DType, error) {
	switch d := DType(s); d {
	case Float32, Float16, Int8:
		return d, nil
	}
	return "", fmt.Errorf("unknown dtype %q (want float32, float16 or int8)", s)
}

// Graph tensor names.
const (
	InputIDs        = "input_ids"
	AttentionMask   = "attention_mask"
	TokenEmbeddings = "token_embeddings"
	tokenMap        = "token_map"
	embeddings      = "embeddings"
	rowScales       = "row_scales"
)

// Files written besides model.onnx and the tokenizer.
const (
	ModelFile     = "model.onnx"
	STConfigFile  = "sentence_bert_config.json"
	ModulesFile   = "modules.json"
	PoolingConfig = "1_Pooling/config.json"
	ConfigFile    = "config.json"
)

// Opset and IR version of the written model.
const (
	Opset     = 17
	IRVersion = 8
)

// Options configure Write.
type Options struct {
	DType DType
	// Producer is recorded in the model (program and version).
	Producer string
	// Metadata is added to the model's metadata_props.
	Metadata [][2]string
	// TokenizerDir holds the tokenizer files to ship (those the model's
	// tokenizer was loaded from); empty means the embedded BERT uncased
	// tokenizer.
	TokenizerDir string
}

// Quantize returns the table m would have after storing it as dt: the
// values the ONNX graph computes, as float32 (rows are unchanged for
// float32).
func Quantize(m *staticmodel.Model, dt DType) *staticmodel.Model {
	q := *m
	tensors := tableTensors(m, dt)
	q.Rows = dequantize(tensors, m.Dim)
	return &q
}

// tableTensors stores the table as dt.
func tableTensors(m *staticmodel.Model, dt DType) []onnx.Tensor {
	rows := int64(m.NumRows())
	dims := []int64{rows, int64(m.Dim)}
	switch dt {
	case Float16:
		bits := make([]uint16, len(m.Rows))
		for i, v := range m.Rows {
			bits[i] = onnx.FloatToHalf(v)
		}
		return []onnx.Tensor{onnx.Float16Tensor(embeddings, dims, bits)}
	case Int8:
		q := make([]int8, len(m.Rows))
		scales := make([]float32, rows)
		for r := range int(rows) {
			row := m.Rows[r*m.Dim : (r+1)*m.Dim]
			var mx float32
			for _, v := range row {
				mx = max(mx, float32(math.Abs(float64(v))))
			}
			if mx == 0 {
				continue
			}
			s := mx / 127
			scales[r] = s
			for i, v := range row {
				x := math.Round(float64(v / s))
				q[r*m.Dim+i] = int8(max(-127, min(127, x)))
			}
		}
		return []onnx.Tensor{onnx.Int8Tensor(embeddings, dims, q), onnx.FloatTensor(rowScales, []int64{rows, 1}, scales)}
	}
	return []onnx.Tensor{onnx.FloatTensor(embeddings, dims, m.Rows)}
}

// dequantize computes the float32 table the graph produces from the
// table tensors: the float32 values; float16 cast to float32; int8 cast
// to float32 times the row's scale (one float32 multiply, as Mul does).
func dequantize(tensors []onnx.Tensor, dim int) []float32 {
	emb, _ := tensors[0].Floats()
	if tensors[0].Type == onnx.Int8 {
		scales, _ := tensors[1].Floats()
		for r, s := range scales {
			row := emb[r*dim : (r+1)*dim]
			for i := range row {
				row[i] *= s
			}
		}
	}
	return emb
}

// graphFor builds the graph of a table stored as dt.
func graphFor(m *staticmodel.Model, dt DType) onnx.Graph {
	seqShape := []onnx.Dim{{Param: "batch"}, {Param: "sequence"}}
	g := onnx.Graph{
		Name: "static_embedding",
		Inputs: []onnx.ValueInfo{
			{Name: InputIDs, Type: onnx.Int64, Shape: seqShape},
			// Not used by the graph: the embedder pools with it.
			{Name: AttentionMask, Type: onnx.Int64, Shape: seqShape},
		},
		Outputs: []onnx.ValueInfo{
			{Name: TokenEmbeddings, Type: onnx.Float, Shape: append(slices.Clone(seqShape), onnx.Dim{Value: int64(m.Dim)})},
		},
		Initializers: append([]onnx.Tensor{onnx.Int32Tensor(tokenMap, []int64{int64(len(m.Map))}, m.Map)}, tableTensors(m, dt)...),
	}
	gather := func(name, data, idx, out string) onnx.Node {
		return onnx.Node{Name: name, OpType: "Gather", Inputs: []string{data, idx}, Outputs: []string{out}, Attrs: []onnx.Attribute{onnx.IntAttr("axis", 0)}}
	}
	cast := func(name, in, out string) onnx.Node {
		return onnx.Node{Name: name, OpType: "Cast", Inputs: []string{in}, Outputs: []string{out}, Attrs: []onnx.Attribute{onnx.IntAttr("to", int64(onnx.Float))}}
	}
	g.Nodes = append(g.Nodes, gather("map_tokens", tokenMap, InputIDs, "rows"))
	switch dt {
	case Float32:
		g.Nodes = append(g.Nodes, gather("gather_rows", embeddings, "rows", TokenEmbeddings))
	case Float16:
		g.Nodes = append(g.Nodes, gather("gather_rows", embeddings, "rows", "rows_f16"), cast("to_float", "rows_f16", TokenEmbeddings))
	case Int8:
		g.Nodes = append(g.Nodes,
			gather("gather_rows", embeddings, "rows", "rows_i8"),
			cast("to_float", "rows_i8", "rows_q"),
			gather("gather_scales", rowScales, "rows", "scales"),
			onnx.Node{Name: "dequantize", OpType: "Mul", Inputs: []string{"rows_q", "scales"}, Outputs: []string{TokenEmbeddings}},
		)
	}
	return g
}

// Write writes m as a model directory in dir (created if needed).
func Write(dir string, m *staticmodel.Model, opts Options) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if opts.DType == "" {
		opts.DType = Float32
	}
	if err := os.MkdirAll(filepath.Join(dir, "1_Pooling"), 0o755); err != nil {
		return fmt.Errorf("model directory: %w", err)
	}
	model := onnx.Model{
		IRVersion:       IRVersion,
		Opset:           Opset,
		ProducerName:    "arxivsearch",
		ProducerVersion: opts.Producer,
		DocString:       "Static token embeddings (sentence-transformers StaticEmbedding layout): pool token_embeddings by the mean over attention_mask, then L2-normalize.",
		Graph:           graphFor(m, opts.DType),
		Metadata:        append([][2]string{{"dtype", string(opts.DType)}}, opts.Metadata...),
	}
	if err := writeFile(filepath.Join(dir, ModelFile), model.Marshal()); err != nil {
		return err
	}
	if opts.TokenizerDir != "" {
		if err := assets.CopyTokenizer(opts.TokenizerDir, dir); err != nil {
			return err
		}
	} else if err := assets.WriteTokenizer(dir); err != nil {
		return err
	}
	files := map[string]any{
		STConfigFile: map[string]any{"max_seq_length": m.MaxSeqLen, "do_lower_case": false},
		ModulesFile: []map[string]any{
			{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
			{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
			{"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
		},
		PoolingConfig: map[string]any{
			"word_embedding_dimension":          m.Dim,
			"pooling_mode_cls_token":            false,
			"pooling_mode_mean_tokens":          true,
			"pooling_mode_max_tokens":           false,
			"pooling_mode_mean_sqrt_len_tokens": false,
		},
		ConfigFile: map[string]any{
			"architectures": []string{"StaticEmbedding"},
			"model_type":    "static-embedding",
			"hidden_size":   m.Dim,
			"vocab_size":    len(m.Map),
			"pad_token_id":  0,
			"table_rows":    m.NumRows(),
			"table_dtype":   string(opts.DType),
			"onnx_output":   TokenEmbeddings,
		},
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, name), append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ModelPath returns the model.onnx of dir (at the top or under onnx/).
func ModelPath(dir string) (string, error) {
	for _, p := range []string{filepath.Join(dir, ModelFile), filepath.Join(dir, "onnx", ModelFile)} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("model directory %s: no model.onnx (or onnx/model.onnx)", dir)
}

// Info describes a loaded model directory.
type Info struct {
	DType    DType
	Bytes    int64 // size of model.onnx
	Metadata [][2]string
}

// Load reads a model directory written by Write. It checks that the
// graph is exactly the one Write makes for the stored table, so the
// returned model computes what the embedder serves.
func Load(dir string) (*staticmodel.Model, *Info, error) {
	path, err := ModelPath(dir)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	om, err := onnx.Unmarshal(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	tm, ok := om.Graph.Initializer(tokenMap)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a static embedding model (no %s initializer)", path, tokenMap)
	}
	mp, err := tm.Int32s()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	emb, ok := om.Graph.Initializer(embeddings)
	if !ok || len(emb.Dims) != 2 {
		return nil, nil, fmt.Errorf("%s: no 2-d %s initializer", path, embeddings)
	}
	if err := emb.Check(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	tensors := []onnx.Tensor{*emb}
	var dt DType
	switch emb.Type {
	case onnx.Float:
		dt = Float32
	case onnx.Float16:
		dt = Float16
	case onnx.Int8:
		dt = Int8
		sc, ok := om.Graph.Initializer(rowScales)
		if !ok {
			return nil, nil, fmt.Errorf("%s: int8 table without %s", path, rowScales)
		}
		if err := sc.Check(); err != nil || sc.NumElements() != emb.Dims[0] {
			return nil, nil, fmt.Errorf("%s: %s does not match the table", path, rowScales)
		}
		tensors = append(tensors, *sc)
	default:
		return nil, nil, fmt.Errorf("%s: table element type %d", path, emb.Type)
	}
	m := &staticmodel.Model{Dim: int(emb.Dims[1]), Map: mp, Rows: dequantize(tensors, int(emb.Dims[1]))}
	if err := sameGraph(om.Graph, graphFor(m, dt)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var st struct {
		MaxSeqLength int `json:"max_seq_length"`
	}
	if err := readJSON(filepath.Join(dir, STConfigFile), &st); err != nil {
		return nil, nil, err
	}
	if st.MaxSeqLength <= 0 {
		return nil, nil, fmt.Errorf("%s: max_seq_length %d", STConfigFile, st.MaxSeqLength)
	}
	m.MaxSeqLen = st.MaxSeqLength
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	m.Tok = tok
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, &Info{DType: dt, Bytes: int64(len(b)), Metadata: om.Metadata}, nil
}

// sameGraph compares the nodes, inputs and outputs of two graphs.
func sameGraph(got, want onnx.Graph) error {
	if len(got.Nodes) != len(want.Nodes) {
		return fmt.Errorf("graph has %d nodes, a static model of this table has %d", len(got.Nodes), len(want.Nodes))
	}
	for i, n := range want.Nodes {
		g := got.Nodes[i]
		if g.OpType != n.OpType || !slices.Equal(g.Inputs, n.Inputs) || !slices.Equal(g.Outputs, n.Outputs) {
			return fmt.Errorf("graph node %d is %s%v->%v, want %s%v->%v", i, g.OpType, g.Inputs, g.Outputs, n.OpType, n.Inputs, n.Outputs)
		}
	}
	names := func(vs []onnx.ValueInfo) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	if !slices.Equal(names(got.Inputs), names(want.Inputs)) || !slices.Equal(names(got.Outputs), names(want.Outputs)) {
		return fmt.Errorf("graph inputs %v outputs %v, want %v and %v", names(got.Inputs), names(got.Outputs), names(want.Inputs), names(want.Outputs))
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("model directory: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
