// Package vecmath holds the few dense float32 kernels the trainer, the
// in-process model and exact search share, and a fixed-partition
// parallel loop (the partition depends only on n and the worker count,
// and no kernel reduces across partitions, so results never depend on
// scheduling).
package vecmath

import (
	"container/heap"
	"math"
	"sync"
)

// Dot returns a·b (len(b) >= len(a)), summing in four fixed lanes.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy does y += alpha*x (len(y) >= len(x)).
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Add does y += x.
func Add(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += v
	}
}

// Scale does x *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Norm returns the Euclidean norm of x, accumulated in float64.
func Norm(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return float32(math.Sqrt(s))
}

// Normalize scales x to unit length the way sentence-transformers'
// Normalize module (torch.nn.functional.normalize) does, dividing by
// max(norm, 1e-12), and returns the norm.
func Normalize(x []float32) float32 {
	n := Norm(x)
	Scale(1/max(n, 1e-12), x)
	return n
}

// ParallelFor splits [0, n) into at most workers contiguous ranges of
// near-equal size and runs fn on each in its own goroutine, returning
// when all are done. With workers <= 1 or tiny n it runs inline.
func ParallelFor(n, workers int, fn func(lo, hi int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// TopK returns the indices of the k largest scores, best first, ties
// broken by the lower index.
func TopK(scores []float32, k int) []int32 {
	k = min(k, len(scores))
	h := make(minHeap, 0, k)
	for i, s := range scores {
		e := scored{s, int32(i)}
		if len(h) < k {
			heap.Push(&h, e)
		} else if better(e, h[0]) {
			h[0] = e
			heap.Fix(&h, 0)
		}
	}
	out := make([]int32, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(scored).idx
	}
	return out
}

type scored struct {
	score float32
	idx   int32
}

// better orders by score descending, then index ascending.
func better(a, b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.idx < b.idx
}

// minHeap keeps the worst kept element on top.
type minHeap []scored

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(scored)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
