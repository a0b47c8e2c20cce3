package eval

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/bm25"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Fusion is one way of merging a dense and a lexical ranking, as the
// index's hybrid mode does per shard (services/index/internal/server,
// fuse): each shard's dense and lexical lists, cut to Depth, are fused,
// the shard keeps its best k, and the shards' lists are merged by fused
// score (ties: lower shard, then lower key).
type Fusion struct {
	// RRFK is the constant of reciprocal rank fusion:
	// score = WDense/(RRFK + dense rank) + WLex/(RRFK + lexical rank),
	// a term only for the lists the paper is in (ranks from 1, per shard).
	RRFK int
	// WDense and WLex weight the two lists. The index's plain RRF is 1, 1.
	WDense, WLex float64
	// Depth is how many hits of each list a shard fuses; 0 means the
	// request's k (what the index does). DepthFactor, when > 0, makes it
	// DepthFactor times the request's k instead.
	Depth, DepthFactor int
	// K emulates a request for K results (a user's k = 10 fuses shorter
	// lists than the evaluation's 100); 0 means the k Rank is called with.
	K int
	// AtMerge fuses once after the merge instead of per shard: the
	// shards' dense lists merged by cosine and their lexical lists by
	// BM25 score (each shard's own statistics), each cut to the depth,
	// then fused into the top k.
	AtMerge bool
	// Score fuses min-max normalized scores instead of ranks:
	// WDense*dense' + WLex*lexical', each normalized over the shard's
	// fused-depth list to [0, 1], 0 for a list the paper is not in.
	Score bool
}

// depth is the per-list depth for a request of k results.
func (f Fusion) depth(k int) int {
	switch {
	case f.DepthFactor > 0:
		return f.DepthFactor * k
	case f.Depth > 0:
		return f.Depth
	}
	return k
}

// String names the setting, for contender names.
func (f Fusion) String() string {
	var b strings.Builder
	if f.Score {
		fmt.Fprintf(&b, "score wd=%g wl=%g", f.WDense, f.WLex)
	} else {
		fmt.Fprintf(&b, "rrf k=%d wd=%g wl=%g", f.RRFK, f.WDense, f.WLex)
	}
	switch {
	case f.DepthFactor > 0:
		fmt.Fprintf(&b, " n=%dx", f.DepthFactor)
	case f.Depth > 0:
		fmt.Fprintf(&b, " n=%d", f.Depth)
	}
	if f.K > 0 {
		fmt.Fprintf(&b, " req-k=%d", f.K)
	}
	if f.AtMerge {
		b.WriteString(" at-merge")
	}
	return b.String()
}

// Hit is one entry of a ranked list: a corpus index and its score.
type Hit struct {
	Doc   int32
	Score float32
}

// fusedHit is one paper after fusion.
type fusedHit struct {
	shard int
	doc   int32
	score float32
}

// FuseShard fuses one shard's dense and lexical lists (best first, each
// already cut to the fusion depth) and returns the best k by fused score,
// ties by lower corpus index (the index's key: papers are stored in
// corpus order). Its RRF arithmetic is the index's, in float64 rounded
// to float32, so weights 1, 1 reproduce the index's order exactly.
func FuseShard(f Fusion, dense, lexical []Hit, k int) []Hit {
	type acc struct {
		doc       int32
		dr, lr    int
		dns, lexn float64
	}
	by := make(map[int32]*acc, len(dense)+len(lexical))
	var order []*acc
	get := func(d int32) *acc {
		a, ok := by[d]
		if !ok {
			a = &acc{doc: d}
			by[d] = a
			order = append(order, a)
		}
		return a
	}
	dnorm, lnorm := normalizer(dense), normalizer(lexical)
	for i, h := range dense {
		a := get(h.Doc)
		a.dr, a.dns = i+1, dnorm(h.Score)
	}
	for i, h := range lexical {
		a := get(h.Doc)
		a.lr, a.lexn = i+1, lnorm(h.Score)
	}
	out := make([]Hit, 0, len(order))
	for _, a := range order {
		var s float64
		if f.Score {
			s = f.WDense*a.dns + f.WLex*a.lexn
		} else {
			if a.dr > 0 {
				s += f.WDense / float64(f.RRFK+a.dr)
			}
			if a.lr > 0 {
				s += f.WLex / float64(f.RRFK+a.lr)
			}
		}
		out = append(out, Hit{Doc: a.doc, Score: float32(s)})
	}
	slices.SortFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Doc, b.Doc)
	})
	return out[:min(len(out), k)]
}

// normalizer maps a list's scores to [0, 1] by min-max over the list; a
// list of equal scores maps to 1.
func normalizer(l []Hit) func(float32) float64 {
	if len(l) == 0 {
		return func(float32) float64 { return 0 }
	}
	lo, hi := l[0].Score, l[0].Score
	for _, h := range l {
		lo, hi = min(lo, h.Score), max(hi, h.Score)
	}
	if hi == lo {
		return func(float32) float64 { return 1 }
	}
	return func(s float32) float64 { return float64(s-lo) / float64(hi-lo) }
}

// MergeShards merges per-shard fused lists into the top k by score, ties
// by lower shard, then lower corpus index, as the index merges shards.
func MergeShards(perShard [][]Hit, k int) []int32 {
	merged := mergeLists(perShard, k)
	out := make([]int32, len(merged))
	for i, h := range merged {
		out[i] = h.Doc
	}
	return out
}

// mergeLists merges per-shard lists by score (ties: lower shard, then
// lower doc) into the best n, as the index merges shards.
func mergeLists(perShard [][]Hit, n int) []Hit {
	var all []fusedHit
	for s, l := range perShard {
		for _, h := range l {
			all = append(all, fusedHit{shard: s, doc: h.Doc, score: h.Score})
		}
	}
	slices.SortFunc(all, func(a, b fusedHit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.shard, b.shard); c != 0 {
			return c
		}
		return cmp.Compare(a.doc, b.doc)
	})
	out := make([]Hit, 0, min(len(all), n))
	for _, h := range all[:min(len(all), n)] {
		out = append(out, Hit{Doc: h.doc, Score: h.score})
	}
	return out
}

// Lexical kinds of a HybridSource.
const (
	// LexWordPiece is the offline BM25 baseline (package bm25): all BERT
	// word pieces of the text, repeats counted.
	LexWordPiece = "wordpiece"
	// LexFTS approximates the index's SQLite FTS5 search: unicode61-style
	// words, lower case, title and abstract columns weighted TitleWeight
	// and 1, FTS5's bm25() (k1 1.2, b 0.75, idf floored at 1e-6), the
	// query reduced to its first 32 distinct non-stop words. It does not
	// stem (the index uses porter) and does not remove diacritics.
	LexFTS = "fts"
)

// HybridSource computes, once per task, every query's dense and lexical
// lists on every shard (papers placed by shardset.ShardOf, as the index
// places them), deep enough for every Hybrid that uses it.
type HybridSource struct {
	Embedder Embedder
	// Lexical is LexWordPiece (needs Tok) or LexFTS.
	Lexical string
	Tok     *tokenizer.Tokenizer
	// Shards is the index's number of shards (1: one global list, which
	// is fusion at the merge instead of per shard).
	Shards int
	// MaxDepth bounds the depth any Hybrid of this source asks for.
	MaxDepth int
	// TitleWeight is the FTS title column's weight (the index's default 2).
	TitleWeight float64
	Threads     int

	mu    sync.Mutex
	task  *Task
	lists *hybridLists
}

// hybridLists are per query, per shard, the dense and lexical lists.
type hybridLists struct {
	dense, lexical [][][]Hit
}

// Hybrid ranks by a Fusion of its source's lists.
type Hybrid struct {
	Source *HybridSource
	Fusion Fusion
}

// PrepareTask implements TaskPreparer: the shards depend on paper ids.
func (h Hybrid) PrepareTask(_ context.Context, task *Task, _ dataset.TextRule) (string, error) {
	h.Source.mu.Lock()
	defer h.Source.mu.Unlock()
	if h.Source.task != task {
		h.Source.task, h.Source.lists = task, nil
	}
	return "", nil
}

// Rank implements Ranker.
func (h Hybrid) Rank(ctx context.Context, queries, corpus []string, k int) ([][]int32, error) {
	if h.Fusion.K > 0 {
		k = h.Fusion.K
	}
	depth := h.Fusion.depth(k)
	if depth > h.Source.MaxDepth {
		return nil, fmt.Errorf("hybrid %s: depth %d exceeds the source's %d", h.Fusion, depth, h.Source.MaxDepth)
	}
	l, err := h.Source.get(ctx, queries, corpus)
	if err != nil {
		return nil, err
	}
	out := make([][]int32, len(queries))
	vecmath.ParallelFor(len(queries), h.Source.threads(), func(lo, hi int) {
		per := make([][]Hit, h.Source.Shards)
		for q := lo; q < hi; q++ {
			if h.Fusion.AtMerge {
				d, x := mergeLists(l.dense[q], depth), mergeLists(l.lexical[q], depth)
				out[q] = MergeShards([][]Hit{FuseShard(h.Fusion, d, x, k)}, k)
				continue
			}
			for s := range per {
				d, x := l.dense[q][s], l.lexical[q][s]
				per[s] = FuseShard(h.Fusion, d[:min(len(d), depth)], x[:min(len(x), depth)], k)
			}
			out[q] = MergeShards(per, k)
		}
	})
	return out, nil
}

func (s *HybridSource) threads() int {
	if s.Threads > 0 {
		return s.Threads
	}
	return runtime.GOMAXPROCS(0)
}

func (s *HybridSource) get(ctx context.Context, queries, corpus []string) (*hybridLists, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists != nil {
		return s.lists, nil
	}
	t := s.task
	if t == nil || len(t.Corpus) != len(corpus) || len(t.Queries) != len(queries) {
		return nil, fmt.Errorf("hybrid: the source was not prepared for this task")
	}
	if s.Shards < 1 {
		return nil, fmt.Errorf("hybrid: %d shards", s.Shards)
	}
	shardDocs := make([][]int32, s.Shards)
	for i := range t.Corpus {
		sh := shardset.ShardOf(t.Corpus[i].ID, s.Shards)
		shardDocs[sh] = append(shardDocs[sh], int32(i))
	}
	l := &hybridLists{dense: make([][][]Hit, len(queries)), lexical: make([][][]Hit, len(queries))}
	for i := range queries {
		l.dense[i] = make([][]Hit, s.Shards)
		l.lexical[i] = make([][]Hit, s.Shards)
	}
	if err := s.denseLists(ctx, queries, corpus, shardDocs, l); err != nil {
		return nil, err
	}
	if err := s.lexicalLists(ctx, queries, t, shardDocs, l); err != nil {
		return nil, err
	}
	s.lists = l
	return l, nil
}

func (s *HybridSource) denseLists(ctx context.Context, queries, corpus []string, shardDocs [][]int32, l *hybridLists) error {
	texts := append(append(make([]string, 0, len(queries)+len(corpus)), queries...), corpus...)
	var vecs [][]float32
	for lo := 0; lo < len(texts); lo += embedChunk {
		hi := min(lo+embedChunk, len(texts))
		v, err := s.Embedder.Embed(ctx, texts[lo:hi])
		if err != nil {
			return fmt.Errorf("hybrid: embed texts %d..%d: %w", lo, hi-1, err)
		}
		vecs = append(vecs, v...)
	}
	qv, cv := vecs[:len(queries)], vecs[len(queries):]
	vecmath.ParallelFor(len(queries), s.threads(), func(lo, hi int) {
		for q := lo; q < hi && ctx.Err() == nil; q++ {
			for sh, docs := range shardDocs {
				scores := make([]float32, len(docs))
				for j, d := range docs {
					scores[j] = vecmath.Dot(qv[q], cv[d])
				}
				l.dense[q][sh] = topHits(scores, docs, s.MaxDepth, false)
			}
		}
	})
	return ctx.Err()
}

// topHits returns the best k of scores (of docs), ties by lower index;
// positive keeps only scores > 0 (a lexical match).
func topHits(scores []float32, docs []int32, k int, positive bool) []Hit {
	top := vecmath.TopK(scores, k)
	out := make([]Hit, 0, len(top))
	for _, j := range top {
		if positive && scores[j] <= 0 {
			break
		}
		out = append(out, Hit{Doc: docs[j], Score: scores[j]})
	}
	return out
}

func (s *HybridSource) lexicalLists(ctx context.Context, queries []string, t *Task, shardDocs [][]int32, l *hybridLists) error {
	switch s.Lexical {
	case LexWordPiece:
		if s.Tok == nil {
			return fmt.Errorf("hybrid: lexical %s needs a tokenizer", s.Lexical)
		}
		qt := make([][]int32, len(queries))
		vecmath.ParallelFor(len(queries), s.threads(), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				qt[i] = bm25.Tokens(s.Tok, queries[i])
			}
		})
		texts := dataset.TitleAbstract.Texts(t.Corpus)
		for sh, docs := range shardDocs {
			toks := make([][]int32, len(docs))
			vecmath.ParallelFor(len(docs), s.threads(), func(lo, hi int) {
				for j := lo; j < hi; j++ {
					toks[j] = bm25.Tokens(s.Tok, texts[docs[j]])
				}
			})
			ix := bm25.New(toks, bm25.K1, bm25.B)
			vecmath.ParallelFor(len(queries), s.threads(), func(lo, hi int) {
				var scores []float32
				for q := lo; q < hi && ctx.Err() == nil; q++ {
					scores = ix.Scores(qt[q], scores)
					l.lexical[q][sh] = topHits(scores, docs, s.MaxDepth, true)
				}
			})
		}
	case LexFTS:
		tw := s.TitleWeight
		if tw == 0 {
			tw = 2
		}
		qw := make([][]string, len(queries))
		for i, q := range queries {
			qw[i] = ftsQueryWords(q)
		}
		for sh, docs := range shardDocs {
			ix := newFTSIndex(t.Corpus, docs, tw)
			vecmath.ParallelFor(len(queries), s.threads(), func(lo, hi int) {
				scores := make([]float32, len(docs))
				for q := lo; q < hi && ctx.Err() == nil; q++ {
					ix.scores(qw[q], scores)
					l.lexical[q][sh] = topHits(scores, docs, s.MaxDepth, true)
				}
			})
		}
	default:
		return fmt.Errorf("hybrid: lexical %q: want %s or %s", s.Lexical, LexWordPiece, LexFTS)
	}
	return ctx.Err()
}

// ftsWords splits text as the index's query builder does: runs of
// letters and digits (and combining marks after them), lower case.
func ftsWords(text string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, strings.ToLower(cur.String()))
			cur.Reset()
		}
	}
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			cur.WriteRune(r)
		case unicode.Is(unicode.M, r) && cur.Len() > 0:
			cur.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return words
}

// ftsStopWords are the index's query stop words (store.stopWords).
var ftsStopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "as": true, "at": true, "be": true,
	"by": true, "for": true, "from": true, "has": true, "have": true, "in": true,
	"into": true, "is": true, "it": true, "its": true, "of": true, "on": true, "or": true,
	"our": true, "that": true, "the": true, "their": true, "these": true, "this": true,
	"to": true, "was": true, "we": true, "were": true, "which": true, "with": true,
}

// ftsQueryWords is the index's query: distinct words, stop words dropped
// unless nothing else is left, the first 32.
func ftsQueryWords(text string) []string {
	seen := map[string]bool{}
	var words, content []string
	for _, w := range ftsWords(text) {
		if len(w) <= 128 && !seen[w] {
			seen[w] = true
			words = append(words, w)
			if !ftsStopWords[w] {
				content = append(content, w)
			}
		}
	}
	if len(content) > 0 {
		words = content
	}
	return words[:min(len(words), 32)]
}

// ftsIndex is one shard's two-column index with FTS5's bm25().
type ftsIndex struct {
	n      int
	avgdl  float64
	docLen []float64
	// post[w] lists (shard-local doc, weighted term frequency).
	post map[string][]ftsPosting
}

type ftsPosting struct {
	doc int32
	f   float64
}

func newFTSIndex(corpus []dataset.Paper, docs []int32, titleWeight float64) *ftsIndex {
	ix := &ftsIndex{n: len(docs), docLen: make([]float64, len(docs)), post: map[string][]ftsPosting{}}
	var total float64
	for j, d := range docs {
		tf := map[string]float64{}
		title, abs := ftsWords(corpus[d].Title), ftsWords(corpus[d].Abstract)
		for _, w := range title {
			tf[w] += titleWeight
		}
		for _, w := range abs {
			tf[w]++
		}
		ix.docLen[j] = float64(len(title) + len(abs))
		total += ix.docLen[j]
		for w, f := range tf {
			ix.post[w] = append(ix.post[w], ftsPosting{int32(j), f})
		}
	}
	if ix.n > 0 {
		ix.avgdl = total / float64(ix.n)
	}
	return ix
}

// scores fills dst (one per shard doc) with FTS5's bm25 of an OR query.
func (ix *ftsIndex) scores(words []string, dst []float32) {
	const k1, b = 1.2, 0.75
	acc := make([]float64, ix.n)
	for _, w := range words {
		post := ix.post[w]
		if len(post) == 0 {
			continue
		}
		nh := float64(len(post))
		idf := math.Log((float64(ix.n) - nh + 0.5) / (nh + 0.5))
		if idf <= 0 {
			idf = 1e-6
		}
		for _, p := range post {
			acc[p.doc] += idf * p.f * (k1 + 1) / (p.f + k1*(1-b+b*ix.docLen[p.doc]/ix.avgdl))
		}
	}
	for j, v := range acc {
		dst[j] = float32(v)
	}
}
