package shard

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Snapshot writes the index to disk now if it changed since the last
// snapshot, and compacts the store's tombstones up to the snapshot's
// version. It reports whether it wrote one. Writes wait while the index is
// serialized (not while it is synced to disk); searches continue.
func (s *Shard) Snapshot(ctx context.Context) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	return s.snapshot(ctx, false)
}

// snapshot implements Snapshot; force writes one even if nothing changed.
func (s *Shard) snapshot(ctx context.Context, force bool) (bool, error) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	ctx, span := tracer.Start(ctx, "shard.snapshot", trace.WithAttributes(attribute.Int("shard", s.id)))
	defer span.End()

	// Clean: the snapshot holds this very index and no vector changed
	// since. Its version may trail the store's by metadata-only writes,
	// which a replay skips at no cost, so they do not force a rewrite.
	prev := s.manifest.Load()
	s.writeMu.Lock()
	clean := prev != nil && s.snapIdx == s.idx && s.changes.Load() == 0
	gone := s.idx == nil
	s.writeMu.Unlock()
	if gone {
		return false, ErrClosed
	}
	if clean && !force {
		span.SetAttributes(attribute.Bool("skipped", true))
		return false, nil
	}

	start := time.Now()
	var changes int64
	m, err := snapshot.Write(s.dir, prev, func(w io.Writer) (snapshot.Info, error) {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		idx := s.idx
		info := snapshot.Info{
			Model: s.st.Model(), Dim: s.st.Dim(), Kind: idx.Kind(), Nlist: idx.Nlist(),
			Ntotal: idx.Ntotal(), StoreVersion: s.applied.Load(),
		}
		if _, err := idx.WriteTo(w); err != nil {
			return info, err
		}
		s.snapIdx = idx
		changes = s.changes.Swap(0)
		return info, nil
	})
	elapsed := time.Since(start)
	s.m.SnapshotSeconds.Observe(elapsed.Seconds())
	if err != nil {
		s.changes.Add(changes)
		s.writeMu.Lock()
		s.snapIdx = nil
		s.writeMu.Unlock()
		s.m.Snapshots.WithLabelValues("error").Inc()
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return false, fmt.Errorf("shard %d: %w", s.id, err)
	}
	s.m.Snapshots.WithLabelValues("ok").Inc()
	s.manifest.Store(&m)
	span.SetAttributes(attribute.Int64("store_version", m.StoreVersion), attribute.Int64("bytes", m.PayloadBytes))
	s.log.Info("snapshot written", "kind", m.Kind, "nlist", m.Nlist, "vectors", m.Ntotal,
		"store_version", m.StoreVersion, "bytes", m.PayloadBytes, "elapsed", elapsed.Round(time.Millisecond))

	// No snapshot older than m can be loaded any more, so tombstones up to
	// its version are never needed again, except by a training that
	// scanned the store earlier and has yet to catch up from its scan.
	upTo := m.StoreVersion
	if pin := s.trainPin.Load(); pin > 0 && pin < upTo {
		upTo = pin
	}
	if n, err := s.st.CompactTombstones(ctx, upTo); err != nil {
		s.log.Warn("compacting tombstones", "up_to", upTo, "err", err)
	} else if n > 0 {
		s.log.Debug("compacted tombstones", "up_to", upTo, "dropped", n)
	}
	return true, nil
}

// kickSnapshot asks the snapshot worker for a snapshot soon.
func (s *Shard) kickSnapshot() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// snapshotWorker writes the snapshots that writes, rebuilds and trainings
// ask for, one at a time, off their goroutines.
func (s *Shard) snapshotWorker() {
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-s.kick:
		}
		if _, err := s.snapshot(s.bgCtx, false); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("background snapshot failed", "err", err)
		}
	}
}
