// Package shard is one shard of the index service: a durable paper store
// (package store, the source of truth) and a FAISS index derived from it,
// kept in step on every write, snapshotted to disk (package snapshot) and
// rebuilt or retrained in the background.
//
// # Files
//
// A shard lives in one directory:
//
//	store.db, store.db-wal, store.db-shm   the SQLite store
//	snapshot.json, index-<gen>.faiss       the latest FAISS snapshot
//
// # Consistency
//
// Writes (Upsert, Delete) are serialized per shard: each commits one store
// transaction, which is durable when it returns, and then applies the same
// change to the in-memory index, under one mutex, so the index applies
// changes in store-version order and always equals the store at the version
// it records (Applied). A search sees a paper once its write has been
// applied, which happens before the write is acknowledged.
//
// A snapshot records the store version its index holds. Opening a shard
// loads the snapshot, verifies it, and replays every store change newer than
// it (store.Changes); without a usable snapshot (none, corrupt, from another
// store, or older than the compacted tombstones) it rebuilds a flat index
// from a scan of the store, and trains it into IVF in the background if the
// shard is large enough. Since the store is durable and a snapshot is only
// a cache of it, a crash at any moment loses nothing acknowledged: the next
// open replays what the snapshot missed.
//
// # Index kinds
//
// A shard starts with a flat (exact) index. Once it holds FlatThreshold
// papers it is trained into IVF; once it has grown RetrainFactor times past
// what its nlist suits, it is retrained with a larger nlist. Training never
// blocks searches: the new index is built from a sample and a scan of the
// store while the old one keeps serving, then the writes made meanwhile are
// replayed onto it under the write lock and it replaces the old one. Two
// indexes exist in memory while that runs.
//
// # Threads
//
// FAISS calls run on the calling goroutine's thread plus FAISS's own OpenMP
// team. The service runs with OMP_NUM_THREADS=1 and gets its parallelism
// from searching shards concurrently, one goroutine each (see package
// faiss, section Concurrency and threads).
package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// StoreFile is the store's file name in a shard directory.
const StoreFile = "store.db"

// Errors of this package, to be tested with errors.Is.
var (
	// ErrTooFewPapers reports a training request for a shard with fewer
	// papers than lists.
	ErrTooFewPapers = errors.New("too few papers to train")
	// ErrClosed reports use of a closed shard.
	ErrClosed = errors.New("shard is closed")
)

var tracer = otel.Tracer("github.com/arxivsearch/arxivsearch/services/index/internal/shard")

// Options configures Open.
type Options struct {
	// ID is the shard number, for logs and metrics.
	ID int
	// Dir is the shard's directory; Open creates it.
	Dir string
	// Model and Dim are passed to store.Open: they create a new store and
	// must match an existing one.
	Model string
	Dim   int
	// Config tunes the index.
	Config Config
	// Logger and Metrics may be nil.
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Shard is one open shard. Its methods are safe for concurrent use.
//
// Lock order: trainMu, snapMu, writeMu, mu.
type Shard struct {
	id  int
	dir string
	cfg Config
	log *slog.Logger
	m   *metrics.Metrics
	st  *store.Store

	// trainMu serializes trainings; snapMu serializes snapshots and guards
	// manifest and snapIdx.
	trainMu sync.Mutex
	snapMu  sync.Mutex
	// writeMu serializes writes (store commit plus index apply), snapshot
	// serialization and index swaps.
	writeMu sync.Mutex
	// mu guards idx: searches hold it shared for their whole duration, a
	// swap holds it exclusively, so an index is never closed under a
	// search.
	mu  sync.RWMutex
	idx *faiss.Index

	applied  atomic.Int64 // store version idx holds; written under writeMu
	manifest atomic.Pointer[snapshot.Manifest]
	snapIdx  *faiss.Index // the index the manifest was written from
	// changes counts vectors added or removed since the last snapshot.
	changes  atomic.Int64
	training atomic.Bool
	// trainPin is the lowest store version a running training may still
	// replay from (0: none); snapshots compact tombstones only up to it.
	trainPin atomic.Int64
	closed   atomic.Bool

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex // guards bgStop against bg.Add
	bgStop   bool
	bg       sync.WaitGroup
	kick     chan struct{} // wakes the snapshot worker
}

// goBackground runs fn on a tracked goroutine unless the shard is closing.
func (s *Shard) goBackground(fn func()) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgStop {
		return false
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
	return true
}

// Open opens or creates the shard in opts.Dir and loads its index: the
// snapshot plus replay, or a rebuild from the store (see the package
// documentation). A corrupt or unusable snapshot is not an error; store
// errors are.
func Open(ctx context.Context, opts Options) (*Shard, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("shard %d: %w", opts.ID, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(nil)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("shard %d: %w", opts.ID, err)
	}
	// A new directory's entry must survive a power loss like the store in it.
	if err := snapshot.SyncDir(filepath.Dir(opts.Dir)); err != nil {
		return nil, fmt.Errorf("shard %d: %w", opts.ID, err)
	}
	st, err := store.Open(ctx, filepath.Join(opts.Dir, StoreFile), store.Options{Model: opts.Model, Dim: opts.Dim})
	if err != nil {
		return nil, fmt.Errorf("shard %d: %w", opts.ID, err)
	}
	s := &Shard{
		id:   opts.ID,
		dir:  opts.Dir,
		cfg:  opts.Config,
		log:  opts.Logger.With("shard", opts.ID),
		m:    opts.Metrics,
		st:   st,
		kick: make(chan struct{}, 1),
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	idx, err := s.load(ctx)
	if err != nil {
		s.bgCancel()
		st.Close()
		return nil, fmt.Errorf("shard %d: %w", opts.ID, err)
	}
	s.idx = idx
	s.goBackground(s.snapshotWorker)
	s.goBackground(s.warmLexical)
	s.maybeTrain()
	return s, nil
}

// warmLexical builds the store's in-memory copy of its lexical index now,
// so that the first lexical and hybrid searches after a start do not pay
// FTS5's cost (tens of milliseconds per shard at 10,000 papers) while the
// first search's build runs. Builds share a bounded pool of cores with
// each other (see store.WarmLexical); searches meanwhile use FTS5.
func (s *Shard) warmLexical() {
	start := time.Now()
	if err := s.st.WarmLexical(s.bgCtx); err != nil {
		if s.bgCtx.Err() == nil {
			s.log.Warn("in-memory lexical index not built; lexical searches use FTS5 until a search rebuilds it", "err", err)
		}
		return
	}
	s.log.Debug("in-memory lexical index built", "elapsed", time.Since(start).Round(time.Millisecond))
}

// ID returns the shard number.
func (s *Shard) ID() int { return s.id }

// Dir returns the shard's directory.
func (s *Shard) Dir() string { return s.dir }

// Store returns the shard's store, for reads the shard does not wrap.
func (s *Shard) Store() *store.Store { return s.st }

// Config returns the shard's index configuration.
func (s *Shard) Config() Config { return s.cfg }

// Applied returns the store version the in-memory index holds.
func (s *Shard) Applied() int64 { return s.applied.Load() }

// Training reports whether a (re)training is running.
func (s *Shard) Training() bool { return s.training.Load() }

// Manifest returns the latest snapshot's manifest, nil if none was loaded
// or written.
func (s *Shard) Manifest() *snapshot.Manifest { return s.manifest.Load() }

// load builds the shard's index from disk: the snapshot plus replay when
// possible, else a rebuild. It sets applied, manifest and snapIdx; the
// caller holds writeMu (or has the shard to itself).
func (s *Shard) load(ctx context.Context) (*faiss.Index, error) {
	ctx, span := tracer.Start(ctx, "shard.load", trace.WithAttributes(attribute.Int("shard", s.id)))
	defer span.End()
	start := time.Now()
	defer func() { s.m.LoadSeconds.Observe(time.Since(start).Seconds()) }()

	if removed, err := snapshot.Clean(s.dir); err != nil {
		return nil, err
	} else if len(removed) > 0 {
		s.log.Info("removed leftovers of an interrupted snapshot", "files", removed)
	}
	idx, reason, err := s.loadSnapshot(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	if idx != nil {
		span.SetAttributes(attribute.String("source", "snapshot"))
		return idx, nil
	}
	span.SetAttributes(attribute.String("source", "rebuild"), attribute.String("reason", reason))
	s.m.Rebuilds.WithLabelValues(reason).Inc()
	idx, version, err := s.rebuildFlat(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	s.applied.Store(version)
	s.manifest.Store(nil)
	s.snapIdx = nil
	s.log.Info("rebuilt index from the store", "reason", reason, "vectors", idx.Ntotal(),
		"store_version", version, "elapsed", time.Since(start).Round(time.Millisecond))
	if reason != "no_snapshot" || idx.Ntotal() > 0 {
		s.kickSnapshot() // do not pay for the rebuild again at the next start
	}
	return idx, nil
}

// loadSnapshot loads and replays the snapshot. It returns a nil index and
// the reason when the shard must be rebuilt instead, and an error only for
// failures that a rebuild would not fix (I/O, store errors).
func (s *Shard) loadSnapshot(ctx context.Context) (*faiss.Index, string, error) {
	idx, m, err := snapshot.Load(s.dir)
	switch {
	case errors.Is(err, snapshot.ErrNoSnapshot):
		return nil, "no_snapshot", nil
	case errors.Is(err, snapshot.ErrCorrupt):
		s.log.Warn("snapshot is corrupt; rebuilding the index from the store", "err", err)
		return nil, "corrupt", s.dropSnapshot()
	case err != nil:
		return nil, "", err
	}
	if m.Model != s.st.Model() || m.Dim != s.st.Dim() {
		idx.Close()
		s.log.Warn("snapshot belongs to another model; rebuilding the index from the store",
			"snapshot_model", m.Model, "snapshot_dim", m.Dim, "store_model", s.st.Model(), "store_dim", s.st.Dim())
		return nil, "model_mismatch", s.dropSnapshot()
	}
	start := time.Now()
	through, added, removed, err := replay(ctx, s.st, idx, m.StoreVersion)
	switch {
	case errors.Is(err, store.ErrCompacted):
		idx.Close()
		s.log.Warn("snapshot is older than the compacted tombstones; rebuilding the index from the store",
			"snapshot_version", m.StoreVersion, "err", err)
		return nil, "compacted", s.dropSnapshot()
	case errors.Is(err, store.ErrVersionAhead):
		idx.Close()
		s.log.Warn("snapshot is newer than the store (restored store?); rebuilding the index from the store",
			"snapshot_version", m.StoreVersion, "err", err)
		return nil, "version_ahead", s.dropSnapshot()
	case err != nil:
		idx.Close()
		return nil, "", fmt.Errorf("replay onto snapshot at version %d: %w", m.StoreVersion, err)
	}
	s.m.ReplayedChanges.WithLabelValues("added").Add(float64(added))
	s.m.ReplayedChanges.WithLabelValues("removed").Add(float64(removed))
	s.applied.Store(through)
	s.manifest.Store(&m)
	s.snapIdx = idx
	s.changes.Store(int64(added + removed))
	if added+removed > 0 {
		s.snapIdx = nil // the index now differs from the snapshot
	}
	s.log.Info("loaded snapshot", "kind", m.Kind, "nlist", m.Nlist, "snapshot_version", m.StoreVersion,
		"store_version", through, "replayed_added", added, "replayed_removed", removed,
		"vectors", idx.Ntotal(), "replay", time.Since(start).Round(time.Millisecond))
	return idx, "", nil
}

// dropSnapshot removes an unusable snapshot so the next load does not try
// it again; the next snapshot replaces it.
func (s *Shard) dropSnapshot() error {
	s.manifest.Store(nil)
	s.snapIdx = nil
	if err := snapshot.Remove(s.dir); err != nil {
		return fmt.Errorf("remove unusable snapshot: %w", err)
	}
	return nil
}

// replayBatch bounds the vectors buffered while replaying or scanning.
const replayBatch = 8192

// replay applies every store change after since to idx, which must hold
// exactly the store at version since, and returns the version it now holds
// and how many vectors it added and removed.
//
// Creations are of keys the index cannot hold (keys are never reused) and
// deletions are of keys that are no longer live (so never among the
// creations), so additions can be flushed in batches as they come and all
// removals done at the end in one pass, whatever the order.
func replay(ctx context.Context, st *store.Store, idx *faiss.Index, since int64) (through int64, added, removed int, err error) {
	var keys []int64
	var vecs []float32
	var gone []int64
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		if err := idx.Add(keys, vecs); err != nil {
			return err
		}
		added += len(keys)
		keys, vecs = keys[:0], vecs[:0]
		return nil
	}
	through, err = st.Changes(ctx, since, func(c store.Change) error {
		if c.Deleted {
			gone = append(gone, c.Key)
			return nil
		}
		keys = append(keys, c.Key)
		vecs = append(vecs, c.Vector...)
		if len(keys) >= replayBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := flush(); err != nil {
		return 0, 0, 0, fmt.Errorf("replay: %w", err)
	}
	if len(gone) > 0 {
		n, err := idx.Remove(gone)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("replay: %w", err)
		}
		removed = n
	}
	return through, added, removed, nil
}

// fill adds every stored vector to idx from one scan and returns the store
// version the scan saw.
func fill(ctx context.Context, st *store.Store, idx *faiss.Index) (int64, error) {
	keys := make([]int64, 0, replayBatch)
	vecs := make([]float32, 0, replayBatch*st.Dim())
	version, err := st.ScanVectors(ctx, func(key int64, v []float32) error {
		keys = append(keys, key)
		vecs = append(vecs, v...)
		if len(keys) < replayBatch {
			return nil
		}
		err := idx.Add(keys, vecs)
		keys, vecs = keys[:0], vecs[:0]
		return err
	})
	if err != nil {
		return 0, err
	}
	if len(keys) > 0 {
		if err := idx.Add(keys, vecs); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// rebuildFlat builds a flat index of the whole store.
func (s *Shard) rebuildFlat(ctx context.Context) (*faiss.Index, int64, error) {
	idx, err := faiss.NewFlat(s.st.Dim())
	if err != nil {
		return nil, 0, err
	}
	version, err := fill(ctx, s.st, idx)
	if err != nil {
		idx.Close()
		return nil, 0, fmt.Errorf("rebuild from store: %w", err)
	}
	return idx, version, nil
}

// Reload replaces the in-memory index by what is on disk: the snapshot
// plus replay, or a rebuild (see Open). Writes wait while it runs;
// searches continue on the old index until the swap.
func (s *Shard) Reload(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.idx == nil {
		return ErrClosed
	}
	idx, err := s.load(ctx)
	if err != nil {
		return fmt.Errorf("shard %d: reload: %w", s.id, err)
	}
	s.swap(idx)
	return nil
}

// swap replaces the index; the caller holds writeMu. The old index is
// closed once the searches using it have finished.
func (s *Shard) swap(idx *faiss.Index) {
	s.mu.Lock()
	old := s.idx
	s.idx = idx
	s.mu.Unlock()
	if old != nil && old != idx {
		old.Close()
	}
}

// Close stops background work, writes a final snapshot if the index
// changed since the last one and snapshot is set, and closes the index and
// the store. A training in progress is abandoned at its next cancellation
// point (FAISS's k-means itself cannot be interrupted).
func (s *Shard) Close(ctx context.Context, finalSnapshot bool) error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	s.bgMu.Lock()
	s.bgStop = true
	s.bgMu.Unlock()
	s.bgCancel()
	s.bg.Wait()
	var errs []error
	if finalSnapshot {
		if _, err := s.snapshot(ctx, false); err != nil {
			errs = append(errs, err)
		}
	}
	s.writeMu.Lock()
	s.mu.Lock()
	if s.idx != nil {
		s.idx.Close()
		s.idx = nil
	}
	s.mu.Unlock()
	s.writeMu.Unlock()
	if err := s.st.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shard %d: close: %w", s.id, err)
	}
	return nil
}
