package faiss

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// benchFixture is 100k clustered 384-d unit vectors (1000 topics, spread
// as in the recall test) in a flat and an IVF index, the size of a
// mid-sized shard.
type benchFixture struct {
	dim, nlist int
	ids        []int64
	queries    []float32
	truth      []int64 // flat top-10 for queries
	flat, ivf  *Index
}

const benchK = 10

var benchData = sync.OnceValues(func() (*benchFixture, error) {
	const dim, n, nq = 384, 100_000, 256
	f := &benchFixture{dim: dim, nlist: int(4 * math.Sqrt(n))}
	r := newRand(1)
	centers := randomUnit(r, 1000, dim)
	data := clustered(r, n, dim, centers, 2.0)
	f.queries = clustered(r, nq, dim, centers, 2.0)
	f.ids = sequentialIDs(n, 0, 1)

	var err error
	if f.flat, err = NewFlat(dim); err != nil {
		return nil, err
	}
	if err := f.flat.Add(f.ids, data); err != nil {
		return nil, err
	}
	if f.ivf, err = NewIVFFlat(dim, f.nlist); err != nil {
		return nil, err
	}
	// Training on a sample keeps setup short; FAISS warns that it wants
	// 39 points per list, which a benchmark can ignore.
	start := time.Now()
	sample := 16 * f.nlist
	if err := f.ivf.Train(data[:sample*dim]); err != nil {
		return nil, err
	}
	trained := time.Since(start)
	if err := f.ivf.Add(f.ids, data); err != nil {
		return nil, err
	}
	fmt.Printf("bench fixture: %d x %d, nlist %d, trained on %d in %v, added in %v\n",
		n, dim, f.nlist, sample, trained.Round(time.Millisecond), (time.Since(start) - trained).Round(time.Millisecond))
	if _, f.truth, err = f.flat.Search(f.queries, benchK, 0); err != nil {
		return nil, err
	}
	return f, nil
})

// BenchmarkSearch reports queries per second for one query per call (the
// interactive case) and for batches of 64, plus recall@10 against the flat
// index. Run with OMP_NUM_THREADS set to the cores the service will get.
func BenchmarkSearch(b *testing.B) {
	f, err := benchData()
	if err != nil {
		b.Fatal(err)
	}
	// 1% of the ids, spread over the index: a small category.
	var allow []int64
	for id := int64(0); id < int64(len(f.ids)); id += 100 {
		allow = append(allow, id)
	}
	configs := []struct {
		name   string
		x      *Index
		nprobe int
		allow  []int64
	}{
		{"flat", f.flat, 0, nil},
		{"ivf/nprobe=8", f.ivf, 8, nil},
		{"ivf/nprobe=32", f.ivf, 32, nil},
		{"ivf/nprobe=128", f.ivf, 128, nil},
		{"flat/filtered1pct", f.flat, 0, allow},
		{"ivf/filtered1pct/nprobe=nlist", f.ivf, f.nlist, allow},
	}
	for _, c := range configs {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", c.name, batch), func(b *testing.B) {
				nq := len(f.queries) / f.dim
				search := func(q []float32) ([]int64, error) {
					var l []int64
					var err error
					if c.allow != nil {
						_, l, err = c.x.SearchFiltered(q, benchK, c.nprobe, c.allow)
					} else {
						_, l, err = c.x.Search(q, benchK, c.nprobe)
					}
					return l, err
				}
				recall := -1.0
				if c.allow == nil {
					l, err := search(f.queries)
					if err != nil {
						b.Fatal(err)
					}
					recall = recallAt(l, f.truth, benchK)
				}
				calls, first := 0, 0
				for b.Loop() {
					q := f.queries[first*f.dim : (first+batch)*f.dim]
					if _, err := search(q); err != nil {
						b.Fatal(err)
					}
					calls++
					first = (first + batch) % nq
				}
				b.ReportMetric(float64(calls*batch)/b.Elapsed().Seconds(), "queries/s")
				if recall >= 0 {
					b.ReportMetric(recall, "recall@10")
				}
			})
		}
	}
}
