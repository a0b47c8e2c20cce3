package eval

import (
	"math/rand/v2"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// Task is one retrieval experiment: queries and a disjoint corpus, with
// relevance = same primary category.
type Task struct {
	Name        string
	Description string
	Queries     []dataset.Paper
	Corpus      []dataset.Paper
	// NumRel[i] is how many corpus papers are relevant to query i.
	NumRel []int
	// Dropped is how many sampled queries had no relevant document.
	Dropped int
}

// NewTask builds the seed system's protocol over papers (a split in id
// order): draw min(sample, len(papers)) papers without replacement (all
// of them when sample <= 0) with a seeded shuffle, make the first n/5 of
// the draw the queries and the rest the corpus, and drop queries whose
// category has no paper in the corpus.
//
// The draw is a Fisher-Yates shuffle of the whole split with math/rand/v2's
// PCG seeded (seed, 0x6576616c) followed by taking the first n indices.
// numpy's np.random.seed(42) + choice cannot be reproduced in Go, so the
// sample differs from the seed system's; the protocol (sizes, split and
// relevance) is the same.
func NewTask(name, description string, papers []dataset.Paper, sample int, seed uint64) Task {
	n := len(papers)
	if sample > 0 {
		n = min(sample, n)
	}
	r := rand.New(rand.NewPCG(seed, 0x6576616c))
	perm := r.Perm(len(papers))[:n]
	nq := n / 5
	t := Task{Name: name, Description: description}
	inCorpus := map[string]int{}
	for _, i := range perm[nq:] {
		t.Corpus = append(t.Corpus, papers[i])
		inCorpus[papers[i].PrimaryCategory]++
	}
	for _, i := range perm[:nq] {
		c := inCorpus[papers[i].PrimaryCategory]
		if c == 0 {
			t.Dropped++
			continue
		}
		t.Queries = append(t.Queries, papers[i])
		t.NumRel = append(t.NumRel, c)
	}
	return t
}

// ScoreRankings computes every query's metrics from its ranking.
func (t *Task) ScoreRankings(ranked [][]int32) []Scores {
	out := make([]Scores, len(t.Queries))
	rel := make([]bool, 0, MaxK)
	for q, hits := range ranked {
		rel = rel[:0]
		cat := t.Queries[q].PrimaryCategory
		for _, d := range hits {
			rel = append(rel, t.Corpus[d].PrimaryCategory == cat)
		}
		out[q] = Score(rel, t.NumRel[q])
	}
	return out
}
