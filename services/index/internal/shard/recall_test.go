package shard

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
)

// TestRecallAtDefaultNprobe checks the default configuration end to end on
// a shard of 20,000 clustered 384-dimensional vectors shaped like real
// embeddings (package synth): trained with the automatic nlist and searched
// with the default nprobe, IVF must find at least 95% of the exact top 10.
// docs/benchmarks.md (section Index) has the curve at 100k and 1M.
func TestRecallAtDefaultNprobe(t *testing.T) {
	if testing.Short() {
		t.Skip("stores and trains 20,000 384-d vectors")
	}
	const dim, n, nq, k = 384, 20_000, 200, 10
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.FlatThreshold = 0 // trained explicitly below
	s, err := Open(ctx, Options{ID: 0, Dir: t.TempDir(), Model: testModel, Dim: dim, Config: cfg, Metrics: metrics.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx, false)

	g := synth.New(synth.Spec{Dim: dim, Seed: 11}, n)
	flat, err := faiss.NewFlat(dim)
	if err != nil {
		t.Fatal(err)
	}
	defer flat.Close()
	t0 := time.Now()
	const batch = 2000
	for i := 0; i < n; i += batch {
		ps := make([]store.Paper, batch)
		keys := make([]int64, batch)
		var vecs []float32
		for j := range ps {
			ps[j] = store.Paper{ID: fmt.Sprintf("p%d", i+j), Vector: g.Vector()}
			vecs = append(vecs, ps[j].Vector...)
		}
		res, err := s.Upsert(ctx, ps)
		if err != nil {
			t.Fatal(err)
		}
		for j, it := range res.Items {
			keys[j] = it.Key
		}
		if err := flat.Add(keys, vecs); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stored in %v", time.Since(t0))
	t0 = time.Now()
	if err := s.Train(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("trained in %v", time.Since(t0))
	st := s.Gauges()
	if st.Kind != faiss.KindIVFFlat || st.Nlist != AutoNlist(n) {
		t.Fatalf("trained %v with nlist %d, want ivf_flat with %d", st.Kind, st.Nlist, AutoNlist(n))
	}

	queries := g.Vectors(nq)
	_, truth, err := flat.Search(queries, k, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SearchDense(ctx, queries, k, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nprobe != cfg.DefaultNprobe {
		t.Fatalf("searched with nprobe %d, want the default %d", res.Nprobe, cfg.DefaultNprobe)
	}
	found := 0
	for q := range nq {
		got := make([]int64, len(res.Hits[q]))
		for i, h := range res.Hits[q] {
			got[i] = h.Key
		}
		for _, key := range truth[q*k : (q+1)*k] {
			if slices.Contains(got, key) {
				found++
			}
		}
	}
	recall := float64(found) / float64(nq*k)
	t.Logf("recall@%d = %.3f at nprobe %d of nlist %d", k, recall, res.Nprobe, st.Nlist)
	if recall < 0.95 {
		t.Errorf("recall@%d = %.3f at the default nprobe %d (nlist %d), want >= 0.95", k, recall, res.Nprobe, st.Nlist)
	}
	// A small nprobe must do measurably worse, or this data does not test
	// the choice of nprobe at all.
	low, err := s.SearchDense(ctx, queries, k, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	found = 0
	for q := range nq {
		for _, h := range low.Hits[q] {
			if slices.Contains(truth[q*k:(q+1)*k], h.Key) {
				found++
			}
		}
	}
	if lowRecall := float64(found) / float64(nq*k); lowRecall > 0.9 {
		t.Errorf("recall@%d at nprobe 2 is %.3f: the data is too easy to tell nprobe settings apart", k, lowRecall)
	}
}
