package shard

import (
	"context"
	"fmt"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Train (re)trains the shard into an IVF index with nlist lists (0: the
// configured nlist, else AutoNlist of the shard's size) and returns once
// the new index serves; see the package documentation for how searches and
// writes continue meanwhile. It waits for a training already running to
// finish first. It fails with ErrTooFewPapers when the shard holds fewer
// papers than lists.
func (s *Shard) Train(ctx context.Context, nlist int) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.trainMu.Lock()
	defer s.trainMu.Unlock()
	return s.train(ctx, nlist)
}

// maybeTrain starts a background training when the shard has outgrown its
// index (Config.trainTarget). Cheap enough to call after every write.
func (s *Shard) maybeTrain() {
	s.mu.RLock()
	idx := s.idx
	if idx == nil {
		s.mu.RUnlock()
		return
	}
	ivf, nlist, n := idx.Kind() == faiss.KindIVFFlat, idx.Nlist(), idx.Ntotal()
	s.mu.RUnlock()
	target, ok := s.cfg.trainTarget(ivf, nlist, n)
	if !ok || s.training.Load() || s.closed.Load() || s.bgCtx.Err() != nil {
		return
	}
	if !s.trainMu.TryLock() {
		return
	}
	started := s.goBackground(func() {
		defer s.trainMu.Unlock()
		// Check again under the lock: a training may just have finished.
		s.mu.RLock()
		idx := s.idx
		if idx == nil {
			s.mu.RUnlock()
			return
		}
		ivf, nlist, n := idx.Kind() == faiss.KindIVFFlat, idx.Nlist(), idx.Ntotal()
		s.mu.RUnlock()
		if _, ok := s.cfg.trainTarget(ivf, nlist, n); !ok {
			return
		}
		s.log.Info("shard outgrew its index; training in the background", "vectors", n,
			"kind", idx.Kind(), "nlist", nlist, "new_nlist", target)
		if err := s.train(s.bgCtx, 0); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("background training failed; the old index keeps serving", "err", err)
		}
	})
	if !started {
		s.trainMu.Unlock()
	}
}

// train does the work of Train; the caller holds trainMu.
func (s *Shard) train(ctx context.Context, requested int) (err error) {
	s.training.Store(true)
	defer s.training.Store(false)
	start := time.Now()
	ctx, span := tracer.Start(ctx, "shard.train", trace.WithAttributes(attribute.Int("shard", s.id)))
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		s.m.Trainings.WithLabelValues(result).Inc()
		s.m.TrainSeconds.Observe(time.Since(start).Seconds())
		span.End()
	}()

	n, err := s.st.Count(ctx)
	if err != nil {
		return fmt.Errorf("shard %d: train: %w", s.id, err)
	}
	nlist := s.cfg.chooseNlist(n, requested)
	span.SetAttributes(attribute.Int("nlist", nlist), attribute.Int64("papers", n))
	if n == 0 || int64(nlist) > n {
		return fmt.Errorf("shard %d: %w: %d papers for %d lists (IVF needs at least one paper per list, FAISS recommends %d)",
			s.id, ErrTooFewPapers, n, nlist, MinPointsPerList)
	}
	if nlist > faiss.MaxNlist {
		return fmt.Errorf("shard %d: train: nlist %d exceeds %d", s.id, nlist, faiss.MaxNlist)
	}

	// Phase 1, without locks: train on a sample, fill from a scan. The
	// scan sees at least the version applied now; keep the tombstones
	// after it until phase 2 has replayed them.
	s.trainPin.Store(max(s.applied.Load(), 1))
	defer s.trainPin.Store(0)
	idx, err := s.trainNew(ctx, nlist, n)
	if err != nil {
		return fmt.Errorf("shard %d: train: %w", s.id, err)
	}
	trained := time.Since(start)
	scanned, err := fill(ctx, s.st, idx)
	if err != nil {
		idx.Close()
		return fmt.Errorf("shard %d: train: fill: %w", s.id, err)
	}
	if testHookAfterFill != nil {
		testHookAfterFill(s)
	}

	// Phase 2, under the write lock: catch up with the writes made since
	// the scan, then swap. Searches wait only for the swap itself.
	s.writeMu.Lock()
	if s.idx == nil {
		s.writeMu.Unlock()
		idx.Close()
		return ErrClosed
	}
	through, added, removed, err := replay(ctx, s.st, idx, scanned)
	if err == nil && through != s.applied.Load() {
		err = fmt.Errorf("store is at version %d after catching up, index at %d", through, s.applied.Load())
	}
	if err != nil {
		s.writeMu.Unlock()
		idx.Close()
		return fmt.Errorf("shard %d: train: catch up: %w", s.id, err)
	}
	s.swap(idx)
	s.writeMu.Unlock()
	s.log.Info("trained IVF index", "nlist", nlist, "vectors", idx.Ntotal(), "store_version", through,
		"train", trained.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond),
		"caught_up_added", added, "caught_up_removed", removed)

	// The new index exists only in memory: save it, so that a restart
	// does not train again.
	if _, err := s.snapshot(ctx, false); err != nil {
		s.log.Error("snapshot after training failed; the next periodic snapshot retries", "err", err)
	}
	return nil
}

// testHookAfterFill, when set by a test, runs between the two phases of
// a training.
var testHookAfterFill func(*Shard)

// trainNew returns a new IVF index with nlist lists trained on a sample of
// the store's vectors, for a shard of n papers.
func (s *Shard) trainNew(ctx context.Context, nlist int, n int64) (*faiss.Index, error) {
	sample := min(n, int64(nlist)*int64(s.cfg.TrainPointsPerList))
	vecs, err := s.st.SampleVectors(ctx, int(sample), s.cfg.Seed)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idx, err := faiss.NewIVFFlat(s.st.Dim(), nlist)
	if err != nil {
		return nil, err
	}
	if err := idx.Train(vecs); err != nil {
		idx.Close()
		return nil, err
	}
	return idx, nil
}
