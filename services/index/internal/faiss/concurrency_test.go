package faiss

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentMutations mixes searches, filtered searches, adds, removes,
// snapshots and accessors on one index. Run it with -race: the race
// detector does not see inside FAISS, but it checks the Go side, and the
// locking is what keeps FAISS from seeing a search during a mutation.
func TestConcurrentMutations(t *testing.T) {
	const dim, initial, rounds, batch = 8, 500, 40, 20
	r := newRand(9)
	train := randomUnit(r, 400, dim)
	pool := randomUnit(r, initial+rounds*batch, dim)
	queries := randomUnit(r, 4, dim)

	kinds := []struct {
		name  string
		build func(t *testing.T) *Index
	}{
		{"flat", func(t *testing.T) *Index { return mustFlat(t, dim) }},
		{"ivf", func(t *testing.T) *Index {
			x := mustIVF(t, dim, 8)
			if err := x.Train(train); err != nil {
				t.Fatal(err)
			}
			return x
		}},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			x := kind.build(t)
			if err := x.Add(sequentialIDs(initial, 0, 1), pool[:initial*dim]); err != nil {
				t.Fatal(err)
			}
			var (
				wg       sync.WaitGroup
				done     atomic.Bool
				removed  atomic.Int64
				searches atomic.Int64
				errs     = make(chan error, 16)
			)
			report := func(err error) {
				select {
				case errs <- err:
				default:
				}
			}
			for g := range 3 {
				wg.Go(func() {
					for i := 0; !done.Load() || i < 20; i++ {
						q := queries[(i%4)*dim:][:dim]
						var l []int64
						var err error
						if g == 0 {
							_, l, err = x.SearchFiltered(q, 5, 4, []int64{1, 2, 3, int64(initial + i)})
						} else {
							_, l, err = x.Search(q, 5, 1+i%8)
						}
						if err != nil {
							report(err)
							return
						}
						if len(l) != 5 {
							report(fmt.Errorf("got %d labels", len(l)))
							return
						}
						if n := x.Ntotal(); n < 0 {
							report(fmt.Errorf("Ntotal %d", n))
							return
						}
						searches.Add(1)
					}
				})
			}
			wg.Go(func() {
				// Snapshots hold the read lock while streaming.
				for i := 0; !done.Load() || i < 3; i++ {
					var buf bytes.Buffer
					if _, err := x.WriteTo(&buf); err != nil {
						report(err)
						return
					}
					y, err := Unmarshal(buf.Bytes())
					if err != nil {
						report(err)
						return
					}
					y.Close()
				}
			})
			func() {
				defer done.Store(true)
				for i := range rounds {
					lo := initial + i*batch
					ids := sequentialIDs(batch, int64(lo), 1)
					if err := x.Add(ids, pool[lo*dim:(lo+batch)*dim]); err != nil {
						report(err)
						return
					}
					n, err := x.Remove(sequentialIDs(batch/2, int64(i*batch/2), 1))
					if err != nil {
						report(err)
						return
					}
					removed.Add(int64(n))
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if want := int64(initial+rounds*batch) - removed.Load(); x.Ntotal() != want {
				t.Errorf("Ntotal = %d, want %d", x.Ntotal(), want)
			}
			t.Logf("%d searches during %d add/remove rounds", searches.Load(), rounds)
			if removed.Load() != rounds*batch/2 {
				t.Errorf("removed %d, want %d", removed.Load(), rounds*batch/2)
			}
		})
	}
}

// TestCloseWhileSearching closes an index under running searches: each
// search either completes or reports ErrClosed, and nothing crashes.
func TestCloseWhileSearching(t *testing.T) {
	const dim = 16
	x := mustFlat(t, dim)
	data := randomUnit(newRand(4), 2000, dim)
	if err := x.Add(sequentialIDs(2000, 0, 1), data); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var completed atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				_, _, err := x.Search(data[:dim], 10, 0)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				completed.Add(1)
			}
		})
	}
	for completed.Load() < 20 { // let the searches get going
		runtime.Gosched()
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
