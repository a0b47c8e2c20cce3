package vecmath

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
)

func TestKernels(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5}
	b := []float32{5, 4, 3, 2, 1, 99}
	if got := Dot(a, b); got != 35 {
		t.Errorf("Dot = %v", got)
	}
	y := []float32{1, 1, 1, 1, 1}
	Axpy(2, a, y)
	if !slices.Equal(y, []float32{3, 5, 7, 9, 11}) {
		t.Errorf("Axpy = %v", y)
	}
	x := []float32{3, 4}
	if n := Normalize(x); n != 5 || x[0] != 0.6 || x[1] != 0.8 {
		t.Errorf("Normalize = %v, %v", n, x)
	}
	z := []float32{0, 0}
	Normalize(z)
	if z[0] != 0 || math.IsNaN(float64(z[1])) {
		t.Errorf("zero vector normalized to %v", z)
	}
}

func TestParallelForCoversRange(t *testing.T) {
	for _, n := range []int{0, 1, 5, 100} {
		for _, w := range []int{1, 2, 3, 8} {
			var hits = make([]atomic.Int32, n)
			ParallelFor(n, w, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
			})
			for i := range hits {
				if hits[i].Load() != 1 {
					t.Fatalf("n=%d workers=%d: index %d visited %d times", n, w, i, hits[i].Load())
				}
			}
		}
	}
}

func TestTopK(t *testing.T) {
	scores := []float32{0.5, 0.9, 0.1, 0.9, 0.7}
	if got := TopK(scores, 3); !slices.Equal(got, []int32{1, 3, 4}) {
		t.Errorf("TopK = %v", got)
	}
	if got := TopK(scores, 10); !slices.Equal(got, []int32{1, 3, 4, 0, 2}) {
		t.Errorf("TopK(all) = %v", got)
	}
	if got := TopK(nil, 3); len(got) != 0 {
		t.Errorf("TopK(nil) = %v", got)
	}
}
