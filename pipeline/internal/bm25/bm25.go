// Package bm25 is the lexical baseline: Okapi BM25 over the same word
// pieces the model sees (the embedder's BERT WordPiece tokenizer, lower
// case, without [CLS]/[SEP] and without truncation), k1 = 1.2, b = 0.75,
// with Lucene's non-negative idf:
//
//	idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//	score(q,d) = sum over query tokens t (repeats count) of
//	             idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
package bm25

import (
	"context"
	"math"
	"runtime"
	"slices"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Standard parameters.
const (
	K1 = 1.2
	B  = 0.75
)

// Index is a BM25 index over tokenized documents.
type Index struct {
	k1, b    float64
	n        int
	avgdl    float64
	docLen   []int32
	postings map[int32][]posting
}

type posting struct {
	doc int32
	tf  int32
}

// New indexes docs (token lists) with parameters k1 and b.
func New(docs [][]int32, k1, b float64) *Index {
	ix := &Index{k1: k1, b: b, n: len(docs), docLen: make([]int32, len(docs)), postings: map[int32][]posting{}}
	var total int
	for d, toks := range docs {
		ix.docLen[d] = int32(len(toks))
		total += len(toks)
		s := slices.Clone(toks)
		slices.Sort(s)
		for i := 0; i < len(s); {
			j := i
			for j < len(s) && s[j] == s[i] {
				j++
			}
			ix.postings[s[i]] = append(ix.postings[s[i]], posting{int32(d), int32(j - i)})
			i = j
		}
	}
	if len(docs) > 0 {
		ix.avgdl = float64(total) / float64(len(docs))
	}
	return ix
}

// IDF is the idf of a token.
func (ix *Index) IDF(t int32) float64 {
	df := float64(len(ix.postings[t]))
	return math.Log(1 + (float64(ix.n)-df+0.5)/(df+0.5))
}

// Scores returns the BM25 score of every document for query tokens q,
// into dst (resized to the number of documents).
func (ix *Index) Scores(q []int32, dst []float32) []float32 {
	if cap(dst) < ix.n {
		dst = make([]float32, ix.n)
	}
	dst = dst[:ix.n]
	acc := make([]float64, ix.n)
	s := slices.Clone(q)
	slices.Sort(s)
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		qtf := float64(j - i)
		post := ix.postings[s[i]]
		if len(post) > 0 {
			w := qtf * ix.IDF(s[i])
			for _, p := range post {
				tf := float64(p.tf)
				norm := ix.k1 * (1 - ix.b + ix.b*float64(ix.docLen[p.doc])/ix.avgdl)
				acc[p.doc] += w * tf * (ix.k1 + 1) / (tf + norm)
			}
		}
		i = j
	}
	for d, v := range acc {
		dst[d] = float32(v)
	}
	return dst
}

// Ranker ranks with BM25 over texts tokenized by Tok. The corpus
// statistics (N, df, avgdl) are those of the corpus it is given.
type Ranker struct {
	Tok     *tokenizer.Tokenizer
	K1, B   float64
	Threads int
	// Progress configures the progress bar over queries.
	Progress []progress.Option
}

// Tokens returns text's word pieces without special tokens.
func Tokens(tok *tokenizer.Tokenizer, text string) []int32 {
	e := tok.Encode(text, 0)
	ids := e.IDs
	if len(ids) >= 2 {
		ids = ids[1 : len(ids)-1] // [CLS] ... [SEP]
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

func (r Ranker) tokenizeAll(ctx context.Context, texts []string, threads int) [][]int32 {
	out := make([][]int32, len(texts))
	vecmath.ParallelFor(len(texts), threads, func(lo, hi int) {
		for i := lo; i < hi && ctx.Err() == nil; i++ {
			out[i] = Tokens(r.Tok, texts[i])
		}
	})
	return out
}

// Rank implements eval.Ranker.
func (r Ranker) Rank(ctx context.Context, queries, corpus []string, k int) ([][]int32, error) {
	threads := r.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	k1, b := r.K1, r.B
	if k1 == 0 && b == 0 {
		k1, b = K1, B
	}
	ix := New(r.tokenizeAll(ctx, corpus, threads), k1, b)
	qt := r.tokenizeAll(ctx, queries, threads)
	out := make([][]int32, len(queries))
	bar := progress.New("BM25: rank", int64(len(queries)), append([]progress.Option{progress.WithUnit("queries")}, r.Progress...)...)
	defer bar.Finish()
	vecmath.ParallelFor(len(queries), threads, func(lo, hi int) {
		var scores []float32
		for i := lo; i < hi && ctx.Err() == nil; i++ {
			scores = ix.Scores(qt[i], scores)
			out[i] = vecmath.TopK(scores, k)
			bar.Add(1)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
