package eval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
)

func hits(docs ...int32) []Hit {
	out := make([]Hit, len(docs))
	for i, d := range docs {
		out[i] = Hit{Doc: d, Score: float32(len(docs) - i)}
	}
	return out
}

func scored(pairs ...float32) []Hit {
	var out []Hit
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Hit{Doc: int32(pairs[i]), Score: pairs[i+1]})
	}
	return out
}

func TestFuseShard(t *testing.T) {
	rrf := func(k int, wl float64) Fusion { return Fusion{RRFK: k, WDense: 1, WLex: wl} }
	tests := []struct {
		name       string
		f          Fusion
		dense, lex []Hit
		k          int
		want       []int32
		wantScores []float64 // when set, the fused scores
	}{
		{
			name: "plain RRF adds both lists", f: rrf(60, 1),
			dense: hits(1, 2, 3), lex: hits(3, 1), k: 10,
			want:       []int32{1, 3, 2},
			wantScores: []float64{1.0/61 + 1.0/62, 1.0/63 + 1.0/61, 1.0 / 62},
		},
		{
			// Only in the lexical list: just its lexical term.
			name: "missing from one list", f: rrf(60, 0.5),
			dense: hits(1), lex: hits(2, 1), k: 10,
			want:       []int32{1, 2},
			wantScores: []float64{1.0/61 + 0.5/62, 0.5 / 61},
		},
		{
			// With equal weights the lexical hit 3 overtakes dense rank 1;
			// a small lexical weight must keep dense order (fails if the
			// weight is ignored).
			name: "equal weights lift a paper in both lists", f: rrf(60, 1),
			dense: hits(1, 2, 3), lex: hits(3), k: 10, want: []int32{3, 1, 2},
		},
		{
			name: "small lexical weight keeps dense order", f: rrf(60, 0.01),
			dense: hits(1, 2, 3), lex: hits(3), k: 10, want: []int32{1, 2, 3},
		},
		{
			name: "dense weight counts too", f: Fusion{RRFK: 60, WDense: 0.01, WLex: 1},
			dense: hits(1, 2), lex: hits(2, 1), k: 10, want: []int32{2, 1},
		},
		{
			// Dense-only rank 1 and lexical-only rank 1 score the same.
			name: "ties by lower doc", f: rrf(10, 1),
			dense: hits(7), lex: hits(4), k: 10, want: []int32{4, 7},
		},
		{
			// k 1: doc 1 and 5 (rank 1 of one list) 1/2 beat doc 4 (rank 4
			// of both) 1/5 + 1/5; k 60: 2/64 beats 1/61.
			name: "small rrf k favours rank 1", f: rrf(1, 1),
			dense: hits(1, 2, 3, 4), lex: hits(5, 6, 7, 4), k: 10,
			want: []int32{1, 5, 4, 2, 6, 3, 7},
		},
		{
			name: "large rrf k favours agreement", f: rrf(60, 1),
			dense: hits(1, 2, 3, 4), lex: hits(5, 6, 7, 4), k: 10,
			want: []int32{4, 1, 5, 2, 6, 3, 7},
		},
		{
			name: "cut to k", f: rrf(60, 1),
			dense: hits(1, 2, 3), lex: hits(4, 5), k: 2, want: []int32{1, 4},
		},
		{
			name: "empty lexical list is dense order", f: rrf(60, 1),
			dense: hits(9, 2, 5), k: 10, want: []int32{9, 2, 5},
		},
		{
			// Normalized: dense 1 -> 1, 2 -> 0.5, 3 -> 0; lexical 3 -> 1,
			// 1 -> 0. Lexical weight 0.7 puts 3 (0.7) above 2 (0.5).
			name: "score fusion", f: Fusion{Score: true, WDense: 1, WLex: 0.7},
			dense: scored(1, 0.9, 2, 0.5, 3, 0.1), lex: scored(3, 12, 1, 2), k: 10,
			want:       []int32{1, 3, 2},
			wantScores: []float64{1, 0.7, 0.5},
		},
		{
			name: "score fusion weight matters", f: Fusion{Score: true, WDense: 1, WLex: 0.4},
			dense: scored(1, 0.9, 2, 0.5, 3, 0.1), lex: scored(3, 12, 1, 2), k: 10,
			want: []int32{1, 2, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FuseShard(tc.f, tc.dense, tc.lex, tc.k)
			var docs []int32
			for _, h := range got {
				docs = append(docs, h.Doc)
			}
			if !slices.Equal(docs, tc.want) {
				t.Fatalf("FuseShard = %v, want %v (hits %v)", docs, tc.want, got)
			}
			for i, w := range tc.wantScores {
				if math.Abs(float64(got[i].Score)-w) > 1e-7 {
					t.Errorf("score of doc %d = %v, want %v", got[i].Doc, got[i].Score, w)
				}
			}
		})
	}
}

func TestMergeShards(t *testing.T) {
	per := [][]Hit{
		scored(3, 0.5, 8, 0.2),
		scored(1, 0.5, 2, 0.4),
		scored(0, 0.9),
	}
	// Equal scores: lower shard first, whatever the doc.
	if got, want := MergeShards(per, 4), []int32{0, 3, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("MergeShards = %v, want %v", got, want)
	}
}

func TestFTSQueryWords(t *testing.T) {
	got := ftsQueryWords("The Graph of graphs, and the GRAPH: Erdős-Rényi (2024)!")
	want := []string{"graph", "graphs", "erdős", "rényi", "2024"}
	if !slices.Equal(got, want) {
		t.Errorf("ftsQueryWords = %q, want %q", got, want)
	}
	if got := ftsQueryWords("the of and"); !slices.Equal(got, []string{"the", "of", "and"}) {
		t.Errorf("only stop words: %q, want them all", got)
	}
	var long []string
	for i := range 40 {
		long = append(long, fmt.Sprintf("w%d", i))
	}
	if got := ftsQueryWords(strings.Join(long, " ")); len(got) != 32 || got[31] != "w31" {
		t.Errorf("40 words -> %d words ending %q, want the first 32", len(got), got[len(got)-1])
	}
}

// TestHybridRank runs the whole offline hybrid: shard placement, exact
// dense lists, the FTS approximation and fusion.
func TestHybridRank(t *testing.T) {
	corpus := []dataset.Paper{
		{ID: "p0", Title: "quantum chromodynamics", Abstract: "lattice gauge", PrimaryCategory: "hep-lat"},
		{ID: "p1", Title: "neural networks", Abstract: "message passing", PrimaryCategory: "cs.LG"},
		{ID: "p2", Title: "sparse graphs", Abstract: "spectral graph theory", PrimaryCategory: "math.CO"},
		{ID: "p3", Title: "protein folding", Abstract: "molecular dynamics", PrimaryCategory: "q-bio"},
	}
	queries := []dataset.Paper{{ID: "q0", Title: "graph theory", Abstract: "spectra", PrimaryCategory: "math.CO"}}
	task := &Task{Name: "t", Corpus: corpus, Queries: queries, NumRel: []int{1}}
	qs, cs := dataset.TitleAbstract.Texts(queries), dataset.TitleAbstract.Texts(corpus)
	// Dense prefers p1, then p0, p3, p2; lexically only p2 matches
	// ("graph" in its abstract, "theory" too).
	emb := mapEmbedder{qs[0]: {1, 0}, cs[0]: {0.8, 0.6}, cs[1]: {0.9, 0.1}, cs[2]: {0, 1}, cs[3]: {0.6, 0.8}}
	for _, tc := range []struct {
		shards int
		f      Fusion
		want   []int32
	}{
		{1, Fusion{RRFK: 60, WDense: 1, WLex: 0}, []int32{1, 0, 3, 2}},
		{1, Fusion{RRFK: 60, WDense: 1, WLex: 1}, []int32{2, 1, 0, 3}},
		// A request for 2 fuses lists of depth 2, where p2's dense rank
		// (4) is cut: it ties p1 at 1/61.
		{1, Fusion{RRFK: 60, WDense: 1, WLex: 1, K: 2}, []int32{1, 2}},
		// Lists cut to depth 1: p2 is only in the lexical list.
		{1, Fusion{RRFK: 60, WDense: 1, WLex: 1, Depth: 1}, []int32{1, 2}},
		// Per shard, each shard's dense rank 1 scores 1/61 whatever its
		// cosine: the merge orders shards' firsts by shard.
		{4, Fusion{RRFK: 60, WDense: 1, WLex: 0}, shardFirstOrder(t, corpus, 4)},
		// Fused after the merge, the dense list is the exact global one.
		{4, Fusion{RRFK: 60, WDense: 1, WLex: 0, AtMerge: true}, []int32{1, 0, 3, 2}},
		{4, Fusion{RRFK: 60, WDense: 1, WLex: 1, AtMerge: true}, []int32{2, 1, 0, 3}},
	} {
		src := &HybridSource{Embedder: emb, Lexical: LexFTS, Shards: tc.shards, MaxDepth: 10, Threads: 2}
		h := Hybrid{Source: src, Fusion: tc.f}
		if _, err := h.PrepareTask(context.Background(), task, dataset.TitleAbstract); err != nil {
			t.Fatal(err)
		}
		got, err := h.Rank(context.Background(), qs, cs, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[0], tc.want) {
			t.Errorf("%d shards, %s: %v, want %v", tc.shards, tc.f, got[0], tc.want)
		}
	}
	h := Hybrid{Source: &HybridSource{Embedder: emb, Lexical: LexFTS, Shards: 1, MaxDepth: 10}, Fusion: Fusion{RRFK: 60, WLex: 1, DepthFactor: 4}}
	if _, err := h.Rank(context.Background(), qs, cs, 10); err == nil {
		t.Error("depth 40 over a source of depth 10 accepted")
	}
}

// shardFirstOrder is the dense-only per-shard order of TestHybridRank's
// corpus: shards in order, each shard's papers by dense rank, with every
// shard's rank r before any shard's rank r+1.
func shardFirstOrder(t *testing.T, corpus []dataset.Paper, shards int) []int32 {
	t.Helper()
	denseOrder := []int32{1, 0, 3, 2}
	per := make([][]int32, shards)
	for _, d := range denseOrder {
		s := shardset.ShardOf(corpus[d].ID, shards)
		per[s] = append(per[s], d)
	}
	var out []int32
	for r := 0; ; r++ {
		n := len(out)
		for s := range per {
			if r < len(per[s]) {
				out = append(out, per[s][r])
			}
		}
		if len(out) == n {
			return out
		}
	}
}
