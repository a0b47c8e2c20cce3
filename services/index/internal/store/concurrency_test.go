package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentReadersAndWriters runs writers on disjoint ids alongside
// readers of every kind (run it with -race), then checks that the final
// store is exactly what the writers acknowledged. Upserts, vector
// replacements, metadata updates and deletes interleave; one reader checks,
// in read snapshots taken while they do, that the vectors (the ANN index's
// source) and the FTS index hold the same set of papers, which only holds
// if every write updates both in one transaction.
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
		renamed  map[int]int // paper number -> round of its last title change; absent if none
		maxGen   map[int]int // paper number -> largest generation ever written
		versions []int64     // versions of this writer's changing writes, in order
	}
	results := make([]result, writers)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, writers+readers+1)

	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			res := result{gens: make(map[int]int), renamed: make(map[int]int), maxGen: make(map[int]int)}
			for round := range rounds {
				var err error
				var v int64
				if op := rng.IntN(5); op == 0 && len(res.gens) > 0 {
					var ids []string
					for n := range res.gens {
						ids = append(ids, testPaper(n, 0).ID)
						delete(res.gens, n)
						delete(res.renamed, n)
						if len(ids) == 2 {
							break
						}
					}
					v, _, err = s.Delete(ctx, ids)
				} else if op == 1 && len(res.gens) > 0 {
					// Same vector, new title: the key stays and only the
					// FTS entry changes.
					var batch []Paper
					for n, gen := range res.gens {
						batch = append(batch, renamedPaper(n, gen, round))
						res.renamed[n] = round
						if len(batch) == 2 {
							break
						}
					}
					var r UpsertResult
					r, err = s.Upsert(ctx, batch)
					v = r.Version
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
						delete(res.renamed, n)
						res.maxGen[n] = max(res.maxGen[n], res.gens[n])
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
					switch (r + i) % 5 {
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
					case 4:
						err = snapshotAgrees(ctx, s)
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
	wantTitle := make(map[string]string)
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
			wantTitle[testPaper(n, 0).ID] = testPaper(n, gen).Title
			if round, ok := res.renamed[n]; ok {
				wantTitle[testPaper(n, 0).ID] = renamedPaper(n, gen, round).Title
			}
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
	for id, title := range wantTitle {
		if p := got[id]; p.Title != title {
			t.Errorf("paper %s: stored title %q, want %q", id, p.Title, title)
		}
	}
	if live, fts := liveKeys(t, s), ftsKeys(t, s); !slices.Equal(live, fts) {
		t.Errorf("papers keys %v, FTS keys %v", live, fts)
	}
	if err := snapshotAgrees(ctx, s); err != nil {
		t.Error(err)
	}
	mustCheck(t, s)

	// Every paper ever written, by its own words: the word unique to it
	// finds it iff it is stored, and finds the key that holds its vector;
	// of the words unique to its versions (abstract per vector generation,
	// title per rename), only the stored version's do.
	search := func(query string) []LexicalHit {
		t.Helper()
		hits, err := s.SearchLexical(ctx, query, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	for _, res := range results {
		for n, top := range res.maxGen {
			id := testPaper(n, 0).ID
			p, live := got[id]
			if hits := search(fmt.Sprintf("uniq%dx", n)); live != (len(hits) > 0) || live && (len(hits) != 1 || hits[0].Key != p.Key) {
				t.Errorf("paper %s (stored %v, key %d): its word finds %v", id, live, p.Key, hits)
			}
			var current, stale []string
			for gen := 1; gen <= top; gen++ {
				w := fmt.Sprintf("gen%dy%dz", gen, n)
				if live && gen == res.gens[n] {
					current = append(current, w)
				} else {
					stale = append(stale, w)
				}
			}
			renamed, isRenamed := res.renamed[n]
			for round := range rounds {
				w := fmt.Sprintf("renamed%dr%dx", n, round)
				if live && isRenamed && round == renamed {
					current = append(current, w)
				} else {
					stale = append(stale, w)
				}
			}
			for _, w := range current {
				if hits := search(w); len(hits) != 1 || hits[0].Key != p.Key {
					t.Errorf("paper %s (key %d): the word %s of its stored version finds %v", id, p.Key, w, hits)
				}
			}
			if hits := search(strings.Join(stale, " ")); len(hits) != 0 {
				t.Errorf("paper %s: words of versions it no longer has (%v) find %v", id, stale, hits)
			}
		}
	}
}

// renamedPaper is paper n of generation gen (same vector, so the same key)
// with a title unique to the round that renamed it.
func renamedPaper(n, gen, round int) Paper {
	p := testPaper(n, gen)
	p.Title = fmt.Sprintf("Paper uniq%dx renamed%dr%dx on sparse attention", n, n, round)
	return p
}

// snapshotAgrees checks, in one read snapshot, that the keys of the stored
// vectors (what the ANN index is built and replayed from), the documents of
// the FTS index and the papers an FTS query for a word in every title
// matches are the same set. A write whose FTS change committed separately
// from its rows would be seen here half done.
func snapshotAgrees(ctx context.Context, s *Store) error {
	return s.readTx(ctx, func(tx *sql.Tx) error {
		var sets [3][]int64
		for i, q := range []string{
			`SELECT key FROM papers ORDER BY key`,
			`SELECT id FROM papers_fts_docsize ORDER BY id`,
			`SELECT rowid FROM papers_fts WHERE papers_fts MATCH '"sparse"' ORDER BY rowid`,
		} {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			for rows.Next() {
				var k int64
				if err := rows.Scan(&k); err != nil {
					rows.Close()
					return err
				}
				sets[i] = append(sets[i], k)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if !slices.Equal(sets[0], sets[1]) || !slices.Equal(sets[0], sets[2]) {
			return fmt.Errorf("one snapshot: vector keys %v, FTS documents %v, FTS matches %v", sets[0], sets[1], sets[2])
		}
		return nil
	})
}
