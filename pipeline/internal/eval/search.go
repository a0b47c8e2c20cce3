package eval

import (
	"context"
	"fmt"
	"runtime"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
)

// Embedder turns texts into vectors (L2-normalized, one per text). The
// in-process static model and the embedder's gRPC client both are one.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Ranker ranks corpus documents for each query: for every query the
// indices of its top k documents, best first.
type Ranker interface {
	Rank(ctx context.Context, queries, corpus []string, k int) ([][]int32, error)
}

// Dense ranks by exact search over embeddings: dot products of the
// normalized vectors (cosine similarity), in parallel over queries.
// Equal scores rank the lower corpus index first.
type Dense struct {
	Embedder Embedder
	Threads  int
	// Label names the progress bars ("default: embed"); Progress
	// configures them.
	Label    string
	Progress []progress.Option
}

// embedChunk is how many texts go to the embedder at a time, so that
// progress is visible while a large corpus is embedded.
const embedChunk = 2048

// Rank embeds queries and corpus and searches exhaustively.
func (d Dense) Rank(ctx context.Context, queries, corpus []string, k int) ([][]int32, error) {
	texts := append(append(make([]string, 0, len(queries)+len(corpus)), queries...), corpus...)
	bar := progress.New(d.Label+"embed", int64(len(texts)), append([]progress.Option{progress.WithUnit("texts")}, d.Progress...)...)
	vecs := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += embedChunk {
		hi := min(lo+embedChunk, len(texts))
		v, err := d.Embedder.Embed(ctx, texts[lo:hi])
		if err != nil {
			bar.Finish()
			return nil, fmt.Errorf("embed texts %d..%d: %w", lo, hi-1, err)
		}
		if len(v) != hi-lo {
			bar.Finish()
			return nil, fmt.Errorf("embedder returned %d vectors for %d texts", len(v), hi-lo)
		}
		vecs = append(vecs, v...)
		bar.Add(int64(hi - lo))
	}
	bar.Finish()
	sbar := progress.New(d.Label+"search", int64(len(queries)), append([]progress.Option{progress.WithUnit("queries")}, d.Progress...)...)
	defer sbar.Finish()
	return search(ctx, vecs[:len(queries)], vecs[len(queries):], k, d.Threads, sbar)
}

// Search returns, for every query vector, the indices of the k corpus
// vectors with the largest dot product, best first (ties: lower index
// first).
func Search(ctx context.Context, queries, corpus [][]float32, k, threads int) ([][]int32, error) {
	return search(ctx, queries, corpus, k, threads, nil)
}

func search(ctx context.Context, queries, corpus [][]float32, k, threads int, bar *progress.Bar) ([][]int32, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if len(corpus) > 0 {
		dim := len(corpus[0])
		for i, v := range corpus {
			if len(v) != dim {
				return nil, fmt.Errorf("corpus vector %d has %d dims, want %d", i, len(v), dim)
			}
		}
		for i, v := range queries {
			if len(v) != dim {
				return nil, fmt.Errorf("query vector %d has %d dims, want %d", i, len(v), dim)
			}
		}
	}
	out := make([][]int32, len(queries))
	vecmath.ParallelFor(len(queries), threads, func(lo, hi int) {
		scores := make([]float32, len(corpus))
		for q := lo; q < hi; q++ {
			if ctx.Err() != nil {
				return
			}
			for i, c := range corpus {
				scores[i] = vecmath.Dot(queries[q], c)
			}
			out[q] = vecmath.TopK(scores, k)
			if bar != nil {
				bar.Add(1)
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
