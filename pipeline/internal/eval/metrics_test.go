package eval

import (
	"math"
	"testing"
)

func rels(n int, relevant ...int) []bool {
	out := make([]bool, n)
	for _, r := range relevant {
		out[r-1] = true // ranks are 1-based
	}
	return out
}

func TestScoreHandComputed(t *testing.T) {
	l2 := math.Log2
	tests := []struct {
		name   string
		rel    []bool
		numRel int
		want   map[int]float64
	}{
		{
			name: "hits at ranks 2, 4, 5 of 3 relevant", rel: rels(100, 2, 4, 5), numRel: 3,
			want: map[int]float64{
				Acc1: 0, Acc3: 1, Acc5: 1, Acc10: 1,
				P1: 0, P5: 0.6, P10: 0.3, R1: 0, R5: 1, R10: 1,
				MRR10: 0.5,
				// DCG 1/log2(3)+1/log2(5)+1/log2(6); IDCG over min(3,10)=3 hits.
				NDCG10: (1/l2(3) + 1/l2(5) + 1/l2(6)) / (1 + 1/l2(3) + 1/l2(4)),
				// (1/2 + 2/4 + 3/5) / min(100, 3)
				MAP100: (0.5 + 0.5 + 0.6) / 3,
			},
		},
		{
			name: "150 relevant: IDCG of 10 hits, MAP over 100", rel: rels(100, 1, 3), numRel: 150,
			want: map[int]float64{
				Acc1: 1, P1: 1, P5: 0.4, P10: 0.2, R1: 1.0 / 150, R5: 2.0 / 150, R10: 2.0 / 150, MRR10: 1,
				NDCG10: (1 + 1/l2(4)) / (1 + 1/l2(3) + 1/l2(4) + 1/l2(5) + 1/l2(6) + 1/l2(7) + 1/l2(8) + 1/l2(9) + 1/l2(10) + 1/l2(11)),
				MAP100: (1 + 2.0/3) / 100,
			},
		},
		{
			name: "every one of the top 100 relevant, 150 relevant", rel: rels(100, seq(1, 100)...), numRel: 150,
			want: map[int]float64{P10: 1, NDCG10: 1, MAP100: 1, MRR10: 1},
		},
		{
			name: "2 relevant: IDCG of 2 hits", rel: rels(100, 1, 3), numRel: 2,
			want: map[int]float64{NDCG10: (1 + 1/l2(4)) / (1 + 1/l2(3)), MAP100: (1 + 2.0/3) / 2, R10: 1},
		},
		{
			name: "first hit at rank 11", rel: rels(100, 11), numRel: 1,
			want: map[int]float64{Acc10: 0, MRR10: 0, NDCG10: 0, P10: 0, MAP100: 1.0 / 11},
		},
		{
			name: "hit past rank 100 does not count", rel: rels(120, 101), numRel: 1,
			want: map[int]float64{MAP100: 0, Acc10: 0},
		},
		{
			name: "short ranking (corpus of 4)", rel: rels(4, 4), numRel: 1,
			want: map[int]float64{Acc3: 0, Acc5: 1, P5: 0.2, P10: 0.1, MRR10: 0.25, NDCG10: 1 / l2(5), MAP100: 0.25},
		},
	}
	for _, tt := range tests {
		got := Score(tt.rel, tt.numRel)
		for m, want := range tt.want {
			if math.Abs(got[m]-want) > 1e-12 {
				t.Errorf("%s: %s = %.6f, want %.6f", tt.name, Metrics[m], got[m], want)
			}
		}
	}
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func TestMetricNamesMatchIndices(t *testing.T) {
	want := map[int]string{Acc1: "accuracy@1", Acc10: "accuracy@10", P10: "precision@10", R5: "recall@5", MRR10: "mrr@10", NDCG10: "ndcg@10", MAP100: "map@100"}
	for i, name := range want {
		if Metrics[i] != name {
			t.Errorf("Metrics[%d] = %s, want %s", i, Metrics[i], name)
		}
	}
	if len(Metrics) != numMetrics {
		t.Errorf("%d names for %d metrics", len(Metrics), numMetrics)
	}
}
