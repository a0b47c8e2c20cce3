package shard

import (
	"context"
	"fmt"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Upsert stores papers in one store transaction and applies the change to
// the index before returning; see store.Store.Upsert for validation and
// outcomes. The write is durable and searchable when Upsert returns
// without error.
func (s *Shard) Upsert(ctx context.Context, papers []store.Paper) (store.UpsertResult, error) {
	if s.closed.Load() {
		return store.UpsertResult{}, ErrClosed
	}
	ctx, span := tracer.Start(ctx, "shard.upsert", trace.WithAttributes(
		attribute.Int("shard", s.id), attribute.Int("papers", len(papers))))
	defer span.End()

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.idx == nil {
		return store.UpsertResult{}, ErrClosed
	}
	res, err := s.st.Upsert(ctx, papers)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return store.UpsertResult{}, fmt.Errorf("shard %d: %w", s.id, err)
	}
	removed := res.RemovedKeys()
	var keys []int64
	var vecs []float32
	for i, it := range res.Items {
		s.m.UpsertedPapers.WithLabelValues(it.Op.String()).Inc()
		if it.Op == store.OpCreated || it.Op == store.OpReplaced {
			keys = append(keys, it.Key)
			vecs = append(vecs, papers[i].Vector...)
		}
	}
	if err := s.apply(ctx, res.Version, removed, keys, vecs); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return store.UpsertResult{}, err
	}
	return res, nil
}

// Delete deletes papers by id in one store transaction and removes their
// vectors from the index before returning; see store.Store.Delete. keys[i]
// is store.NoKey for an id that was not stored.
func (s *Shard) Delete(ctx context.Context, ids []string) (version int64, keys []int64, err error) {
	if s.closed.Load() {
		return 0, nil, ErrClosed
	}
	ctx, span := tracer.Start(ctx, "shard.delete", trace.WithAttributes(
		attribute.Int("shard", s.id), attribute.Int("ids", len(ids))))
	defer span.End()

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.idx == nil {
		return 0, nil, ErrClosed
	}
	version, keys, err = s.st.Delete(ctx, ids)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return 0, nil, fmt.Errorf("shard %d: %w", s.id, err)
	}
	var removed []int64
	seen := make(map[int64]bool, len(keys))
	for _, k := range keys {
		if k != store.NoKey && !seen[k] {
			seen[k] = true
			removed = append(removed, k)
		}
	}
	s.m.DeletedPapers.Add(float64(len(removed)))
	if err := s.apply(ctx, version, removed, nil, nil); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return 0, nil, err
	}
	return version, keys, nil
}

// apply brings the index to store version after a committed write that
// removed and added the given keys; the caller holds writeMu. A failure
// here means the index no longer matches the store: apply then rebuilds it
// from the store before giving up, so the shard never serves a stale index
// silently.
func (s *Shard) apply(ctx context.Context, version int64, removed, keys []int64, vecs []float32) error {
	if version <= s.applied.Load() {
		return nil // nothing changed
	}
	err := func() error {
		if len(removed) > 0 {
			if _, err := s.idx.Remove(removed); err != nil {
				return err
			}
		}
		if len(keys) > 0 {
			if err := s.idx.Add(keys, vecs); err != nil {
				return err
			}
		}
		return nil
	}()
	if err == nil {
		s.applied.Store(version)
		s.noteChanges(int64(len(removed) + len(keys)))
		s.maybeTrain()
		return nil
	}
	// The store committed; the index did not follow. Rebuild it from the
	// store (which includes this write) with a context the caller cannot
	// cancel half-way.
	s.log.Error("applying a committed write to the index failed; rebuilding the index from the store",
		"store_version", version, "err", err)
	s.m.Rebuilds.WithLabelValues("apply_failed").Inc()
	idx, v, rerr := s.rebuild(context.WithoutCancel(ctx))
	if rerr != nil {
		return fmt.Errorf("shard %d: the write is stored (version %d) but the index could not follow (%w) nor be rebuilt: %w",
			s.id, version, err, rerr)
	}
	s.swap(idx)
	s.applied.Store(v)
	s.noteChanges(idx.Ntotal())
	return nil
}

// rebuild builds a new index of the same kind and nlist as the current one
// from a store scan; the caller holds writeMu, so the scan sees every
// committed write.
func (s *Shard) rebuild(ctx context.Context) (*faiss.Index, int64, error) {
	if s.idx.Kind() == faiss.KindIVFFlat {
		n, err := s.st.Count(ctx)
		if err != nil {
			return nil, 0, err
		}
		if int64(s.idx.Nlist()) <= n {
			idx, err := s.trainNew(ctx, s.idx.Nlist(), n)
			if err != nil {
				return nil, 0, err
			}
			v, err := fill(ctx, s.st, idx)
			if err != nil {
				idx.Close()
				return nil, 0, err
			}
			return idx, v, nil
		}
	}
	return s.rebuildFlat(ctx)
}

// noteChanges counts changed vectors towards the next snapshot and kicks
// the snapshot worker when enough have accumulated.
func (s *Shard) noteChanges(n int64) {
	total := s.changes.Add(n)
	if s.cfg.SnapshotEveryChanges > 0 && total >= s.cfg.SnapshotEveryChanges {
		s.kickSnapshot()
	}
}
