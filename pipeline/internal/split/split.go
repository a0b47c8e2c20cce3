// Package split makes the seeded train/eval/test splits, the per-category
// cap and the stratified sample. Every function is deterministic: the same
// papers (in any input order) and seed give the same result. Papers are
// first ordered by id, then shuffled with a PCG generator seeded with the
// seed (math/rand/v2, a permutation by Fisher-Yates), so results do not
// depend on the order of the input file.
package split

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// Rand returns the generator used for seed and purpose (a constant that
// keeps the streams of different steps independent).
func Rand(seed uint64, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, purpose^0x9e3779b97f4a7c15))
}

// Stream constants for Rand.
const (
	streamSplit uint64 = iota + 1
	streamCap
	streamSample
)

func byID(papers []dataset.Paper) []dataset.Paper {
	out := slices.Clone(papers)
	slices.SortStableFunc(out, func(a, b dataset.Paper) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Fractions are the split proportions of the old protocol: Test of all
// papers, then Eval of the rest.
type Fractions struct {
	Test, Eval float64
}

// Default is the seed system's 20% test, then 20% of the rest as eval.
var Default = Fractions{Test: 0.2, Eval: 0.2}

// Split shuffles papers and cuts them like Hugging Face's
// train_test_split applied twice: test gets ceil(Test*n) papers, eval
// ceil(Eval*rest) of the remainder, train the others. Each part is
// returned in id order.
func Split(papers []dataset.Paper, seed uint64, f Fractions) (train, eval, test []dataset.Paper) {
	all := byID(papers)
	r := Rand(seed, streamSplit)
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	nTest := int(math.Ceil(f.Test * float64(len(all))))
	rest := len(all) - nTest
	nEval := int(math.Ceil(f.Eval * float64(rest)))
	test = all[:nTest]
	eval = all[nTest : nTest+nEval]
	train = all[nTest+nEval:]
	for _, s := range [][]dataset.Paper{train, eval, test} {
		slices.SortFunc(s, func(a, b dataset.Paper) int { return cmp.Compare(a.ID, b.ID) })
	}
	return train, eval, test
}

// CapPerCategory keeps at most max papers of each primary category,
// chosen at random (seeded); max <= 0 keeps everything. It returns the
// kept papers in id order and how many were dropped.
func CapPerCategory(papers []dataset.Paper, max int, seed uint64) ([]dataset.Paper, int) {
	if max <= 0 {
		return byID(papers), 0
	}
	all := byID(papers)
	r := Rand(seed, streamCap)
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	count := map[string]int{}
	kept := all[:0]
	for _, p := range all {
		if count[p.PrimaryCategory] < max {
			count[p.PrimaryCategory]++
			kept = append(kept, p)
		}
	}
	dropped := len(papers) - len(kept)
	slices.SortFunc(kept, func(a, b dataset.Paper) int { return cmp.Compare(a.ID, b.ID) })
	return kept, dropped
}

// Stratified draws n papers stratified over primary categories: every
// category first gets min(its size, minPer) papers, the remaining quota is
// shared in proportion to category sizes (largest remainders, ties by
// name), and the papers of each category are drawn at random (seeded).
// With n >= len(papers) every paper is returned. Output is in id order.
func Stratified(papers []dataset.Paper, n, minPer int, seed uint64) []dataset.Paper {
	if n >= len(papers) {
		return byID(papers)
	}
	groups := map[string][]dataset.Paper{}
	for _, p := range byID(papers) {
		groups[p.PrimaryCategory] = append(groups[p.PrimaryCategory], p)
	}
	cats := make([]string, 0, len(groups))
	for c := range groups {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	quota := map[string]int{}
	left := n
	for _, c := range cats {
		q := min(len(groups[c]), minPer)
		quota[c] = q
		left -= q
	}
	if left < 0 {
		// More categories than n allows at minPer each: give one paper
		// to the largest categories first.
		slices.SortStableFunc(cats, func(a, b string) int { return cmp.Compare(len(groups[b]), len(groups[a])) })
		for _, c := range cats {
			quota[c] = 0
		}
		for i := 0; i < n && i < len(cats); i++ {
			quota[cats[i]] = 1
		}
		left = 0
	}
	// Proportional share of what is left, over the papers not yet taken.
	spare := 0
	for _, c := range cats {
		spare += len(groups[c]) - quota[c]
	}
	type rem struct {
		cat  string
		frac float64
	}
	var rems []rem
	assigned := 0
	if spare > 0 && left > 0 {
		for _, c := range cats {
			avail := len(groups[c]) - quota[c]
			exact := float64(left) * float64(avail) / float64(spare)
			whole := min(int(exact), avail)
			quota[c] += whole
			assigned += whole
			if whole < avail {
				rems = append(rems, rem{c, exact - float64(whole)})
			}
		}
		slices.SortStableFunc(rems, func(a, b rem) int {
			if c := cmp.Compare(b.frac, a.frac); c != 0 {
				return c
			}
			return cmp.Compare(a.cat, b.cat)
		})
		for i := 0; assigned < left && i < len(rems); i++ {
			quota[rems[i].cat]++
			assigned++
		}
	}
	r := Rand(seed, streamSample)
	slices.Sort(cats)
	var out []dataset.Paper
	for _, c := range cats {
		g := slices.Clone(groups[c])
		r.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		out = append(out, g[:quota[c]]...)
	}
	slices.SortFunc(out, func(a, b dataset.Paper) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
