package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"golang.org/x/sync/errgroup"
)

// TestConcurrentReadWrite runs searches (dense, filtered, hybrid) from
// several clients while others upsert, replace and delete papers, and
// snapshots, reloads and background trainings happen, over four shards
// small enough to be trained into IVF during the test. Run it with -race.
// At the end every shard's index must hold exactly its store's papers, and
// every paper ever written must be found by its own vector (dense) iff
// lexical search finds it iff it was acknowledged and not deleted since.
func TestConcurrentReadWrite(t *testing.T) {
	cfg := shard.DefaultConfig()
	cfg.FlatThreshold = 150
	cfg.TrainPointsPerList = 39
	cfg.SnapshotEveryChanges = 100
	e := newEnv(t, envOptions{cfg: cfg})
	const writers, rounds, batch = 2, 25, 20
	gens := make([]*synth.Generator, writers+1)
	for i := range gens {
		gens[i] = synth.New(synth.Spec{Dim: testDim, Seed: uint64(100 + i)}, 1000)
	}
	var mu sync.Mutex
	live := map[string]*indexv1.Paper{}
	written := map[string]*indexv1.Paper{} // the last version of every paper ever written
	ctx := ctxT(t)
	stop := make(chan struct{})
	// The first upsert creates the shards; admin calls need them.
	seed := paperN(gens[writers], 999_999)
	e.upsert(t, seed)
	live[seed.GetId()] = seed
	written[seed.GetId()] = seed

	g, gctx := errgroup.WithContext(ctx)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			gen := gens[w]
			for r := range rounds {
				var ps []*indexv1.Paper
				for i := range batch {
					p := paperN(gen, w*100_000+r*batch+i)
					ps = append(ps, p)
				}
				if r > 0 { // replace a vector written earlier
					p := paperN(gen, w*100_000+(r-1)*batch)
					ps = append(ps, p)
				}
				if _, err := e.client.UpsertPapers(gctx, &indexv1.UpsertPapersRequest{Model: testModel, Papers: ps}); err != nil {
					return fmt.Errorf("upsert: %w", err)
				}
				mu.Lock()
				for _, p := range ps {
					live[p.GetId()] = p
					written[p.GetId()] = p
				}
				mu.Unlock()
				if r%3 == 2 {
					id := fmt.Sprintf("2502.%05d", w*100_000+(r-1)*batch+5)
					if _, err := e.client.DeletePapers(gctx, &indexv1.DeletePapersRequest{Ids: []string{id}}); err != nil {
						return fmt.Errorf("delete: %w", err)
					}
					mu.Lock()
					delete(live, id)
					mu.Unlock()
				}
			}
			return nil
		})
	}
	for r := range 3 {
		g.Go(func() error {
			gen := synth.New(synth.Spec{Dim: testDim, Seed: uint64(200 + r)}, 1000)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return nil
				default:
				}
				req := &indexv1.SearchRequest{K: 10, Queries: []*indexv1.Query{{Vector: gen.Vector(), Text: "paper number"}, {Vector: gen.Vector(), Text: "study"}}}
				switch i % 3 {
				case 1:
					req.Categories = []string{"math.CO"}
				case 2:
					req.Mode = indexv1.SearchMode_SEARCH_MODE_HYBRID
				}
				resp, err := e.client.Search(gctx, req)
				if err != nil {
					return fmt.Errorf("search: %w", err)
				}
				for _, res := range resp.GetResults() {
					for _, h := range res.GetHits() {
						if h.GetPaper().GetId() != h.GetId() {
							return fmt.Errorf("hit %s carries paper %s", h.GetId(), h.GetPaper().GetId())
						}
					}
				}
			}
		})
	}
	g.Go(func() error { // admin traffic
		for i := 0; ; i++ {
			select {
			case <-stop:
				return nil
			default:
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = e.client.SnapshotShards(gctx, &indexv1.SnapshotShardsRequest{})
			case 1:
				_, err = e.client.GetStats(gctx, &indexv1.GetStatsRequest{})
			case 2:
				_, err = e.client.ReloadShards(gctx, &indexv1.ReloadShardsRequest{Shards: []int32{int32(i % 4)}})
			}
			if err != nil && gctx.Err() == nil {
				return fmt.Errorf("admin call %d: %w", i%3, err)
			}
		}
	})
	go func() { wg.Wait(); close(stop) }()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// Let background trainings finish, then check consistency.
	shards, err := e.coll.Shards(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		if err := s.Train(context.Background(), 0); err != nil {
			t.Fatalf("shard %d: %v", s.ID(), err)
		}
	}
	stats, err := e.client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetPapers() != int64(len(live)) {
		t.Errorf("%d papers stored, want %d", stats.GetPapers(), len(live))
	}
	for _, s := range stats.GetShards() {
		if s.GetIndexedVectors() != s.GetPapers() || s.GetKind() != indexv1.IndexKind_INDEX_KIND_IVF_FLAT {
			t.Errorf("shard stats %v", s)
		}
	}
	checkDenseLexicalAgree(t, e, written, live)
}

// checkDenseLexicalAgree checks that the papers found by dense search, by
// lexical search and by id are the same set, the acknowledged papers not
// deleted since (live), compared in full: every paper ever written
// (written holds the last version of each) is searched by its own vector,
// which finds it first iff its vector is indexed; the lexical set is every
// paper a word in every title finds, shard by shard, with k above the
// shard's size (one query per shard: the race detector makes a query per
// paper take half a minute).
func checkDenseLexicalAgree(t *testing.T, e *env, written, live map[string]*indexv1.Paper) {
	t.Helper()
	ctx := ctxT(t)
	ids := slices.Sorted(maps.Keys(written))
	got, err := e.client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: ids})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, p := range got.GetPapers() {
		stored[p.GetId()] = true
	}
	dense := map[string]bool{}
	for lo := 0; lo < len(ids); lo += MaxQueries {
		batch := ids[lo:min(lo+MaxQueries, len(ids))]
		var queries []*indexv1.Query
		for _, id := range batch {
			queries = append(queries, &indexv1.Query{Vector: written[id].GetVector()})
		}
		resp, err := e.client.Search(ctx, &indexv1.SearchRequest{K: 1, Nprobe: 1, Queries: queries})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range batch {
			if h := hitIDs(resp.GetResults()[i]); len(h) == 1 && h[0] == id {
				dense[id] = true
			}
		}
	}
	lexical := map[string]bool{}
	for sh := range e.total {
		resp, err := e.client.Search(ctx, &indexv1.SearchRequest{K: DefaultMaxK, Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL,
			Shards: []int32{int32(sh)}, Queries: []*indexv1.Query{{Text: "paper"}}})
		if err != nil {
			t.Fatal(err)
		}
		hits := resp.GetResults()[0].GetHits()
		if len(hits) == DefaultMaxK {
			t.Fatalf("shard %d: %d lexical hits, the most one search returns: the test needs fewer papers per shard", sh, len(hits))
		}
		for _, h := range hits {
			if lexical[h.GetId()] || shardset.ShardOf(h.GetId(), e.total) != sh || written[h.GetId()] == nil {
				t.Errorf("shard %d: unexpected lexical hit %s", sh, h.GetId())
			}
			lexical[h.GetId()] = true
		}
	}
	for _, id := range ids {
		_, isLive := live[id]
		if dense[id] != isLive || lexical[id] != isLive || stored[id] != isLive {
			t.Errorf("paper %s: acknowledged and not deleted %v, stored %v, found by its vector %v, lexically %v",
				id, isLive, stored[id], dense[id], lexical[id])
		}
	}
}
