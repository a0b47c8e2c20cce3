package onnx

import (
	"math"
	"slices"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	m := Model{
		IRVersion: 8, Opset: 17, ProducerName: "test", ProducerVersion: "v1", DocString: "doc",
		Metadata: [][2]string{{"k", "v"}, {"dtype", "int8"}},
		Graph: Graph{
			Name: "g",
			Nodes: []Node{
				{Name: "n1", OpType: "Gather", Inputs: []string{"w", "ids"}, Outputs: []string{"y"}, Attrs: []Attribute{IntAttr("axis", 0)}},
				{Name: "n2", OpType: "Transpose", Inputs: []string{"y"}, Outputs: []string{"z"}, Attrs: []Attribute{IntsAttr("perm", 1, 0, 2)}},
			},
			Initializers: []Tensor{
				FloatTensor("w", []int64{2, 2}, []float32{1, -2, 3.5, 0}),
				Int32Tensor("map", []int64{3}, []int32{0, -1, 7}),
				Int8Tensor("q", []int64{2}, []int8{-127, 5}),
				Int64Tensor("shape", []int64{1}, []int64{-1}),
				Float16Tensor("h", []int64{1}, []uint16{FloatToHalf(1.5)}),
			},
			Inputs:  []ValueInfo{{Name: "ids", Type: Int64, Shape: []Dim{{Param: "batch"}, {Param: "seq"}}}},
			Outputs: []ValueInfo{{Name: "z", Type: Float, Shape: []Dim{{Param: "batch"}, {Param: "seq"}, {Value: 2}}}},
		},
	}
	got, err := Unmarshal(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.IRVersion != 8 || got.Opset != 17 || got.ProducerName != "test" || got.DocString != "doc" || len(got.Metadata) != 2 || got.Metadata[1] != [2]string{"dtype", "int8"} {
		t.Errorf("model fields %+v", got)
	}
	g := got.Graph
	if len(g.Nodes) != 2 || g.Nodes[0].OpType != "Gather" || *g.Nodes[0].Attrs[0].Int != 0 || !slices.Equal(g.Nodes[1].Attrs[0].Ints, []int64{1, 0, 2}) {
		t.Errorf("nodes %+v", g.Nodes)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Shape[0].Param != "batch" || g.Outputs[0].Shape[2].Value != 2 || g.Outputs[0].Type != Float {
		t.Errorf("inputs %+v outputs %+v", g.Inputs, g.Outputs)
	}
	w, _ := g.Initializer("w")
	if v, err := w.Floats(); err != nil || !slices.Equal(v, []float32{1, -2, 3.5, 0}) {
		t.Errorf("w = %v, %v", v, err)
	}
	mp, _ := g.Initializer("map")
	if v, err := mp.Int32s(); err != nil || !slices.Equal(v, []int32{0, -1, 7}) {
		t.Errorf("map = %v, %v", v, err)
	}
	q, _ := g.Initializer("q")
	if v, err := q.Floats(); err != nil || !slices.Equal(v, []float32{-127, 5}) {
		t.Errorf("q = %v, %v", v, err)
	}
	h, _ := g.Initializer("h")
	if v, err := h.Floats(); err != nil || v[0] != 1.5 {
		t.Errorf("h = %v, %v", v, err)
	}
	if _, err := Unmarshal([]byte{0x0a, 0xff}); err == nil {
		t.Error("truncated input accepted")
	}
	bad := Tensor{Name: "x", Dims: []int64{3}, Type: Float, Raw: make([]byte, 8)}
	if err := bad.Check(); err == nil {
		t.Error("tensor with too little data passed Check")
	}
}

func TestHalf(t *testing.T) {
	tests := []struct {
		f    float32
		bits uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},                  // largest half
		{65520, 0x7c00},                  // rounds up to infinity
		{float32(math.Inf(1)), 0x7c00},   // infinity
		{6.103515625e-05, 0x0400},        // smallest normal
		{5.960464477539063e-08, 0x0001},  // smallest subnormal
		{2.9802322387695312e-08, 0x0000}, // half of it: ties to even (0)
		{1.0009765625, 0x3c01},           // 1 + 2^-10
		{1.00048828125, 0x3c00},          // 1 + 2^-11: tie, to even
		{1.00146484375, 0x3c02},          // 1 + 3*2^-11: tie, to even (up)
		{0.333251953125, 0x3555},         // exact
	}
	for _, tt := range tests {
		if got := FloatToHalf(tt.f); got != tt.bits {
			t.Errorf("FloatToHalf(%v) = %#04x, want %#04x", tt.f, got, tt.bits)
		}
	}
	// Every finite half converts to float32 and back unchanged.
	for b := range 1 << 16 {
		h := uint16(b)
		if h&0x7c00 == 0x7c00 {
			continue // inf and nan
		}
		if got := FloatToHalf(HalfToFloat(h)); got != h {
			t.Fatalf("round trip of %#04x gave %#04x (%v)", h, got, HalfToFloat(h))
		}
	}
	if !math.IsNaN(float64(HalfToFloat(FloatToHalf(float32(math.NaN()))))) {
		t.Error("NaN lost")
	}
}
