package pooling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRows(t *testing.T) {
	// Three tokens of dimension 2; the last is padding.
	hidden := []float32{
		1, -2,
		3, 4,
		100, 100,
	}
	mask := []int64{1, 1, 0}
	tests := []struct {
		name string
		pool func(dst []float32)
		want []float32
	}{
		{"mean", func(d []float32) { MeanRow(d, hidden, mask) }, []float32{2, 1}},
		{"mean all masked", func(d []float32) { MeanRow(d, hidden, []int64{0, 0, 0}) }, []float32{0, 0}},
		{"mean no padding", func(d []float32) { MeanRow(d, hidden, []int64{1, 1, 1}) }, []float32{104.0 / 3, 102.0 / 3}},
		{"cls", func(d []float32) { CLSRow(d, hidden) }, []float32{1, -2}},
		{"max", func(d []float32) { MaxRow(d, hidden, mask) }, []float32{3, 4}},
		{"max all masked", func(d []float32) { MaxRow(d, hidden, []int64{0, 0, 0}) }, []float32{-1e9, -1e9}},
		{"max negative", func(d []float32) { MaxRow(d, []float32{-5, -1, -3, -7}, []int64{1, 1}) }, []float32{-3, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []float32{7, 7} // stale contents must not leak in
			tc.pool(dst)
			if !slices.Equal(dst, tc.want) {
				t.Errorf("got %v, want %v", dst, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want []float32
	}{
		{[]float32{3, 4}, []float32{0.6, 0.8}},
		{[]float32{0, 0, 0}, []float32{0, 0, 0}},
		{[]float32{-2}, []float32{-1}},
		// Below torch's eps the vector is divided by 1e-12, not its norm.
		{[]float32{1e-13, 0}, []float32{0.1, 0}},
	}
	for _, tc := range tests {
		v := slices.Clone(tc.in)
		Normalize(v)
		for j := range v {
			if math.Abs(float64(v[j]-tc.want[j])) > 1e-7 {
				t.Errorf("Normalize(%v) = %v, want %v", tc.in, v, tc.want)
				break
			}
		}
	}
}

// TestBatchIgnoresPadding pools texts alone and inside a padded batch and
// wants bit-identical results: padding must not change a vector.
func TestBatchIgnoresPadding(t *testing.T) {
	const dim = 5
	rng := rand.New(rand.NewPCG(1, 2))
	lens := []int{3, 1, 6, 4}
	seq := slices.Max(lens)
	hidden := make([]float32, len(lens)*seq*dim)
	mask := make([]int64, len(lens)*seq)
	for i, n := range lens {
		for tok := range seq {
			for j := range dim {
				hidden[(i*seq+tok)*dim+j] = float32(rng.NormFloat64())
			}
			if tok < n {
				mask[i*seq+tok] = 1
			}
		}
	}
	for _, m := range []Mode{Mean, CLS, Max} {
		t.Run(m.String(), func(t *testing.T) {
			dst := make([][]float32, len(lens))
			for i := range dst {
				dst[i] = make([]float32, dim)
			}
			m.Batch(dst, hidden, mask, seq, dim)
			for i, n := range lens {
				// The same row alone, unpadded: seq = n, mask all ones.
				alone := make([]float32, dim)
				h := hidden[i*seq*dim : (i*seq+n)*dim]
				ones := slices.Repeat([]int64{1}, n)
				m.Batch([][]float32{alone}, h, ones, n, dim)
				if !slices.Equal(alone, dst[i]) {
					t.Errorf("row %d: batched %v, alone %v", i, dst[i], alone)
				}
			}
		})
	}
}

func TestBatchRejectsShortInput(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Batch with too few values did not panic")
		}
	}()
	Mean.Batch([][]float32{make([]float32, 4)}, make([]float32, 7), []int64{1, 1}, 2, 4)
}

func BenchmarkMean(b *testing.B) {
	const rows, seq, dim = 32, 256, 384
	hidden := make([]float32, rows*seq*dim)
	for i := range hidden {
		hidden[i] = float32(i%97) / 97
	}
	mask := make([]int64, rows*seq)
	for i := range mask {
		if i%seq < 200 {
			mask[i] = 1
		}
	}
	dst := make([][]float32, rows)
	for i := range dst {
		dst[i] = make([]float32, dim)
	}
	b.SetBytes(int64(len(hidden) * 4))
	for b.Loop() {
		Mean.Batch(dst, hidden, mask, seq, dim)
		for _, v := range dst {
			Normalize(v)
		}
	}
}
