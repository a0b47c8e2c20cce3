package split

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// papers makes n papers spread over categories with the given sizes.
func papers(sizes map[string]int) []dataset.Paper {
	var out []dataset.Paper
	i := 0
	for _, c := range slices.Sorted(func(yield func(string) bool) {
		for c := range sizes {
			if !yield(c) {
				return
			}
		}
	}) {
		for range sizes[c] {
			out = append(out, dataset.Paper{ID: fmt.Sprintf("%05d", i), PrimaryCategory: c, Categories: []string{c}})
			i++
		}
	}
	return out
}

func ids(ps []dataset.Paper) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestSplitProportions(t *testing.T) {
	for _, n := range []int{1, 2, 5, 10, 99, 1000, 93983} {
		all := papers(map[string]int{"cs.AI": n})
		train, eval, test := Split(all, 42, Default)
		wantTest := int(math.Ceil(0.2 * float64(n)))
		wantEval := int(math.Ceil(0.2 * float64(n-wantTest)))
		if len(test) != wantTest || len(eval) != wantEval || len(train) != n-wantTest-wantEval {
			t.Errorf("n=%d: train/eval/test = %d/%d/%d, want %d/%d/%d", n, len(train), len(eval), len(test), n-wantTest-wantEval, wantEval, wantTest)
		}
		seen := map[string]bool{}
		for _, s := range [][]dataset.Paper{train, eval, test} {
			if !slices.IsSortedFunc(s, func(a, b dataset.Paper) int { return compare(a.ID, b.ID) }) {
				t.Errorf("n=%d: a split is not in id order", n)
			}
			for _, p := range s {
				if seen[p.ID] {
					t.Fatalf("n=%d: paper %s in two splits", n, p.ID)
				}
				seen[p.ID] = true
			}
		}
		if len(seen) != n {
			t.Errorf("n=%d: %d papers in the splits", n, len(seen))
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestSplitDeterministicAndOrderIndependent(t *testing.T) {
	all := papers(map[string]int{"cs.AI": 300, "math.AG": 200})
	tr1, ev1, te1 := Split(all, 7, Default)
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	tr2, ev2, te2 := Split(shuffled, 7, Default)
	if !slices.Equal(ids(tr1), ids(tr2)) || !slices.Equal(ids(ev1), ids(ev2)) || !slices.Equal(ids(te1), ids(te2)) {
		t.Error("same papers in another order gave different splits")
	}
	_, _, te3 := Split(all, 8, Default)
	if slices.Equal(ids(te1), ids(te3)) {
		t.Error("seeds 7 and 8 gave the same test split")
	}
	// The input is not modified.
	if !slices.Equal(ids(all), ids(papers(map[string]int{"cs.AI": 300, "math.AG": 200}))) {
		t.Error("Split reordered its input")
	}
}

func TestCapPerCategory(t *testing.T) {
	all := papers(map[string]int{"cs.CV": 50, "cs.CL": 20, "math.AG": 3})
	kept, dropped := CapPerCategory(all, 10, 42)
	count := map[string]int{}
	for _, p := range kept {
		count[p.PrimaryCategory]++
	}
	if count["cs.CV"] != 10 || count["cs.CL"] != 10 || count["math.AG"] != 3 || dropped != 50 {
		t.Errorf("counts %v, dropped %d", count, dropped)
	}
	again, _ := CapPerCategory(all, 10, 42)
	if !slices.Equal(ids(kept), ids(again)) {
		t.Error("cap is not deterministic")
	}
	other, _ := CapPerCategory(all, 10, 43)
	if slices.Equal(ids(kept), ids(other)) {
		t.Error("cap ignores the seed")
	}
	if none, d := CapPerCategory(all, 0, 42); len(none) != len(all) || d != 0 {
		t.Errorf("max 0 kept %d, dropped %d", len(none), d)
	}
}

func TestStratified(t *testing.T) {
	all := papers(map[string]int{"cs.CV": 600, "cs.CL": 300, "math.AG": 2, "q-bio.CB": 1, "hep-th": 97})
	got := Stratified(all, 100, 3, 42)
	count := map[string]int{}
	for _, p := range got {
		count[p.PrimaryCategory]++
	}
	// Minimums first (3+3+2+1+3 = 12), then 88 shared in proportion to the
	// remaining 597+297+0+0+94 = 988 papers: 53.17, 26.45, 8.37 -> 53, 26,
	// 8 and one more by largest remainder (hep-th .37 vs cs.CL .45 vs
	// cs.CV .17: cs.CL).
	want := map[string]int{"cs.CV": 56, "cs.CL": 30, "math.AG": 2, "q-bio.CB": 1, "hep-th": 11}
	if len(got) != 100 || fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("sample of %d: %v, want %v", len(got), count, want)
	}
	if again := Stratified(all, 100, 3, 42); !slices.Equal(ids(got), ids(again)) {
		t.Error("not deterministic")
	}
	if all2 := Stratified(all, 5000, 3, 42); len(all2) != len(all) {
		t.Errorf("n > len: %d papers", len(all2))
	}
	if few := Stratified(all, 3, 3, 42); len(few) != 3 {
		t.Errorf("n smaller than the categories: %d papers", len(few))
	}
}
