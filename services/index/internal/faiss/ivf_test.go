package faiss

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// recallFixture is a flat and an IVF index over the same clustered 384-d
// data, shaped like the service's embeddings, with the flat results as
// ground truth. It is built once per test binary; building it dominates the
// package's test time.
type recallFixture struct {
	dim, nlist, k int
	data          []float32
	ids           []int64
	queries       []float32
	flat, ivf     *Index
	truth         []int64 // flat labels for queries
}

var recallData = sync.OnceValues(func() (*recallFixture, error) {
	// 200 topics of about 100 papers each, with enough spread that IVF
	// needs a realistic share of its lists (about 1/8) for 0.95 recall.
	const dim, n, nq, nclusters, noise = 384, 20000, 200, 200, 2.5
	f := &recallFixture{dim: dim, nlist: 256, k: 10}
	r := newRand(42)
	centers := randomUnit(r, nclusters, dim)
	f.data = clustered(r, n, dim, centers, noise)
	f.queries = clustered(r, nq, dim, centers, noise)
	f.ids = sequentialIDs(n, 100, 3)

	var err error
	if f.flat, err = NewFlat(dim); err != nil {
		return nil, err
	}
	if err := f.flat.Add(f.ids, f.data); err != nil {
		return nil, err
	}
	if f.ivf, err = NewIVFFlat(dim, f.nlist); err != nil {
		return nil, err
	}
	if err := f.ivf.Train(f.data); err != nil {
		return nil, err
	}
	if err := f.ivf.Add(f.ids, f.data); err != nil {
		return nil, err
	}
	if _, f.truth, err = f.flat.Search(f.queries, f.k, 0); err != nil {
		return nil, err
	}
	return f, nil
})

func loadRecallFixture(t *testing.T) *recallFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a 20k x 384 IVF index")
	}
	f, err := recallData()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFlatMatchesBruteForce(t *testing.T) {
	f := loadRecallFixture(t)
	// Brute force in Go is slow under the race detector; a few queries
	// are enough to show that the flat index is exact.
	q := f.queries[:3*f.dim]
	wantD, wantL := bruteForce(f.data, f.ids, f.dim, q, f.k, nil)
	gotD, gotL, err := f.flat.Search(q, f.k, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSameResults(t, gotD, gotL, wantD, wantL)
}

func TestIVFRecall(t *testing.T) {
	f := loadRecallFixture(t)
	tests := []struct {
		nprobe    int
		minRecall float64
	}{
		{1, 0},
		{4, 0},
		{16, 0},
		{32, 0.95},
		{64, 0.97},
		{f.nlist, 0.999},
		{10 * f.nlist, 0.999}, // clamped to nlist
	}
	prev := 0.0
	for _, tt := range tests {
		t.Run(fmt.Sprint("nprobe=", tt.nprobe), func(t *testing.T) {
			_, l, err := f.ivf.Search(f.queries, f.k, tt.nprobe)
			if err != nil {
				t.Fatal(err)
			}
			rec := recallAt(l, f.truth, f.k)
			t.Logf("recall@%d = %.4f", f.k, rec)
			if rec < tt.minRecall {
				t.Errorf("recall@%d = %.4f, want >= %.2f", f.k, rec, tt.minRecall)
			}
			if rec < prev {
				t.Errorf("recall fell from %.4f to %.4f as nprobe grew", prev, rec)
			}
			prev = rec
		})
	}
}

// TestConcurrentNprobe runs searches with different nprobe at the same time
// on one index. Each must behave exactly as if it ran alone, and the
// index's own nprobe must stay untouched: the system this replaces set
// index.nprobe before each search, so concurrent requests overrode each
// other's setting.
func TestConcurrentNprobe(t *testing.T) {
	f := loadRecallFixture(t)
	const nq, rounds = 40, 2
	before, err := f.ivf.ownNprobe()
	if err != nil {
		t.Fatal(err)
	}

	// Baselines from one query per call, the same call shape as below, so
	// that even float rounding matches.
	nprobes := []int{1, f.nlist}
	baseline := map[int][]int64{}
	for _, np := range nprobes {
		for q := range nq {
			_, l, err := f.ivf.Search(f.queries[q*f.dim:][:f.dim], f.k, np)
			if err != nil {
				t.Fatal(err)
			}
			baseline[np] = append(baseline[np], l...)
		}
	}
	low := recallAt(baseline[1], f.truth[:nq*f.k], f.k)
	high := recallAt(baseline[f.nlist], f.truth[:nq*f.k], f.k)
	t.Logf("alone: recall@%d %.3f at nprobe 1, %.3f at nprobe %d", f.k, low, high, f.nlist)
	if high < 0.999 || low > high-0.05 {
		t.Fatalf("nprobe 1 and %d should differ clearly in recall: %.3f vs %.3f", f.nlist, low, high)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*nq*rounds)
	for g := range 4 {
		np := nprobes[g%2]
		wg.Go(func() {
			for range rounds {
				for q := range nq {
					// Alternate start points so that the goroutines overlap
					// on different queries.
					q = (q + g*7) % nq
					_, l, err := f.ivf.Search(f.queries[q*f.dim:][:f.dim], f.k, np)
					if err != nil {
						errs <- err
						return
					}
					if want := baseline[np][q*f.k:][:f.k]; !slices.Equal(l, want) {
						errs <- fmt.Errorf("nprobe %d, query %d: got %v, alone %v", np, q, l, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after, err := f.ivf.ownNprobe()
	if err != nil {
		t.Fatal(err)
	}
	if before != 1 || after != before {
		t.Errorf("index's own nprobe was %d before and %d after, want 1 both times", before, after)
	}
}
