package onnx

import (
	"fmt"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Names of the graph inputs and outputs of a BERT-style export
// (optimum, sentence-transformers' backend="onnx").
const (
	InputIDs      = "input_ids"
	AttentionMask = "attention_mask"
	TokenTypeIDs  = "token_type_ids"

	// LastHiddenState and TokenEmbeddings are per-token outputs
	// [batch, seq, dim], pooled by the caller.
	LastHiddenState = "last_hidden_state"
	TokenEmbeddings = "token_embeddings"
	// SentenceEmbedding is a pooled output [batch, dim] of a graph that
	// contains its own pooling.
	SentenceEmbedding = "sentence_embedding"
)

// Graph is what a model's graph takes and gives, as far as an embedder
// cares.
type Graph struct {
	// Inputs are fed in this order: input_ids, attention_mask and, when the
	// graph has it, token_type_ids.
	Inputs []string
	// TypeIDs says whether token_type_ids is among Inputs.
	TypeIDs bool
	// Output is the one output the session computes.
	Output string
	// Pooled says Output is a sentence embedding [batch, dim]; otherwise it
	// holds token embeddings [batch, seq, dim].
	Pooled bool
	// Dim is Output's last dimension, or 0 when the graph names it
	// symbolically (it is then known after the first run).
	Dim int
}

// Inspect reads the inputs and outputs of the ONNX model at path and checks
// that they fit an embedder (see CheckGraph).
func Inspect(path string) (Graph, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return Graph{}, fmt.Errorf("onnx: session options: %w", err)
	}
	defer opts.Destroy()
	// Only the signature is wanted: skip the graph optimizations, which
	// are most of a session's load time.
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return Graph{}, fmt.Errorf("onnx: session options: %w", err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, opts)
	if err != nil {
		return Graph{}, fmt.Errorf("onnx: %s: %w", path, err)
	}
	g, err := CheckGraph(ins, outs)
	if err != nil {
		return Graph{}, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return g, nil
}

// CheckGraph checks a graph's signature: int64 inputs input_ids and
// attention_mask [batch, seq], optionally token_type_ids, nothing else; a
// float32 output sentence_embedding [batch, dim] (preferred: the graph
// pools) or token_embeddings / last_hidden_state [batch, seq, dim].
func CheckGraph(ins, outs []ort.InputOutputInfo) (Graph, error) {
	var g Graph
	have := map[string]bool{}
	for _, in := range ins {
		switch in.Name {
		case InputIDs, AttentionMask, TokenTypeIDs:
		default:
			return Graph{}, fmt.Errorf("graph input %q is not supported: an embedder feeds only %s, %s and %s",
				in.Name, InputIDs, AttentionMask, TokenTypeIDs)
		}
		if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeInt64 || len(in.Dimensions) != 2 {
			return Graph{}, fmt.Errorf("graph input %s: want an int64 tensor [batch, seq], got %s", in.Name, in.String())
		}
		have[in.Name] = true
	}
	for _, name := range []string{InputIDs, AttentionMask} {
		if !have[name] {
			return Graph{}, fmt.Errorf("graph has no %s input (inputs: %s)", name, names(ins))
		}
	}
	g.Inputs = []string{InputIDs, AttentionMask}
	if have[TokenTypeIDs] {
		g.Inputs = append(g.Inputs, TokenTypeIDs)
		g.TypeIDs = true
	}

	pick := -1
	for _, want := range []string{SentenceEmbedding, TokenEmbeddings, LastHiddenState} {
		if i := slices.IndexFunc(outs, func(o ort.InputOutputInfo) bool { return o.Name == want }); i >= 0 {
			pick = i
			break
		}
	}
	if pick < 0 {
		return Graph{}, fmt.Errorf("graph has none of the outputs %s, %s or %s (outputs: %s)",
			SentenceEmbedding, TokenEmbeddings, LastHiddenState, names(outs))
	}
	out := outs[pick]
	g.Output = out.Name
	g.Pooled = out.Name == SentenceEmbedding
	rank := 3
	if g.Pooled {
		rank = 2
	}
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat || len(out.Dimensions) != rank {
		shape := "[batch, seq, dim]"
		if g.Pooled {
			shape = "[batch, dim]"
		}
		return Graph{}, fmt.Errorf("graph output %s: want a float32 tensor %s, got %s", out.Name, shape, out.String())
	}
	if d := out.Dimensions[rank-1]; d > 0 {
		g.Dim = int(d)
	}
	return g, nil
}

func names(infos []ort.InputOutputInfo) string {
	var s []string
	for _, i := range infos {
		s = append(s, i.Name)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
