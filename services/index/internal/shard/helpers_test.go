package shard

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
)

// The tests use the real FAISS library and real SQLite stores in temporary
// directories. Most use 32-dimensional vectors to stay fast under -race;
// the recall test uses 384 like the service's model.

const (
	testDim   = 32
	testModel = "test-model"
)

// testConfig keeps shards flat unless a test trains them, and leaves
// snapshots to the test.
func testConfig() Config {
	c := DefaultConfig()
	c.FlatThreshold = 0
	c.SnapshotEveryChanges = 0
	return c
}

type testShard struct {
	*Shard
	m *metrics.Metrics
}

func openShard(t testing.TB, dir string, cfg Config) testShard {
	t.Helper()
	m := metrics.New(nil)
	s, err := Open(context.Background(), Options{ID: 3, Dir: dir, Model: testModel, Dim: testDim, Config: cfg, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background(), false) })
	return testShard{s, m}
}

// papers builds papers n0..n0+n-1 with vectors from g; every tenth is in
// math.CO, the others in cs.LG (and every third also in stat.ML).
func papers(g *synth.Generator, n0, n int) []store.Paper {
	out := make([]store.Paper, n)
	for i := range out {
		k := n0 + i
		cats := []string{"cs.LG"}
		if k%10 == 0 {
			cats = []string{"math.CO"}
		} else if k%3 == 0 {
			cats = append(cats, "stat.ML")
		}
		out[i] = store.Paper{
			ID: fmt.Sprintf("2501.%05d", k), Title: fmt.Sprintf("Paper %d", k),
			Abstract: "An abstract.", Categories: cats, Vector: g.Vector(),
		}
	}
	return out
}

func mustUpsert(t testing.TB, s *Shard, ps []store.Paper) store.UpsertResult {
	t.Helper()
	res, err := s.Upsert(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// exact is a brute-force top-k over the live papers of live (id -> paper),
// restricted to papers in any of cats when cats is set. It returns ids.
func exact(live map[string]store.Paper, q []float32, k int, cats []string) []string {
	type hit struct {
		id    string
		score float32
	}
	var hits []hit
	for id, p := range live {
		if len(cats) > 0 && !slices.ContainsFunc(p.Categories, func(c string) bool { return slices.Contains(cats, c) }) {
			continue
		}
		var s float32
		for j := range q {
			s += q[j] * p.Vector[j]
		}
		hits = append(hits, hit{id, s})
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(b.score, a.score) })
	var out []string
	for _, h := range hits[:min(k, len(hits))] {
		out = append(out, h.id)
	}
	return out
}

// ids turns one query's hits into arXiv ids through the store.
func ids(t testing.TB, s *Shard, hits []Hit) []string {
	t.Helper()
	keys := make([]int64, len(hits))
	for i, h := range hits {
		keys[i] = h.Key
	}
	got, err := s.Store().GetByKeys(context.Background(), keys, false)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		p, ok := got[h.Key]
		if !ok {
			t.Fatalf("hit key %d is not in the store", h.Key)
		}
		out[i] = p.ID
	}
	return out
}
