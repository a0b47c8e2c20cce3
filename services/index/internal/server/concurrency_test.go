package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
// every live paper must be found by its own vector.
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
	ctx := ctxT(t)
	stop := make(chan struct{})
	// The first upsert creates the shards; admin calls need them.
	seed := paperN(gens[writers], 999_999)
	e.upsert(t, seed)
	live[seed.GetId()] = seed

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
	var queries []*indexv1.Query
	var want []string
	for id, p := range live {
		queries = append(queries, &indexv1.Query{Vector: p.GetVector()})
		want = append(want, id)
	}
	resp, err := e.client.Search(ctx, &indexv1.SearchRequest{K: 1, Nprobe: 1, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.GetResults() {
		if got := hitIDs(r); len(got) != 1 || got[0] != want[i] {
			t.Errorf("paper %s searched by its own vector: %v", want[i], got)
		}
	}
}
