package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
)

func TestHybridContenders(t *testing.T) {
	ok := []struct {
		spec string
		want eval.Fusion
		name string
	}{
		{"", eval.Fusion{RRFK: 60, WDense: 1, WLex: 1}, "hybrid rrf k=60 wd=1 wl=1 shards=8 lex=fts"},
		{"k=10,w=0.3,n=2x", eval.Fusion{RRFK: 10, WDense: 1, WLex: 0.3, DepthFactor: 2}, "hybrid rrf k=10 wd=1 wl=0.3 n=2x shards=8 lex=fts"},
		{"score,w=0.5,wd=2,n=300,req-k=10,shards=1,lex=wordpiece,name=s", eval.Fusion{RRFK: 60, WDense: 2, WLex: 0.5, Depth: 300, K: 10, Score: true}, "s"},
		{"w=0.2,at-merge", eval.Fusion{RRFK: 60, WDense: 1, WLex: 0.2, AtMerge: true}, "hybrid rrf k=60 wd=1 wl=0.2 at-merge shards=8 lex=fts"},
	}
	for _, tc := range ok {
		cs, err := hybridContenders([]string{tc.spec}, nil, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		h := cs[0].Ranker.(eval.Hybrid)
		if h.Fusion != tc.want || cs[0].Name != tc.name {
			t.Errorf("%q: %+v named %q, want %+v named %q", tc.spec, h.Fusion, cs[0].Name, tc.want, tc.name)
		}
	}
	// Settings with the same shards and lexical ranker share their lists;
	// the source is deep enough for the deepest.
	cs, err := hybridContenders([]string{"n=4x", "w=0.5", "shards=1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := cs[0].Ranker.(eval.Hybrid).Source, cs[1].Ranker.(eval.Hybrid).Source, cs[2].Ranker.(eval.Hybrid).Source
	if a != b || a == c || a.MaxDepth != 4*eval.MaxK || c.Shards != 1 {
		t.Errorf("sources: shared %v, separate %v, depth %d, shards %d", a == b, a != c, a.MaxDepth, c.Shards)
	}
	for _, spec := range []string{"k=-1", "k=0", "w=x", "w=-0.5", "n=-2", "req-k=0", "req-k=101", "shards=0", "lex=porter", "depth=3"} {
		if _, err := hybridContenders([]string{spec}, nil, nil); err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), spec) {
			t.Errorf("%q: %v, want a usage error naming it", spec, err)
		}
	}
}
