package staticmodel

import (
	"context"
	"math"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
)

func TestEmbedIDs(t *testing.T) {
	m := &Model{Dim: 2, Rows: []float32{0, 0, 3, 0, 0, 4}, Map: []int32{0, 1, 2, 0}}
	out := make([]float32, 2)
	// ids 1, 2, 2, 3: rows 1 + 2 + 2 + 0 = (3, 8); the mean then the
	// normalization give (3, 8)/sqrt(73).
	m.EmbedIDs([]int64{1, 2, 2, 3}, out)
	n := math.Sqrt(73)
	if math.Abs(float64(out[0])-3/n) > 1e-6 || math.Abs(float64(out[1])-8/n) > 1e-6 {
		t.Errorf("EmbedIDs = %v", out)
	}
	// Only dropped tokens: the zero vector (normalize divides by 1e-12).
	m.EmbedIDs([]int64{0, 3, 99}, out)
	if out[0] != 0 || out[1] != 0 {
		t.Errorf("dropped tokens gave %v", out)
	}
}

func TestValidate(t *testing.T) {
	good := &Model{Dim: 2, Rows: []float32{0, 0, 1, 1}, Map: []int32{0, 1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []*Model{
		{Dim: 0, Rows: []float32{0}, Map: nil},
		{Dim: 2, Rows: []float32{0, 0, 1}, Map: nil},
		{Dim: 2, Rows: []float32{1, 0, 1, 1}, Map: []int32{0}},
		{Dim: 2, Rows: []float32{0, 0, 1, 1}, Map: []int32{2}},
	}
	for i, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("model %d passed", i)
		}
	}
}

func TestEmbedTexts(t *testing.T) {
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Dim: 3, Tok: tok, MaxSeqLen: 4, Map: make([]int32, tok.VocabSize()), Rows: []float32{0, 0, 0, 1, 0, 0, 0, 1, 0}}
	cls := tok.Encode("", 0).IDs[0]
	graph := tok.Encode("graph", 0).IDs[1]
	m.Map[cls], m.Map[graph] = 1, 2
	got, err := m.Embed(context.Background(), []string{"graph", "graph graph graph graph", "unknown words"})
	if err != nil {
		t.Fatal(err)
	}
	s := float32(1 / math.Sqrt2)
	// "graph": [CLS] graph [SEP] -> rows 1 + 2. Truncated to 4 ids:
	// [CLS] graph graph [SEP] -> 1 + 2*2. Unknown words: [CLS] only.
	want := [][]float32{{s, s, 0}, {float32(1 / math.Sqrt(5)), float32(2 / math.Sqrt(5)), 0}, {1, 0, 0}}
	for i := range want {
		for k := range want[i] {
			if math.Abs(float64(got[i][k]-want[i][k])) > 1e-6 {
				t.Errorf("text %d: %v, want %v", i, got[i], want[i])
				break
			}
		}
	}
}
