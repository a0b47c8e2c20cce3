package fusion

import (
	"math"
	"slices"
	"testing"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
)

func hits(ids ...string) []*indexv1.Hit {
	out := make([]*indexv1.Hit, len(ids))
	for i, id := range ids {
		out[i] = &indexv1.Hit{Id: id, Score: float32(100 - i), DenseRank: 7, Paper: &indexv1.Paper{Id: id, Title: "t " + id}}
	}
	return out
}

func ids(hs []*indexv1.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.GetId()
	}
	return out
}

func TestFuseOrder(t *testing.T) {
	for _, tc := range []struct {
		name           string
		dense, lexical []string
		p              Params
		k              int
		want           []string
	}{
		{"equal weights: in both lists beats first of one", []string{"a", "b", "c"}, []string{"c", "d", "b"}, Params{K: 60, LexicalWeight: 1}, 10, []string{"c", "b", "a", "d"}},
		{"small lexical weight keeps dense order", []string{"a", "b", "c"}, []string{"c", "d", "b"}, Params{K: 60, LexicalWeight: 0.3}, 10, []string{"b", "c", "a", "d"}},
		{"zero lexical weight is dense, lexical-only last in lexical order", []string{"a", "b"}, []string{"z", "y"}, Params{K: 60, LexicalWeight: 0}, 10, []string{"a", "b", "z", "y"}},
		{"tie goes to the better dense rank", []string{"a", "b"}, []string{"b", "a"}, Params{K: 60, LexicalWeight: 1}, 10, []string{"a", "b"}},
		{"lexical-only ties broken by lexical rank", nil, []string{"y", "x"}, Params{K: 60, LexicalWeight: 1}, 10, []string{"y", "x"}},
		{"k cuts", []string{"a", "b", "c"}, []string{"d"}, Params{K: 60, LexicalWeight: 1}, 2, []string{"a", "d"}},
		{"small K lets lexical first rank win", []string{"a", "b", "c"}, []string{"c"}, Params{K: 1, LexicalWeight: 1}, 1, []string{"c"}},
		{"empty", nil, nil, Defaults, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(Fuse(hits(tc.dense...), hits(tc.lexical...), tc.p, tc.k))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Fuse = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFuseScoresAndMatchInfo(t *testing.T) {
	dense, lexical := hits("a", "b"), hits("b", "c")
	got := Fuse(dense, lexical, Params{K: 10, LexicalWeight: 0.5}, 10)
	want := map[string]struct {
		score        float64
		dr, lr       int32
		dscore, lsco float32
	}{
		"a": {1.0 / 11, 1, 0, 100, 0},
		"b": {1.0/12 + 0.5/11, 2, 1, 99, 100},
		"c": {0.5 / 12, 0, 2, 0, 99},
	}
	for _, h := range got {
		w := want[h.GetId()]
		if math.Abs(float64(h.GetScore())-w.score) > 1e-6 || h.GetDenseRank() != w.dr || h.GetLexicalRank() != w.lr ||
			h.GetDenseScore() != w.dscore || h.GetLexicalScore() != w.lsco {
			t.Errorf("%s: score %g dense %d/%g lexical %d/%g; want %+v", h.GetId(), h.GetScore(), h.GetDenseRank(), h.GetDenseScore(), h.GetLexicalRank(), h.GetLexicalScore(), w)
		}
		if h.GetPaper().GetTitle() != "t "+h.GetId() {
			t.Errorf("%s: paper not carried: %v", h.GetId(), h.GetPaper())
		}
	}
	// The inputs are not modified.
	if dense[0].GetDenseRank() != 7 || dense[0].GetScore() != 100 {
		t.Errorf("input hit modified: %v", dense[0])
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{Defaults, true}, {Params{K: 1, LexicalWeight: 0}, true},
		{Params{K: 0, LexicalWeight: 1}, false}, {Params{K: 60, LexicalWeight: -1}, false},
		{Params{K: math.NaN(), LexicalWeight: 1}, false}, {Params{K: 60, LexicalWeight: math.Inf(1)}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.p, err, tc.ok)
		}
	}
}
