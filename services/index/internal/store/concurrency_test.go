package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestConcurrentReadersAndWriters runs writers on disjoint ids alongside
// readers of every kind (run it with -race), then checks that the final
// store is exactly what the writers acknowledged.
func TestConcurrentReadersAndWriters(t *testing.T) {
	const (
		writers   = 4
		readers   = 4
		rounds    = 12
		idsPerW   = 30
		batchSize = 5
	)
	ctx := context.Background()
	s := openTest(t, testPath(t))

	type result struct {
		gens     map[int]int // paper number -> generation; absent when deleted
		versions []int64     // versions of this writer's changing writes, in order
	}
	results := make([]result, writers)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, writers+readers+1)

	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			res := result{gens: make(map[int]int)}
			for range rounds {
				var err error
				var v int64
				if rng.IntN(4) == 0 && len(res.gens) > 0 {
					var ids []string
					for n := range res.gens {
						ids = append(ids, testPaper(n, 0).ID)
						delete(res.gens, n)
						if len(ids) == 2 {
							break
						}
					}
					v, _, err = s.Delete(ctx, ids)
				} else {
					seen := map[int]bool{}
					var batch []Paper
					for range batchSize {
						n := w*1000 + rng.IntN(idsPerW)
						if seen[n] {
							continue
						}
						seen[n] = true
						res.gens[n]++
						batch = append(batch, testPaper(n, res.gens[n]))
					}
					var r UpsertResult
					r, err = s.Upsert(ctx, batch)
					v = r.Version
				}
				if err != nil {
					errc <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				res.versions = append(res.versions, v)
			}
			results[w] = res
		})
	}

	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Go(func() {
			var last int64
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				v, err := s.Version(ctx)
				if err == nil && v < last {
					err = fmt.Errorf("version went back from %d to %d", last, v)
				}
				last = v
				if err == nil {
					switch (r + i) % 4 {
					case 0:
						var keys []int64
						if keys, err = s.KeysInCategories(ctx, []string{"stat.ML"}); err == nil {
							_, err = s.GetByKeys(ctx, keys[:min(len(keys), 20)], i%2 == 0)
						}
					case 1:
						_, err = s.SearchLexical(ctx, "sparse attention transformers", 20, []string{"cs.LG"})
					case 2:
						prev := int64(-1)
						_, err = s.Changes(ctx, 0, func(c Change) error {
							if c.Version < prev {
								return fmt.Errorf("change version %d after %d", c.Version, prev)
							}
							prev = c.Version
							return nil
						})
					case 3:
						if _, err = s.Stats(ctx); err == nil {
							_, err = s.Count(ctx)
						}
					}
				}
				if err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	rwg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			v, err := s.Version(ctx)
			if err == nil && v > 5 {
				_, err = s.CompactTombstones(ctx, v-5)
			}
			if err != nil {
				errc <- fmt.Errorf("compactor: %w", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})

	wg.Wait()
	close(done)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	seen := make(map[int64]int)
	want := make(map[string][]float32)
	for w, res := range results {
		for i, v := range res.versions {
			if i > 0 && v < res.versions[i-1] {
				t.Errorf("writer %d: version %d after %d", w, v, res.versions[i-1])
			}
			if i > 0 && v == res.versions[i-1] {
				continue // a write that changed nothing reports the same version
			}
			if other, ok := seen[v]; ok && other != w {
				t.Errorf("version %d returned to writers %d and %d", v, other, w)
			}
			seen[v] = w
		}
		for n, gen := range res.gens {
			want[testPaper(n, 0).ID] = testVector(testDim, n, gen)
		}
	}
	got := allPapers(t, s)
	if len(got) != len(want) {
		t.Errorf("store holds %d papers, writers acknowledged %d", len(got), len(want))
	}
	for id, vec := range want {
		if p, ok := got[id]; !ok || !slices.Equal(p.Vector, vec) {
			t.Errorf("paper %s: stored vector %v, want %v", id, p.Vector, vec)
		}
	}
	if live, fts := liveKeys(t, s), ftsKeys(t, s); !slices.Equal(live, fts) {
		t.Errorf("papers keys %v, FTS keys %v", live, fts)
	}
	mustCheck(t, s)
}
