package server

import (
	"math"
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// TestSearchMergesExactly checks that a search over four flat shards is
// the exact top k of the whole collection, batched, for several k, and
// that each hit names its shard and carries metadata.
func TestSearchMergesExactly(t *testing.T) {
	e := newEnv(t, envOptions{})
	g := synth.New(synth.Spec{Dim: testDim, Seed: 1}, 600)
	live := map[string]*indexv1.Paper{}
	var ps []*indexv1.Paper
	for n := range 600 {
		p := paperN(g, n)
		ps = append(ps, p)
		live[p.GetId()] = p
	}
	if resp := e.upsert(t, ps...); resp.GetInserted() != 600 || resp.GetReplaced() != 0 {
		t.Fatalf("upsert = %v, want 600 inserted", resp)
	}
	for _, k := range []int{1, 10, 100, 1000} {
		req := &indexv1.SearchRequest{K: int32(k), Model: testModel}
		for range 8 {
			req.Queries = append(req.Queries, &indexv1.Query{Vector: g.Vector()})
		}
		resp, err := e.client.Search(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(resp.GetShards(), []int32{0, 1, 2, 3}) || resp.GetNprobe() != 0 {
			t.Errorf("searched shards %v with nprobe %d, want all four, flat", resp.GetShards(), resp.GetNprobe())
		}
		for i, r := range resp.GetResults() {
			want := bruteForce(live, req.Queries[i].GetVector(), k, nil)
			if got := hitIDs(r); !slices.Equal(got, want) {
				t.Fatalf("k=%d query %d: %v, want %v", k, i, got, want)
			}
			for j, h := range r.GetHits() {
				if int(h.GetShard()) != shardset.ShardOf(h.GetId(), 4) {
					t.Fatalf("hit %s reports shard %d", h.GetId(), h.GetShard())
				}
				p := live[h.GetId()]
				want := proto.Clone(p).(*indexv1.Paper)
				want.Vector = nil
				want.PrimaryCategory = p.GetCategories()[0]
				if !proto.Equal(h.GetPaper(), want) {
					t.Fatalf("hit %s carries %v, want %v", h.GetId(), h.GetPaper(), want)
				}
				if h.GetDenseRank() < 1 || h.GetDenseScore() != h.GetScore() || (j > 0 && h.GetScore() > r.GetHits()[j-1].GetScore()) {
					t.Fatalf("hit %d: rank %d, score %v, dense score %v", j, h.GetDenseRank(), h.GetScore(), h.GetDenseScore())
				}
			}
		}
	}
	// A subset of shards searches only those.
	q := g.Vector()
	resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 5, Shards: []int32{2, 2}, Queries: []*indexv1.Query{{Vector: q}}})
	if err != nil {
		t.Fatal(err)
	}
	onShard2 := map[string]*indexv1.Paper{}
	for id, p := range live {
		if shardset.ShardOf(id, 4) == 2 {
			onShard2[id] = p
		}
	}
	if got, want := hitIDs(resp.GetResults()[0]), bruteForce(onShard2, q, 5, nil); !slices.Equal(got, want) || !slices.Equal(resp.GetShards(), []int32{2}) {
		t.Errorf("shard 2 only: %v on %v, want %v on [2]", got, resp.GetShards(), want)
	}
}

// TestExcludeAndFilter covers "similar papers": a paper's own vector with
// its id excluded returns the k nearest others; and exact category filters
// across shards, also on IVF shards at nprobe 1.
func TestExcludeAndFilter(t *testing.T) {
	for _, ivf := range []bool{false, true} {
		t.Run(map[bool]string{false: "flat", true: "ivf"}[ivf], func(t *testing.T) {
			e := newEnv(t, envOptions{})
			g := synth.New(synth.Spec{Dim: testDim, Seed: 2}, 800)
			live := map[string]*indexv1.Paper{}
			var ps []*indexv1.Paper
			for n := range 800 {
				p := paperN(g, n)
				ps = append(ps, p)
				live[p.GetId()] = p
			}
			e.upsert(t, ps...)
			if ivf {
				if _, err := e.client.TrainShards(ctxT(t), &indexv1.TrainShardsRequest{Nlist: 8}); err != nil {
					t.Fatal(err)
				}
			}
			self := ps[17]
			others := []string{ps[3].GetId(), ps[4].GetId(), ps[5].GetId()}
			resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 10, Nprobe: 8, Queries: []*indexv1.Query{
				{Vector: self.GetVector(), ExcludeIds: []string{self.GetId()}},
				{Vector: self.GetVector(), ExcludeIds: others},
				{Vector: self.GetVector()},
			}})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.GetResults()
			if got := hitIDs(r[0]); len(got) != 10 || slices.Contains(got, self.GetId()) {
				t.Errorf("excluding itself: %v", got)
			}
			if got := hitIDs(r[2]); got[0] != self.GetId() {
				t.Errorf("without exclusion, the paper's own vector finds %v first", got[0])
			}
			if !ivf {
				if got, want := hitIDs(r[0]), bruteForce(live, self.GetVector(), 10, nil, self.GetId()); !slices.Equal(got, want) {
					t.Errorf("excluding itself: %v, want %v", got, want)
				}
				if got, want := hitIDs(r[1]), bruteForce(live, self.GetVector(), 10, nil, others...); !slices.Equal(got, want) {
					t.Errorf("excluding others: %v, want %v", got, want)
				}
			}

			for _, tt := range []struct {
				cats []string
				k    int
				want int
			}{{[]string{"math.CO"}, 10, 10}, {[]string{"cs.DM"}, 1000, 160}, {[]string{"nucl-th"}, 10, 0}} {
				q := g.Vector()
				resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: int32(tt.k), Nprobe: 1, Categories: tt.cats,
					Queries: []*indexv1.Query{{Vector: q, ExcludeIds: []string{ps[0].GetId()}}}})
				if err != nil {
					t.Fatal(err)
				}
				got := hitIDs(resp.GetResults()[0])
				want := tt.want
				if want > 0 && want < tt.k {
					want-- // ps[0] is in math.CO/cs.DM and excluded
				}
				if len(got) != want {
					t.Errorf("categories %v k %d: %d hits, want %d", tt.cats, tt.k, len(got), want)
				}
				if !ivf {
					if w := bruteForce(live, q, tt.k, tt.cats, ps[0].GetId()); !slices.Equal(got, w) {
						t.Errorf("categories %v: %v, want %v", tt.cats, got, w)
					}
				}
				for _, id := range got {
					if !slices.ContainsFunc(live[id].GetCategories(), func(c string) bool { return slices.Contains(tt.cats, c) }) {
						t.Errorf("categories %v: hit %s in %v", tt.cats, id, live[id].GetCategories())
					}
				}
			}
		})
	}
}

func TestLexicalAndHybrid(t *testing.T) {
	e := newEnv(t, envOptions{})
	g := synth.New(synth.Spec{Dim: testDim, Seed: 3}, 200)
	var ps []*indexv1.Paper
	for n := range 200 {
		ps = append(ps, paperN(g, n))
	}
	ps[42].Title = "Quantum chromodynamics on the lattice"
	ps[43].Title = "Lattice gauge theory"
	ps[43].Abstract = "Chromodynamics simulations."
	e.upsert(t, ps...)

	resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 5, Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL,
		Queries: []*indexv1.Query{{Text: "chromodynamics"}, {Text: "chromodynamics", ExcludeIds: []string{ps[42].GetId()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := hitIDs(resp.GetResults()[0]); !slices.Equal(got, []string{ps[42].GetId(), ps[43].GetId()}) {
		t.Errorf("lexical: %v, want the title match, then the abstract match", got)
	}
	if got := hitIDs(resp.GetResults()[1]); !slices.Equal(got, []string{ps[43].GetId()}) {
		t.Errorf("lexical with exclusion: %v", got)
	}
	h := resp.GetResults()[0].GetHits()[0]
	if h.GetLexicalRank() != 1 || h.GetLexicalScore() <= 0 || h.GetDenseRank() != 0 {
		t.Errorf("lexical hit ranks: %v", h)
	}

	// Hybrid: the query vector is paper 43's, the text matches 42 and 43.
	resp, err = e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 10, Mode: indexv1.SearchMode_SEARCH_MODE_HYBRID,
		Queries: []*indexv1.Query{{Text: "chromodynamics", Vector: ps[43].GetVector()}}})
	if err != nil {
		t.Fatal(err)
	}
	hits := resp.GetResults()[0].GetHits()
	if len(hits) != 10 || hits[0].GetId() != ps[43].GetId() {
		t.Fatalf("hybrid: %v, want 10 hits, paper 43 first", hitIDs(resp.GetResults()[0]))
	}
	top := hits[0]
	want := float32(1/float64(60+top.GetDenseRank()) + 1/float64(60+top.GetLexicalRank()))
	if top.GetDenseRank() != 1 || top.GetLexicalRank() < 1 || math.Abs(float64(top.GetScore()-want)) > 1e-6 {
		t.Errorf("hybrid top hit %v: want dense rank 1, a lexical rank and score %v", top, want)
	}
	for _, h := range hits {
		if h.GetDenseRank() == 0 && h.GetLexicalRank() == 0 {
			t.Errorf("hybrid hit %s is in neither list", h.GetId())
		}
	}
}

func TestPapersStatsAndAdmin(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := ctxT(t)
	g := synth.New(synth.Spec{Dim: testDim, Seed: 4}, 100)
	var ps []*indexv1.Paper
	for n := range 100 {
		ps = append(ps, paperN(g, n))
	}
	e.upsert(t, ps...)
	// Replace one vector, change one title, repeat one unchanged.
	a, b := proto.Clone(ps[1]).(*indexv1.Paper), proto.Clone(ps[2]).(*indexv1.Paper)
	a.Vector = g.Vector()
	b.Title = "New title"
	if resp := e.upsert(t, a, b, ps[3], paperN(g, 100)); resp.GetInserted() != 1 || resp.GetReplaced() != 3 {
		t.Errorf("second upsert = %v, want 1 inserted, 3 replaced", resp)
	}

	got, err := e.client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: []string{a.GetId(), "2502.99999", b.GetId(), a.GetId()}, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetPapers()) != 2 || !slices.Equal(got.GetNotFoundIds(), []string{"2502.99999"}) {
		t.Fatalf("GetPapers = %v", got)
	}
	if !slices.Equal(got.GetPapers()[0].GetVector(), a.GetVector()) || got.GetPapers()[1].GetTitle() != "New title" {
		t.Errorf("GetPapers returned stale papers: %v", got.GetPapers())
	}

	del, err := e.client.DeletePapers(ctx, &indexv1.DeletePapersRequest{Ids: []string{ps[5].GetId(), "2502.88888", ps[10].GetId(), ps[5].GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(del.GetDeletedIds(), []string{ps[5].GetId(), ps[10].GetId()}) || !slices.Equal(del.GetNotFoundIds(), []string{"2502.88888"}) {
		t.Errorf("DeletePapers = %v", del)
	}

	cats, err := e.client.ListCategories(ctx, &indexv1.ListCategoriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// 99 papers: 0..100 less 5 and 10; multiples of 5 are math.CO + cs.DM.
	wantCats := []*indexv1.CategoryCount{
		{Category: "cs.LG", Primary: 80, Total: 80},
		{Category: "cs.DM", Primary: 0, Total: 19},
		{Category: "math.CO", Primary: 19, Total: 19},
	}
	if len(cats.GetCategories()) != 3 {
		t.Fatalf("ListCategories = %v", cats)
	}
	for i, c := range cats.GetCategories() {
		if !proto.Equal(c, wantCats[i]) {
			t.Errorf("ListCategories[%d] = %v, want %v", i, c, wantCats[i])
		}
	}

	stats, err := e.client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetModel() != testModel || stats.GetDimension() != testDim || stats.GetTotalShards() != 4 || stats.GetPapers() != 99 || len(stats.GetShards()) != 4 {
		t.Fatalf("GetStats = %v", stats)
	}
	for _, s := range stats.GetShards() {
		if s.GetIndexedVectors() != s.GetPapers() || s.GetKind() != indexv1.IndexKind_INDEX_KIND_FLAT || s.GetStoreVersion() < 1 {
			t.Errorf("shard stats %v", s)
		}
	}

	snap, err := e.client.SnapshotShards(ctx, &indexv1.SnapshotShardsRequest{Shards: []int32{1}})
	if err != nil {
		t.Fatal(err)
	}
	if s := snap.GetShards()[0]; len(snap.GetShards()) != 1 || s.GetSnapshotVersion() != s.GetStoreVersion() || s.GetSnapshotBytes() == 0 || s.GetSnapshotTime() == nil {
		t.Errorf("SnapshotShards = %v", snap)
	}
	tr, err := e.client.TrainShards(ctx, &indexv1.TrainShardsRequest{Shards: []int32{0}, Nlist: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s := tr.GetShards()[0]; s.GetKind() != indexv1.IndexKind_INDEX_KIND_IVF_FLAT || s.GetNlist() != 2 || s.GetDefaultNprobe() != 2 ||
		s.GetSnapshotVersion() != s.GetStoreVersion() {
		t.Errorf("TrainShards = %v", tr)
	}
	rl, err := e.client.ReloadShards(ctx, &indexv1.ReloadShardsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rl.GetShards() {
		if s.GetIndexedVectors() != s.GetPapers() {
			t.Errorf("after reload: %v", s)
		}
	}
	if rl.GetShards()[0].GetKind() != indexv1.IndexKind_INDEX_KIND_IVF_FLAT {
		t.Errorf("shard 0 reloaded as %v, want the trained IVF", rl.GetShards()[0].GetKind())
	}
	resp, err := e.client.Search(ctx, &indexv1.SearchRequest{K: 3, Nprobe: 100, Queries: []*indexv1.Query{{Vector: a.GetVector()}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNprobe() != 2 || resp.GetResults()[0].GetHits()[0].GetId() != a.GetId() {
		t.Errorf("search after training: nprobe %d (want 2, clamped), first hit %v", resp.GetNprobe(), resp.GetResults()[0].GetHits()[0].GetId())
	}
}

// TestPartialOwnership runs an instance owning shards 0 and 2 of 4.
func TestPartialOwnership(t *testing.T) {
	e := newEnv(t, envOptions{owned: "0,2"})
	ctx := ctxT(t)
	g := synth.New(synth.Spec{Dim: testDim, Seed: 5}, 100)
	var mine []*indexv1.Paper
	var foreign *indexv1.Paper
	for n := 0; len(mine) < 20 || foreign == nil; n++ {
		p := paperN(g, n)
		if s := shardset.ShardOf(p.GetId(), 4); s == 0 || s == 2 {
			mine = append(mine, p)
		} else if foreign == nil {
			foreign = p
		}
	}
	e.upsert(t, mine...)
	_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: testModel, Papers: append([]*indexv1.Paper{foreign}, mine[0])})
	wantCode(t, "upsert of a foreign paper", err, codes.FailedPrecondition,
		foreign.GetId(), "shard "+string(rune('0'+shardset.ShardOf(foreign.GetId(), 4))), "owns 0,2")
	stats, err := e.client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetTotalShards() != 4 || len(stats.GetShards()) != 2 || stats.GetShards()[0].GetShard() != 0 || stats.GetShards()[1].GetShard() != 2 || stats.GetPapers() != 20 {
		t.Errorf("GetStats = %v", stats)
	}
	_, err = e.client.Search(ctx, &indexv1.SearchRequest{K: 1, Shards: []int32{0, 1}, Queries: []*indexv1.Query{{Vector: g.Vector()}}})
	wantCode(t, "search of shard 1", err, codes.FailedPrecondition, "shards[1] = 1", "owns 0,2")
	got, err := e.client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: []string{foreign.GetId(), mine[0].GetId()}})
	if err != nil || len(got.GetPapers()) != 1 || !slices.Equal(got.GetNotFoundIds(), []string{foreign.GetId()}) {
		t.Errorf("GetPapers = %v, %v", got, err)
	}
}

// TestEmptyCollection checks the calls before the first upsert.
func TestEmptyCollection(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := ctxT(t)
	resp, err := e.client.Search(ctx, &indexv1.SearchRequest{K: 3, Queries: []*indexv1.Query{{Vector: []float32{1, 0}}, {Vector: []float32{0, 1}}}})
	if err != nil || len(resp.GetResults()) != 2 || len(resp.GetResults()[0].GetHits()) != 0 {
		t.Errorf("Search on an empty collection = %v, %v", resp, err)
	}
	stats, err := e.client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil || stats.GetModel() != "" || len(stats.GetShards()) != 4 || stats.GetShards()[3].GetKind() != indexv1.IndexKind_INDEX_KIND_UNSPECIFIED {
		t.Errorf("GetStats on an empty collection = %v, %v", stats, err)
	}
	del, err := e.client.DeletePapers(ctx, &indexv1.DeletePapersRequest{Ids: []string{"2501.00001"}})
	if err != nil || len(del.GetNotFoundIds()) != 1 {
		t.Errorf("DeletePapers on an empty collection = %v, %v", del, err)
	}
	_, err = e.client.TrainShards(ctx, &indexv1.TrainShardsRequest{})
	wantCode(t, "TrainShards on an empty collection", err, codes.FailedPrecondition, "empty")
}

// TestUnavailableWhileLoading checks the answers before SetCollection.
func TestUnavailableWhileLoading(t *testing.T) {
	s := New(Options{TotalShards: 4, Owned: []int{0, 1, 2, 3}})
	ctx := ctxT(t)
	_, err := s.Search(ctx, &indexv1.SearchRequest{K: 1, Queries: []*indexv1.Query{{Vector: []float32{1}}}})
	wantCode(t, "Search while loading", err, codes.Unavailable, "loading")
	_, err = s.GetStats(ctx, &indexv1.GetStatsRequest{})
	wantCode(t, "GetStats while loading", err, codes.Unavailable, "loading")
	_, err = s.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{})
	wantCode(t, "UpsertPapers while loading", err, codes.Unavailable, "loading")
}
