// Package eval measures retrieval quality with the seed system's protocol
// (sentence-transformers' InformationRetrievalEvaluator, relevance = same
// primary category) and reports it with bootstrap confidence intervals,
// per subset and per category.
package eval

import "math"

// Metric names, in report order. The definitions are those of
// sentence-transformers' InformationRetrievalEvaluator (seed-system.md,
// section 3); every metric is computed per query over the ranked hits and
// averaged over queries.
var Metrics = []string{
	"accuracy@1", "accuracy@3", "accuracy@5", "accuracy@10",
	"precision@1", "precision@5", "precision@10",
	"recall@1", "recall@5", "recall@10",
	"mrr@10", "ndcg@10", "map@100",
}

// Indices into a Scores array.
const (
	Acc1 = iota
	Acc3
	Acc5
	Acc10
	P1
	P5
	P10
	R1
	R5
	R10
	MRR10
	NDCG10
	MAP100
	numMetrics
)

// MaxK is the deepest rank any metric looks at.
const MaxK = 100

// Scores are one query's metric values, indexed by the constants above.
type Scores [numMetrics]float64

// Score computes a query's metrics from the relevance of its ranked hits
// (rel[i] is whether the hit at rank i+1 is relevant; at least the top
// MaxK hits, or all documents when fewer) and its number of relevant
// documents in the corpus (> 0).
//
//   - accuracy@k: 1 when a relevant hit is in the top k.
//   - precision@k: relevant hits in the top k, divided by k.
//   - recall@k: relevant hits in the top k, divided by numRel.
//   - MRR@10: 1/rank of the first relevant hit in the top 10, else 0.
//   - NDCG@10: DCG = sum of rel_i/math.Log2(i+1) over ranks i = 1..10, divided
//     by the DCG of min(numRel, 10) relevant hits at the top.
//   - MAP@100: sum over relevant hits in the top 100 of (relevant hits so
//     far / rank), divided by min(100, numRel).
func Score(rel []bool, numRel int) Scores {
	var s Scores
	if numRel <= 0 {
		return s
	}
	at := func(k int) int { // relevant hits in the top k
		n := 0
		for i := 0; i < k && i < len(rel); i++ {
			if rel[i] {
				n++
			}
		}
		return n
	}
	first := -1
	for i := 0; i < len(rel) && i < MaxK; i++ {
		if rel[i] {
			first = i
			break
		}
	}
	for _, ak := range []struct{ idx, k int }{{Acc1, 1}, {Acc3, 3}, {Acc5, 5}, {Acc10, 10}} {
		if first >= 0 && first < ak.k {
			s[ak.idx] = 1
		}
	}
	for _, pk := range []struct{ p, r, k int }{{P1, R1, 1}, {P5, R5, 5}, {P10, R10, 10}} {
		n := float64(at(pk.k))
		s[pk.p] = n / float64(pk.k)
		s[pk.r] = n / float64(numRel)
	}
	if first >= 0 && first < 10 {
		s[MRR10] = 1 / float64(first+1)
	}
	var dcg, idcg float64
	for i := 0; i < 10; i++ {
		if i < len(rel) && rel[i] {
			dcg += 1 / math.Log2(float64(i+2))
		}
		if i < numRel {
			idcg += 1 / math.Log2(float64(i+2))
		}
	}
	s[NDCG10] = dcg / idcg
	var hits, sumPrec float64
	for i := 0; i < MaxK && i < len(rel); i++ {
		if rel[i] {
			hits++
			sumPrec += hits / float64(i+1)
		}
	}
	s[MAP100] = sumPrec / float64(min(MaxK, numRel))
	return s
}
