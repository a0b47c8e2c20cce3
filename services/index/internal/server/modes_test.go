package server

import (
	"math"
	"slices"
	"testing"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/protobuf/proto"
)

// TestCategoriesInEveryMode checks that a category filter applies to
// lexical and hybrid searches as it does to dense ones (TestExcludeAndFilter),
// on flat and IVF shards: only papers listed in a filter category come
// back, all of them when k allows.
func TestCategoriesInEveryMode(t *testing.T) {
	for _, ivf := range []bool{false, true} {
		t.Run(map[bool]string{false: "flat", true: "ivf"}[ivf], func(t *testing.T) {
			e := newEnv(t, envOptions{})
			g := synth.New(synth.Spec{Dim: testDim, Seed: 4}, 200)
			live := map[string]*indexv1.Paper{}
			var ps []*indexv1.Paper
			var inCO []string // every fifth paper is in math.CO and cs.DM
			for n := range 200 {
				p := paperN(g, n)
				ps = append(ps, p)
				live[p.GetId()] = p
				if n%5 == 0 {
					inCO = append(inCO, p.GetId())
				}
			}
			e.upsert(t, ps...)
			if ivf {
				if _, err := e.client.TrainShards(ctxT(t), &indexv1.TrainShardsRequest{Nlist: 4}); err != nil {
					t.Fatal(err)
				}
			}
			lexical, hybrid := indexv1.SearchMode_SEARCH_MODE_LEXICAL, indexv1.SearchMode_SEARCH_MODE_HYBRID
			for _, tt := range []struct {
				name  string
				mode  indexv1.SearchMode
				q     *indexv1.Query
				cats  []string
				k     int32
				want  []string // exactly, in any order; nil: check k hits in the categories only
				never string   // a paper that matches the text but not the filter
			}{
				{"lexical, every paper matches", lexical, &indexv1.Query{Text: "paper"}, []string{"cs.DM"}, 1000, inCO, ps[1].GetId()},
				{"lexical, cross-list", lexical, &indexv1.Query{Text: "paper"}, []string{"nucl-th", "cs.DM"}, 10, nil, ps[1].GetId()},
				{"lexical, one of two words in the category", lexical, &indexv1.Query{Text: "w5 w6"}, []string{"math.CO"}, 10, []string{ps[5].GetId()}, ps[6].GetId()},
				{"lexical, no match in the category", lexical, &indexv1.Query{Text: "w6"}, []string{"math.CO"}, 10, []string{}, ps[6].GetId()},
				{"lexical, empty category", lexical, &indexv1.Query{Text: "paper"}, []string{"nucl-th"}, 10, []string{}, ps[5].GetId()},
				{"hybrid, every paper", hybrid, &indexv1.Query{Text: "w6 w5", Vector: ps[6].GetVector()}, []string{"math.CO"}, 1000, inCO, ps[6].GetId()},
				{"hybrid, top k", hybrid, &indexv1.Query{Text: "w6 w5", Vector: ps[6].GetVector()}, []string{"math.CO"}, 10, nil, ps[6].GetId()},
				{"hybrid, empty category", hybrid, &indexv1.Query{Text: "paper", Vector: ps[6].GetVector()}, []string{"nucl-th"}, 10, []string{}, ps[6].GetId()},
			} {
				resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: tt.k, Nprobe: 1, Mode: tt.mode, Categories: tt.cats,
					Queries: []*indexv1.Query{tt.q}})
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				hits := resp.GetResults()[0].GetHits()
				got := hitIDs(resp.GetResults()[0])
				for _, h := range hits {
					if !slices.ContainsFunc(h.GetPaper().GetCategories(), func(c string) bool { return slices.Contains(tt.cats, c) }) {
						t.Errorf("%s: hit %s is in %v", tt.name, h.GetId(), h.GetPaper().GetCategories())
					}
				}
				if slices.Contains(got, tt.never) {
					t.Errorf("%s: %s, outside %v, is among %v", tt.name, tt.never, tt.cats, got)
				}
				if tt.want == nil {
					if len(got) != int(tt.k) {
						t.Errorf("%s: %d hits, want %d", tt.name, len(got), tt.k)
					}
					continue
				}
				slices.Sort(got)
				if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
					t.Errorf("%s: %v, want %v", tt.name, got, want)
				}
			}
			// In hybrid mode the lexical match in the category is found
			// by both lists.
			resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 10, Mode: hybrid, Categories: []string{"math.CO"},
				Queries: []*indexv1.Query{{Text: "w5", Vector: ps[5].GetVector()}}})
			if err != nil {
				t.Fatal(err)
			}
			if h := resp.GetResults()[0].GetHits(); len(h) == 0 || h[0].GetId() != ps[5].GetId() || h[0].GetDenseRank() != 1 || h[0].GetLexicalRank() != 1 {
				t.Errorf("hybrid w5 in math.CO by its own vector: %v", h)
			}
		})
	}
}

// TestHybridMatchRanks checks that every hybrid hit says which lists it
// came from and its ranks and scores there: they are its positions and
// scores in its shard's dense and lexical lists for the same query, and
// its score is their reciprocal rank fusion.
func TestHybridMatchRanks(t *testing.T) {
	e := newEnv(t, envOptions{})
	g := synth.New(synth.Spec{Dim: testDim, Seed: 5}, 300)
	var ps []*indexv1.Paper
	for n := range 300 {
		p := paperN(g, n)
		if n%7 == 0 {
			p.Abstract = "We study lattice chromodynamics."
		}
		ps = append(ps, p)
	}
	e.upsert(t, ps...)
	q := &indexv1.Query{Text: "chromodynamics w3 w8", Vector: ps[3].GetVector()}
	const k, rrfK = 10, 20
	resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: k, RrfK: rrfK, Mode: indexv1.SearchMode_SEARCH_MODE_HYBRID, Queries: []*indexv1.Query{q}})
	if err != nil {
		t.Fatal(err)
	}
	hits := resp.GetResults()[0].GetHits()
	if len(hits) != k {
		t.Fatalf("%d hybrid hits, want %d", len(hits), k)
	}
	// The lists of one shard, as dense and lexical searches of that shard
	// alone return them.
	type ranked struct {
		rank  int32
		score float32
	}
	lists := map[int32]map[indexv1.SearchMode]map[string]ranked{}
	list := func(shard int32, mode indexv1.SearchMode) map[string]ranked {
		if lists[shard] == nil {
			lists[shard] = map[indexv1.SearchMode]map[string]ranked{}
		}
		if l, ok := lists[shard][mode]; ok {
			return l
		}
		r, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: k, Mode: mode, Shards: []int32{shard}, Queries: []*indexv1.Query{q}})
		if err != nil {
			t.Fatal(err)
		}
		l := map[string]ranked{}
		for i, h := range r.GetResults()[0].GetHits() {
			l[h.GetId()] = ranked{int32(i + 1), h.GetScore()}
		}
		lists[shard][mode] = l
		return l
	}
	both := 0
	for _, h := range hits {
		d := list(h.GetShard(), indexv1.SearchMode_SEARCH_MODE_DENSE)[h.GetId()]
		l := list(h.GetShard(), indexv1.SearchMode_SEARCH_MODE_LEXICAL)[h.GetId()]
		if h.GetDenseRank() != d.rank || h.GetDenseScore() != d.score || h.GetLexicalRank() != l.rank || h.GetLexicalScore() != l.score {
			t.Errorf("hit %s of shard %d: dense %d/%v, lexical %d/%v; its shard's lists have it at dense %v, lexical %v",
				h.GetId(), h.GetShard(), h.GetDenseRank(), h.GetDenseScore(), h.GetLexicalRank(), h.GetLexicalScore(), d, l)
		}
		var want float64
		for _, r := range []int32{d.rank, l.rank} {
			if r > 0 {
				want += 1 / float64(rrfK+r)
			}
		}
		if want == 0 || math.Abs(float64(h.GetScore())-want) > 1e-6 {
			t.Errorf("hit %s: score %v, want %v from ranks %d and %d", h.GetId(), h.GetScore(), want, d.rank, l.rank)
		}
		if d.rank > 0 && l.rank > 0 {
			both++
		}
	}
	if hits[0].GetId() != ps[3].GetId() || both == 0 {
		t.Errorf("hybrid hits %v: want paper 3 first, and some hit from both lists", hitIDs(resp.GetResults()[0]))
	}
}

// TestOmitPapersKeepsTheRanking checks that a ranking without metadata is
// the ranking with it, hit for hit, in every mode, and that a paper deleted
// is absent from both.
func TestOmitPapersKeepsTheRanking(t *testing.T) {
	e := newEnv(t, envOptions{})
	g := synth.New(synth.Spec{Dim: testDim, Seed: 9}, 120)
	var ps []*indexv1.Paper
	for n := range 120 {
		ps = append(ps, paperN(g, n))
	}
	e.upsert(t, ps...)
	if _, err := e.client.DeletePapers(ctxT(t), &indexv1.DeletePapersRequest{Ids: []string{ps[7].GetId()}}); err != nil {
		t.Fatal(err)
	}
	q := &indexv1.Query{Text: "w7 w8 paper", Vector: ps[7].GetVector()}
	for _, mode := range []indexv1.SearchMode{indexv1.SearchMode_SEARCH_MODE_DENSE, indexv1.SearchMode_SEARCH_MODE_LEXICAL, indexv1.SearchMode_SEARCH_MODE_HYBRID} {
		search := func(omit bool) []*indexv1.Hit {
			resp, err := e.client.Search(ctxT(t), &indexv1.SearchRequest{K: 50, Mode: mode, Queries: []*indexv1.Query{q}, OmitPapers: omit})
			if err != nil {
				t.Fatalf("%v, omit %v: %v", mode, omit, err)
			}
			return resp.GetResults()[0].GetHits()
		}
		full, bare := search(false), search(true)
		if len(full) == 0 || len(full) != len(bare) {
			t.Fatalf("%v: %d hits with papers, %d without", mode, len(full), len(bare))
		}
		for i := range full {
			f, b := full[i], bare[i]
			if b.GetPaper() != nil {
				t.Errorf("%v: hit %d carries a paper", mode, i)
			}
			if f.GetPaper().GetTitle() == "" {
				t.Errorf("%v: hit %d without omit_papers has no title", mode, i)
			}
			f.Paper = nil
			if !proto.Equal(f, b) {
				t.Errorf("%v: hit %d is %v with papers, %v without", mode, i, f, b)
			}
			if b.GetId() == ps[7].GetId() {
				t.Errorf("%v: deleted paper ranked", mode)
			}
		}
	}
}
