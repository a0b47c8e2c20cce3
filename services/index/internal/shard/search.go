package shard

import (
	"context"
	"fmt"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Hit is one dense search result of a shard: a store key and its inner
// product with the query.
type Hit struct {
	Key   int64
	Score float32
}

// DenseResult holds the hits of a dense search, per query, best first.
type DenseResult struct {
	Hits [][]Hit
	// Kind is the index kind searched; Nprobe the lists probed per query
	// (after clamping; 0 for flat); Fallbacks the queries of a filtered
	// IVF search that were re-run with nprobe = nlist.
	Kind      faiss.Kind
	Nprobe    int
	Fallbacks int
}

// SearchDense returns, for each of the queries (row-major, Dim values
// each), up to k papers with the largest inner product, best first.
// nprobe <= 0 means Config.DefaultNprobe; it is clamped to the index's
// nlist and ignored by a flat index.
//
// With categories set, only papers listed in any of them are returned, and
// the filter is exact: a query gets k hits whenever the shard holds k
// matching papers. A flat index guarantees that by itself; on IVF, a query
// whose probed lists held fewer than k matching papers (while the shard
// holds more) is searched again over all lists.
func (s *Shard) SearchDense(ctx context.Context, queries []float32, k, nprobe int, categories []string) (DenseResult, error) {
	ctx, span := tracer.Start(ctx, "shard.search_dense", trace.WithAttributes(
		attribute.Int("shard", s.id), attribute.Int("k", k), attribute.Bool("filtered", len(categories) > 0)))
	defer span.End()
	res, err := s.searchDense(ctx, queries, k, nprobe, categories)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return DenseResult{}, fmt.Errorf("shard %d: %w", s.id, err)
	}
	span.SetAttributes(attribute.String("kind", res.Kind.String()), attribute.Int("nprobe", res.Nprobe),
		attribute.Int("fallbacks", res.Fallbacks))
	return res, nil
}

func (s *Shard) searchDense(ctx context.Context, queries []float32, k, nprobe int, categories []string) (DenseResult, error) {
	dim := s.st.Dim()
	if len(queries) == 0 || len(queries)%dim != 0 {
		return DenseResult{}, fmt.Errorf("%w: %d query values are not a whole number of %d-dimensional vectors",
			store.ErrInvalidArgument, len(queries), dim)
	}
	nq := len(queries) / dim
	var allow []int64
	if len(categories) > 0 {
		// Read before taking the index lock: a query, not a lock holder.
		var err error
		if allow, err = s.st.KeysInCategories(ctx, categories); err != nil {
			return DenseResult{}, err
		}
	}
	if nprobe <= 0 {
		nprobe = s.cfg.DefaultNprobe
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	idx := s.idx
	if idx == nil {
		return DenseResult{}, ErrClosed
	}
	res := DenseResult{Kind: idx.Kind(), Hits: make([][]Hit, nq)}
	ivf := res.Kind == faiss.KindIVFFlat
	if ivf {
		res.Nprobe = min(max(nprobe, 1), idx.Nlist())
	}
	if len(categories) > 0 && len(allow) == 0 {
		return res, nil // nothing matches the filter
	}
	if err := ctx.Err(); err != nil {
		return DenseResult{}, err
	}
	var dist []float32
	var labels []int64
	var err error
	if len(categories) == 0 {
		dist, labels, err = idx.Search(queries, k, res.Nprobe)
	} else {
		dist, labels, err = idx.SearchFiltered(queries, k, res.Nprobe, allow)
	}
	if err != nil {
		return DenseResult{}, err
	}
	if len(categories) > 0 && ivf && res.Nprobe < idx.Nlist() {
		if err := s.exhaustFiltered(idx, queries, k, allow, dist, labels, &res); err != nil {
			return DenseResult{}, err
		}
	}
	for q := range nq {
		row := make([]Hit, 0, k)
		for j := q * k; j < (q+1)*k; j++ {
			if labels[j] >= 0 {
				row = append(row, Hit{Key: labels[j], Score: dist[j]})
			}
		}
		res.Hits[q] = row
	}
	s.observe(idx, &res, nq, len(allow), len(categories) > 0)
	return res, nil
}

// exhaustFiltered re-runs, with nprobe = nlist, the queries of a filtered
// IVF search that got fewer than k hits although more allowed papers
// exist, and patches their rows of dist and labels.
func (s *Shard) exhaustFiltered(idx *faiss.Index, queries []float32, k int, allow []int64, dist []float32, labels []int64, res *DenseResult) error {
	dim := idx.Dim()
	want := min(k, len(allow))
	var redo []int
	for q := range len(labels) / k {
		got := 0
		for _, l := range labels[q*k : (q+1)*k] {
			if l >= 0 {
				got++
			}
		}
		if got < want {
			redo = append(redo, q)
		}
	}
	if len(redo) == 0 {
		return nil
	}
	sub := make([]float32, 0, len(redo)*dim)
	for _, q := range redo {
		sub = append(sub, queries[q*dim:(q+1)*dim]...)
	}
	d2, l2, err := idx.SearchFiltered(sub, k, idx.Nlist(), allow)
	if err != nil {
		return err
	}
	for i, q := range redo {
		copy(dist[q*k:(q+1)*k], d2[i*k:(i+1)*k])
		copy(labels[q*k:(q+1)*k], l2[i*k:(i+1)*k])
	}
	res.Fallbacks = len(redo)
	s.m.FilterFallbacks.Add(float64(len(redo)))
	return nil
}

// observe records a dense search in the metrics.
func (s *Shard) observe(idx *faiss.Index, res *DenseResult, nq, allowed int, filtered bool) {
	ntotal := float64(idx.Ntotal())
	scanned := ntotal
	if res.Kind == faiss.KindIVFFlat {
		s.m.Nprobe.Observe(float64(res.Nprobe))
		scanned = ntotal * float64(res.Nprobe) / float64(idx.Nlist())
	}
	if filtered {
		scanned = min(scanned, float64(allowed))
	}
	for range nq {
		s.m.ScannedVectors.Observe(scanned)
	}
}

// SearchLexical runs store.Store.SearchLexical on the shard's store.
func (s *Shard) SearchLexical(ctx context.Context, text string, k int, categories []string) ([]store.LexicalHit, error) {
	ctx, span := tracer.Start(ctx, "shard.search_lexical", trace.WithAttributes(
		attribute.Int("shard", s.id), attribute.Int("k", k)))
	defer span.End()
	hits, err := s.st.SearchLexical(ctx, text, k, categories)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, fmt.Errorf("shard %d: %w", s.id, err)
	}
	return hits, nil
}

// Stats describes a shard.
type Stats struct {
	Shard          int
	Papers         int64
	IndexedVectors int64
	Kind           faiss.Kind
	Nlist          int
	// DefaultNprobe is Config.DefaultNprobe clamped to nlist; 0 for flat.
	DefaultNprobe int
	// StoreVersion is the store's latest version; Applied the version the
	// index holds (equal unless a write is being applied right now).
	StoreVersion, Applied int64
	// Snapshot fields are zero when the shard has no snapshot.
	SnapshotVersion int64
	SnapshotTime    time.Time
	SnapshotBytes   int64
	StoreBytes      int64
	Training        bool
	// ChangesSinceSnapshot counts vectors added or removed since the last
	// snapshot.
	ChangesSinceSnapshot int64
}

// Stats reads the shard's statistics; it costs a few store queries.
func (s *Shard) Stats(ctx context.Context) (Stats, error) {
	st, err := s.st.Stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("shard %d: %w", s.id, err)
	}
	out := s.Gauges()
	out.Papers = st.Papers
	out.StoreVersion = st.Version
	out.StoreBytes = st.FileBytes + st.WALBytes
	return out, nil
}

// Gauges returns the statistics that need no store query: everything but
// Papers, StoreVersion and StoreBytes. Metrics scrapes use it.
func (s *Shard) Gauges() Stats {
	out := Stats{Shard: s.id, Applied: s.applied.Load(), Training: s.training.Load(),
		ChangesSinceSnapshot: s.changes.Load()}
	s.mu.RLock()
	if idx := s.idx; idx != nil {
		out.IndexedVectors = idx.Ntotal()
		out.Kind = idx.Kind()
		out.Nlist = idx.Nlist()
		if out.Kind == faiss.KindIVFFlat {
			out.DefaultNprobe = min(s.cfg.DefaultNprobe, out.Nlist)
		}
	}
	s.mu.RUnlock()
	if m := s.manifest.Load(); m != nil {
		out.SnapshotVersion = m.StoreVersion
		out.SnapshotTime = m.Created
		out.SnapshotBytes = m.PayloadBytes
	}
	return out
}
