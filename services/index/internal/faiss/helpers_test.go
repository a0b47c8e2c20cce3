package faiss

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The tests use the real FAISS library. They pass with any OMP_NUM_THREADS;
// on a shared machine run them with OMP_NUM_THREADS=1 or 2, since FAISS
// otherwise starts one OpenMP thread per core for every call.

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// normalizeRows scales every dim-component row of v to unit length.
func normalizeRows(v []float32, dim int) {
	for i := 0; i < len(v); i += dim {
		row := v[i : i+dim]
		var s float64
		for _, f := range row {
			s += float64(f) * float64(f)
		}
		inv := float32(1 / math.Sqrt(s))
		for j := range row {
			row[j] *= inv
		}
	}
}

// randomUnit returns n random unit vectors.
func randomUnit(r *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	normalizeRows(v, dim)
	return v
}

// clustered returns n unit vectors drawn around the given unit centers, the
// shape of real embeddings: topics with spread inside each topic.
func clustered(r *rand.Rand, n, dim int, centers []float32, noise float64) []float32 {
	nc := len(centers) / dim
	v := make([]float32, n*dim)
	scale := noise / math.Sqrt(float64(dim))
	for i := range n {
		c := centers[r.IntN(nc)*dim:][:dim]
		for j := range dim {
			v[i*dim+j] = c[j] + float32(scale*r.NormFloat64())
		}
	}
	normalizeRows(v, dim)
	return v
}

// sequentialIDs returns start, start+step, ...
func sequentialIDs(n int, start, step int64) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = start + int64(i)*step
	}
	return ids
}

// bruteForce is an exact inner-product search in Go, over the vectors whose
// id passes allow (nil allows all). Rows shorter than k are padded with -1
// and -Inf like Search does.
func bruteForce(vectors []float32, ids []int64, dim int, queries []float32, k int, allow func(int64) bool) ([]float32, []int64) {
	type hit struct {
		d  float32
		id int64
	}
	nq := len(queries) / dim
	dist := make([]float32, nq*k)
	labels := make([]int64, nq*k)
	for q := range nq {
		qv := queries[q*dim:][:dim]
		var hits []hit
		for i, id := range ids {
			if allow != nil && !allow(id) {
				continue
			}
			var s float32
			for j, f := range vectors[i*dim:][:dim] {
				s += f * qv[j]
			}
			hits = append(hits, hit{s, id})
		}
		slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(b.d, a.d) })
		for j := range k {
			if j < len(hits) {
				dist[q*k+j], labels[q*k+j] = hits[j].d, hits[j].id
			} else {
				dist[q*k+j], labels[q*k+j] = float32(math.Inf(-1)), -1
			}
		}
	}
	return dist, labels
}

// checkSameResults fails unless got matches want position by position,
// tolerating swapped labels only where the scores tie within float error.
func checkSameResults(t *testing.T, gotD []float32, gotL []int64, wantD []float32, wantL []int64) {
	t.Helper()
	if len(gotL) != len(wantL) {
		t.Fatalf("got %d results, want %d", len(gotL), len(wantL))
	}
	for i := range wantL {
		if gotL[i] == wantL[i] && (wantL[i] == -1 || math.Abs(float64(gotD[i]-wantD[i])) < 1e-5) {
			continue
		}
		if gotL[i] != -1 && wantL[i] != -1 && math.Abs(float64(gotD[i]-wantD[i])) < 1e-5 {
			continue // a tie, ordered differently
		}
		t.Fatalf("result %d: got id %d (%v), want id %d (%v)", i, gotL[i], gotD[i], wantL[i], wantD[i])
	}
}

// recallAt is the fraction of the ids in want (ignoring -1) that got has in
// the same row.
func recallAt(got, want []int64, k int) float64 {
	found, total := 0, 0
	for row := 0; row < len(want); row += k {
		g := got[row : row+k]
		for _, id := range want[row : row+k] {
			if id < 0 {
				continue
			}
			total++
			if slices.Contains(g, id) {
				found++
			}
		}
	}
	return float64(found) / float64(total)
}

func mustFlat(t testing.TB, dim int) *Index {
	t.Helper()
	x, err := NewFlat(dim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func mustIVF(t testing.TB, dim, nlist int) *Index {
	t.Helper()
	x, err := NewIVFFlat(dim, nlist)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}
