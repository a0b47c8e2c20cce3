// Package testmodel writes tiny model directories for tests: a hand-encoded
// ONNX graph shaped like a BERT export, with a small WordPiece vocabulary
// and sentence-transformers configuration files beside it.
//
// The graph is simple enough that a test can compute its output by hand:
// a real token's embedding (attention mask 1) is
//
//	Words[id] + Types[typeID] + MaskBias
//
// and a padding position (mask 0) lacks MaskBias, so a pooling that let
// padding in would show. It runs on ONNX Runtime like any exported model,
// so tests can exercise the whole embedder without the shared model files.
package testmodel

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Vocab is the tokenizer vocabulary, in id order.
var Vocab = []string{
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
	".", ",", "-", "!", "?", "'", "(", ")",
	"a", "the", "of", "and", "in", "for", "on", "with",
	"graph", "neural", "network", "deep", "learning", "quantum", "field",
	"theory", "model", "data", "search", "paper", "vector", "embed",
	"##s", "##ing", "##ed", "##er",
}

// Element types of ONNX tensors used here.
const (
	Float = 1
	Int32 = 6
	Int64 = 7
)

// Input is a graph input.
type Input struct {
	Name string
	Type int // element type; 0 means Int64
}

// Spec describes the graph.
type Spec struct {
	// Inputs default to input_ids, attention_mask and token_type_ids.
	// Any input other than those three is declared but unused.
	Inputs []Input
	// Output is the output's name; default "last_hidden_state".
	Output string
	// Pooled makes the output [batch, dim], the mean over every position
	// (padding included), like a graph with its own pooling.
	Pooled bool
	// Dim is the embedding dimension; default 4.
	Dim int
}

func (s Spec) withDefaults() Spec {
	if s.Inputs == nil {
		s.Inputs = []Input{{Name: "input_ids"}, {Name: "attention_mask"}, {Name: "token_type_ids"}}
	}
	if s.Output == "" {
		s.Output = "last_hidden_state"
	}
	if s.Dim == 0 {
		s.Dim = 4
	}
	return s
}

// Words returns the word embedding of token id.
func (s Spec) Words(id int64) []float32 {
	s = s.withDefaults()
	v := make([]float32, s.Dim)
	for j := range v {
		v[j] = float32(math.Sin(float64(id)*1.3+float64(j)*0.7)) * float32(1+j%3)
	}
	return v
}

// Types returns the token type embedding of type id t.
func (s Spec) Types(t int64) []float32 {
	s = s.withDefaults()
	v := make([]float32, s.Dim)
	for j := range v {
		v[j] = 0.25 * float32(t+1) * float32(j%2*2-1)
	}
	return v
}

// MaskBias is added to the positions whose attention mask is 1.
func (s Spec) MaskBias() []float32 {
	s = s.withDefaults()
	v := make([]float32, s.Dim)
	for j := range v {
		v[j] = 0.5 + float32(j)/8
	}
	return v
}

// Token returns the graph's output at a real (unmasked) position, computed
// in the order the graph computes it.
func (s Spec) Token(id, typeID int64) []float32 {
	w, t, m := s.Words(id), s.Types(typeID), s.MaskBias()
	if !s.has("token_type_ids") {
		clear(t)
	}
	out := make([]float32, len(w))
	for j := range out {
		out[j] = (w[j] + t[j]) + m[j]
	}
	return out
}

func (s Spec) has(name string) bool {
	for _, in := range s.withDefaults().Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// Model returns the ONNX model's bytes.
func (s Spec) Model() []byte {
	s = s.withDefaults()
	v := int64(len(Vocab))
	d := int64(s.Dim)
	var words, types []float32
	for id := range v {
		words = append(words, s.Words(id)...)
	}
	for t := range int64(2) {
		types = append(types, s.Types(t)...)
	}

	var g msg
	hidden := s.Output
	if s.Pooled {
		hidden = "hidden"
	}
	sum := "words"
	g = g.msg(1, node("Gather", []string{"W", "input_ids"}, []string{"words"}))
	if s.has("token_type_ids") {
		g = g.msg(1, node("Gather", []string{"T", "token_type_ids"}, []string{"types"}))
		g = g.msg(1, node("Add", []string{"words", "types"}, []string{"summed"}))
		sum = "summed"
	}
	if s.has("attention_mask") {
		g = g.msg(1, node("Cast", []string{"attention_mask"}, []string{"maskf"}, intAttr("to", Float)))
		g = g.msg(1, node("Unsqueeze", []string{"maskf", "axes"}, []string{"mask3"}))
		g = g.msg(1, node("Mul", []string{"mask3", "M"}, []string{"bias"}))
		g = g.msg(1, node("Add", []string{sum, "bias"}, []string{hidden}))
		g = g.msg(5, floatTensor("M", []int64{d}, s.MaskBias()))
		g = g.msg(5, int64Tensor("axes", []int64{1}, []int64{2}))
	} else {
		g = g.msg(1, node("Identity", []string{sum}, []string{hidden}))
	}
	if s.Pooled {
		g = g.msg(1, node("ReduceMean", []string{hidden}, []string{s.Output}, intsAttr("axes", 1), intAttr("keepdims", 0)))
	}
	g = g.str(2, "tiny_bert")
	g = g.msg(5, floatTensor("W", []int64{v, d}, words))
	if s.has("token_type_ids") {
		g = g.msg(5, floatTensor("T", []int64{2, d}, types))
	}
	for _, in := range s.Inputs {
		typ := in.Type
		if typ == 0 {
			typ = Int64
		}
		g = g.msg(11, valueInfo(in.Name, typ, dimParam("batch"), dimParam("seq")))
	}
	last := dimValue(d)
	if s.Pooled {
		g = g.msg(12, valueInfo(s.Output, Float, dimParam("batch"), last))
	} else {
		g = g.msg(12, valueInfo(s.Output, Float, dimParam("batch"), dimParam("seq"), last))
	}

	var m msg
	m = m.int(1, 7) // ir_version
	m = m.str(2, "testmodel")
	m = m.msg(7, g)
	m = m.msg(8, msg{}.str(1, "").int(2, 13)) // opset 13
	return m
}

// Files returns the model directory's files other than the ONNX model, by
// relative path: vocab.txt, tokenizer_config.json, config.json,
// sentence_bert_config.json (max_seq_length 16), modules.json (Transformer,
// Pooling, Normalize) and 1_Pooling/config.json (mean pooling).
func (s Spec) Files() map[string]string {
	s = s.withDefaults()
	return map[string]string{
		"vocab.txt":                 strings.Join(Vocab, "\n") + "\n",
		"tokenizer_config.json":     `{"do_lower_case": true, "strip_accents": null, "tokenize_chinese_chars": true, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]", "model_max_length": 512, "tokenizer_class": "BertTokenizer"}`,
		"config.json":               mustJSON(map[string]any{"model_type": "bert", "hidden_size": s.Dim, "max_position_embeddings": 64, "vocab_size": len(Vocab)}),
		"sentence_bert_config.json": `{"max_seq_length": 16, "do_lower_case": false}`,
		"modules.json": `[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]`,
		"1_Pooling/config.json": mustJSON(map[string]any{
			"word_embedding_dimension": s.Dim, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
			"pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false,
		}),
	}
}

// WriteDir writes a model directory under a new temporary directory and
// returns its path. edits replace files by relative path; an empty value
// deletes the file. The model goes to model.onnx unless edits moves it
// (e.g. {"model.onnx": "", "onnx/model.onnx": "<model>"}); the value
// "<model>" stands for the model's bytes.
func (s Spec) WriteDir(tb testing.TB, edits map[string]string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "tiny-model")
	files := s.Files()
	files["model.onnx"] = "<model>"
	for name, content := range edits {
		files[name] = content
	}
	model := s.Model()
	for name, content := range files {
		if content == "" {
			continue
		}
		data := []byte(content)
		if content == "<model>" {
			data = model
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// msg is a protobuf message being encoded.
type msg []byte

func (m msg) str(n protowire.Number, s string) msg {
	m = protowire.AppendTag(m, n, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m msg) bytes(n protowire.Number, b []byte) msg {
	m = protowire.AppendTag(m, n, protowire.BytesType)
	return protowire.AppendBytes(m, b)
}

func (m msg) int(n protowire.Number, v int64) msg {
	m = protowire.AppendTag(m, n, protowire.VarintType)
	return protowire.AppendVarint(m, uint64(v))
}

func (m msg) msg(n protowire.Number, sub msg) msg { return m.bytes(n, sub) }

// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
func node(op string, inputs, outputs []string, attrs ...msg) msg {
	var m msg
	for _, in := range inputs {
		m = m.str(1, in)
	}
	for _, out := range outputs {
		m = m.str(2, out)
	}
	m = m.str(3, op+"_"+outputs[0])
	m = m.str(4, op)
	for _, a := range attrs {
		m = m.msg(5, a)
	}
	return m
}

// AttributeProto: name 1, i 3, ints 8, type 20 (INT 2, INTS 7).
func intAttr(name string, v int64) msg {
	return msg{}.str(1, name).int(3, v).int(20, 2)
}

func intsAttr(name string, vs ...int64) msg {
	m := msg{}.str(1, name)
	for _, v := range vs {
		m = m.int(8, v)
	}
	return m.int(20, 7)
}

// TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little endian).
func floatTensor(name string, dims []int64, vals []float32) msg {
	raw := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return tensor(name, Float, dims, raw)
}

func int64Tensor(name string, dims []int64, vals []int64) msg {
	raw := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	return tensor(name, Int64, dims, raw)
}

func tensor(name string, typ int64, dims []int64, raw []byte) msg {
	var m msg
	for _, d := range dims {
		m = m.int(1, d)
	}
	return m.int(2, typ).str(8, name).bytes(9, raw)
}

// ValueInfoProto: name 1, type 2. TypeProto: tensor_type 1.
// TypeProto.Tensor: elem_type 1, shape 2. TensorShapeProto: dim 1.
// Dimension: dim_value 1, dim_param 2.
func valueInfo(name string, elem int, dims ...msg) msg {
	var shape msg
	for _, d := range dims {
		shape = shape.msg(1, d)
	}
	tensorType := msg{}.int(1, int64(elem)).msg(2, shape)
	return msg{}.str(1, name).msg(2, msg{}.msg(1, tensorType))
}

func dimValue(v int64) msg  { return msg{}.int(1, v) }
func dimParam(p string) msg { return msg{}.str(2, p) }
