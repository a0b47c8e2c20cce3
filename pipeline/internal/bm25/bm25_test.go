package bm25

import (
	"context"
	"math"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

func TestScoresHandChecked(t *testing.T) {
	docs := [][]int32{{1, 2, 3}, {1, 1, 4}, {5}}
	ix := New(docs, K1, B)
	// N = 3, avgdl = 7/3. For |d| = 3: K = 1.2 * (0.25 + 0.75 * 3 / (7/3)) = 1.457142857.
	K := 1.2 * (0.25 + 0.75*9.0/7.0)
	idf1 := math.Log(1 + (3-2+0.5)/(2+0.5)) // ln 1.6: token 1 is in 2 docs
	idf4 := math.Log(1 + (3-1+0.5)/(1+0.5)) // ln 8/3
	tests := []struct {
		name  string
		query []int32
		want  []float64
	}{
		{"single term", []int32{1}, []float64{idf1 * 2.2 / (1 + K), idf1 * 2 * 2.2 / (2 + K), 0}},
		{"repeated query term counts twice", []int32{4, 4}, []float64{0, 2 * idf4 * 2.2 / (1 + K), 0}},
		{"unknown term", []int32{99}, []float64{0, 0, 0}},
		{"short document", []int32{5}, []float64{0, 0, math.Log(1+2.5/1.5) * 2.2 / (1 + 1.2*(0.25+0.75*3.0/7.0))}},
	}
	for _, tt := range tests {
		got := ix.Scores(tt.query, nil)
		for d := range tt.want {
			if math.Abs(float64(got[d])-tt.want[d]) > 1e-6 {
				t.Errorf("%s: doc %d score %.6f, want %.6f", tt.name, d, got[d], tt.want[d])
			}
		}
	}
	// Hand values, to catch a formula changed in both places.
	if got := ix.Scores([]int32{1}, nil); math.Abs(float64(got[0])-0.420817) > 1e-5 || math.Abs(float64(got[1])-0.598187) > 1e-5 {
		t.Errorf("scores %v, want 0.420817 and 0.598187", got)
	}
	if idf := ix.IDF(1); math.Abs(idf-0.470004) > 1e-6 {
		t.Errorf("idf = %v", idf)
	}
}

func TestRankerWithTokenizer(t *testing.T) {
	tok := testTokenizer(t)
	r := Ranker{Tok: tok, K1: K1, B: B, Threads: 2}
	corpus := []string{"graph neural networks for molecules", "quantum error correction codes", "neural networks on graphs of molecules"}
	got, err := r.Rank(context.Background(), []string{"quantum codes", "molecules graph"}, corpus, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0] != 1 || len(got[0]) != 2 {
		t.Errorf("quantum query ranked %v", got[0])
	}
	if got[1][0] == 1 || got[1][1] == 1 {
		t.Errorf("molecule query ranked %v", got[1])
	}
	if toks := Tokens(tok, "hello world"); len(toks) != 2 {
		t.Errorf("Tokens kept special tokens: %v", toks)
	}
}

// testTokenizer loads the shipped BERT uncased tokenizer.
func testTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
