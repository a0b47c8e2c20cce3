// Package collection is the part of a collection one index instance owns:
// its data directory, the collection's settings, and the owned shards'
// lifecycle (open, configure on the first upsert, periodic snapshots,
// close with a final snapshot).
//
// # Data directory
//
//	<data-dir>/collection.json      total shards, model name, dimension
//	<data-dir>/shard-000/           one directory per owned shard (package shard)
//	<data-dir>/shard-001/ ...
//
// collection.json is written when the instance first starts on an empty
// directory (with total shards only) and again, atomically, when the first
// upsert sets the model name and dimension. The shard directories are
// created only then, because a store needs a model and a dimension to
// exist. A later start with another -total-shards is refused: papers are
// placed by ShardOf(id, total), so the count is fixed once data is stored.
package collection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"golang.org/x/sync/errgroup"
)

// FileName is the collection settings file in the data directory.
const FileName = "collection.json"

// Errors, to be tested with errors.Is (store.ErrModelMismatch and
// store.ErrDimensionMismatch are returned as they are).
var (
	// ErrTotalShardsMismatch reports a data directory created for another
	// number of shards.
	ErrTotalShardsMismatch = errors.New("total shards differ from the data directory's")
	// ErrNotOwned reports a shard this instance does not own.
	ErrNotOwned = errors.New("shard not owned by this instance")
)

// Settings is the content of collection.json.
type Settings struct {
	Format      int       `json:"format"`
	TotalShards int       `json:"total_shards"`
	Model       string    `json:"model,omitempty"`
	Dim         int       `json:"dim,omitempty"`
	Created     time.Time `json:"created"`
}

// Options configures Open.
type Options struct {
	Dir         string
	TotalShards int
	// Owned lists the shards this instance owns, sorted, without
	// duplicates (shardset.Parse).
	Owned []int
	Shard shard.Config
	// SnapshotInterval is how often Run snapshots shards that changed; 0
	// disables periodic snapshots.
	SnapshotInterval time.Duration
	// OpenParallel bounds how many shards load at once; 0 means 2.
	OpenParallel int
	Logger       *slog.Logger
	Metrics      *metrics.Metrics
}

// Collection is the owned part of a collection. Its methods are safe for
// concurrent use.
type Collection struct {
	opts Options
	log  *slog.Logger
	m    *metrics.Metrics

	mu       sync.RWMutex // guards settings and shards
	settings Settings
	shards   map[int]*shard.Shard // nil until the model is known
	closed   bool
}

// Open reads or creates the data directory and, when the collection has a
// model already, opens every owned shard (loading snapshots and replaying,
// or rebuilding; see package shard). It fails on a data directory made for
// another number of shards and on any shard whose store cannot be opened.
func Open(ctx context.Context, opts Options) (*Collection, error) {
	if err := shardset.ValidateTotal(opts.TotalShards); err != nil {
		return nil, err
	}
	if len(opts.Owned) == 0 {
		return nil, errors.New("collection: no owned shards")
	}
	for _, s := range opts.Owned {
		if s < 0 || s >= opts.TotalShards {
			return nil, fmt.Errorf("collection: owned shard %d out of range 0..%d", s, opts.TotalShards-1)
		}
	}
	if err := opts.Shard.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(nil)
	}
	if opts.OpenParallel <= 0 {
		opts.OpenParallel = 2
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("collection: %w", err)
	}
	c := &Collection{opts: opts, log: opts.Logger, m: opts.Metrics}
	set, err := readSettings(opts.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if dirs := c.existingShardDirs(); len(dirs) > 0 {
			return nil, fmt.Errorf("collection: %s has shard directories (%v) but no %s; it was not written by this service, or the file was lost: restore it or start from an empty directory",
				opts.Dir, dirs, FileName)
		}
		set = Settings{Format: 1, TotalShards: opts.TotalShards, Created: time.Now().UTC()}
		if err := writeSettings(opts.Dir, set); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case set.TotalShards != opts.TotalShards:
		return nil, fmt.Errorf("collection: %s holds a collection of %d shards, started with -total-shards %d: %w (papers are placed by a hash modulo the shard count, so it cannot change once data is stored)",
			opts.Dir, set.TotalShards, opts.TotalShards, ErrTotalShardsMismatch)
	}
	c.settings = set
	if set.Model != "" {
		if err := c.openShards(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func readSettings(dir string) (Settings, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return Settings{}, err
	}
	var s Settings
	if err := json.Unmarshal(data, &s); err != nil {
		return Settings{}, fmt.Errorf("collection: %s: %w", filepath.Join(dir, FileName), err)
	}
	if s.Format != 1 || s.TotalShards < 1 || (s.Model == "") != (s.Dim == 0) {
		return Settings{}, fmt.Errorf("collection: %s: unsupported or inconsistent settings %+v", filepath.Join(dir, FileName), s)
	}
	return s, nil
}

func writeSettings(dir string, s Settings) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("collection: encode settings: %w", err)
	}
	if err := snapshot.WriteFileAtomic(filepath.Join(dir, FileName), append(data, '\n')); err != nil {
		return fmt.Errorf("collection: write settings: %w", err)
	}
	return nil
}

// ShardDir is the directory of shard i under the data directory.
func ShardDir(dataDir string, i int) string {
	return filepath.Join(dataDir, fmt.Sprintf("shard-%03d", i))
}

func (c *Collection) existingShardDirs() []string {
	matches, _ := filepath.Glob(filepath.Join(c.opts.Dir, "shard-*", shard.StoreFile))
	for i, m := range matches {
		matches[i] = filepath.Base(filepath.Dir(m))
	}
	return matches
}

// openShards opens every owned shard with the settings' model; the caller
// holds mu or has c to itself.
func (c *Collection) openShards(ctx context.Context) error {
	start := time.Now()
	opened := make([]*shard.Shard, len(c.opts.Owned))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.OpenParallel)
	for i, id := range c.opts.Owned {
		g.Go(func() error {
			s, err := shard.Open(gctx, shard.Options{
				ID: id, Dir: ShardDir(c.opts.Dir, id), Model: c.settings.Model, Dim: c.settings.Dim,
				Config: c.opts.Shard, Logger: c.log, Metrics: c.m,
			})
			opened[i] = s
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for _, s := range opened {
			if s != nil {
				s.Close(context.Background(), false)
			}
		}
		return fmt.Errorf("collection: open shards: %w", err)
	}
	c.shards = make(map[int]*shard.Shard, len(opened))
	for _, s := range opened {
		c.shards[s.ID()] = s
	}
	c.log.Info("shards loaded", "shards", shardset.Format(c.opts.Owned), "model", c.settings.Model,
		"dim", c.settings.Dim, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// Configure sets the collection's model and dimension on the first upsert
// and creates the owned shards. On a configured collection it only checks
// that model and dim match, failing with store.ErrModelMismatch or
// store.ErrDimensionMismatch.
func (c *Collection) Configure(ctx context.Context, model string, dim int) error {
	c.mu.RLock()
	set, closed := c.settings, c.closed
	c.mu.RUnlock()
	if closed {
		return shard.ErrClosed
	}
	if set.Model != "" {
		return checkModel(set, model, dim)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return shard.ErrClosed
	}
	if c.settings.Model != "" {
		return checkModel(c.settings, model, dim)
	}
	if model == "" || dim < 1 {
		return fmt.Errorf("collection: configure with model %q and dimension %d: %w", model, dim, store.ErrNotConfigured)
	}
	next := c.settings
	next.Model, next.Dim = model, dim
	// Settings first: a crash after this and before the stores exist
	// leaves a configured collection whose shards open empty.
	if err := writeSettings(c.opts.Dir, next); err != nil {
		return err
	}
	c.settings = next
	if err := c.openShards(ctx); err != nil {
		return err
	}
	c.log.Info("collection configured by its first upsert", "model", model, "dim", dim)
	return nil
}

func checkModel(set Settings, model string, dim int) error {
	if model != set.Model {
		return fmt.Errorf("the collection holds vectors of model %q, not %q: %w", set.Model, model, store.ErrModelMismatch)
	}
	if dim != set.Dim {
		return fmt.Errorf("the collection holds %d-dimensional vectors of model %q, not %d-dimensional: %w",
			set.Dim, set.Model, dim, store.ErrDimensionMismatch)
	}
	return nil
}

// Model returns the collection's model name and dimension; "" and 0 until
// the first upsert.
func (c *Collection) Model() (string, int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.settings.Model, c.settings.Dim
}

// TotalShards returns the number of shards of the whole collection.
func (c *Collection) TotalShards() int { return c.opts.TotalShards }

// Owned returns the owned shards, sorted.
func (c *Collection) Owned() []int { return slices.Clone(c.opts.Owned) }

// Owns reports whether this instance owns shard i.
func (c *Collection) Owns(i int) bool {
	_, ok := slices.BinarySearch(c.opts.Owned, i)
	return ok
}

// ShardOf returns the shard of a paper id.
func (c *Collection) ShardOf(id string) int { return shardset.ShardOf(id, c.opts.TotalShards) }

// Shard returns owned shard i, or nil while the collection has no model
// (no shard exists yet). It fails with ErrNotOwned for a shard another
// instance owns.
func (c *Collection) Shard(i int) (*shard.Shard, error) {
	if !c.Owns(i) {
		return nil, fmt.Errorf("shard %d (of %d): %w, which owns %s", i, c.opts.TotalShards, ErrNotOwned, shardset.Format(c.opts.Owned))
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, shard.ErrClosed
	}
	return c.shards[i], nil
}

// Shards returns the given owned shards (all owned shards when ids is
// empty), in shard order; empty while the collection has no model.
func (c *Collection) Shards(ids []int) ([]*shard.Shard, error) {
	if len(ids) == 0 {
		ids = c.opts.Owned
	}
	out := make([]*shard.Shard, 0, len(ids))
	for _, i := range ids {
		s, err := c.Shard(i)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// Run snapshots changed shards every SnapshotInterval until ctx is done.
func (c *Collection) Run(ctx context.Context) {
	if c.opts.SnapshotInterval <= 0 {
		return
	}
	t := time.NewTicker(c.opts.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		shards, err := c.Shards(nil)
		if err != nil {
			return
		}
		for _, s := range shards {
			if _, err := s.Snapshot(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, shard.ErrClosed) {
				c.log.Error("periodic snapshot failed", "shard", s.ID(), "err", err)
			}
		}
	}
}

// Close snapshots every shard that changed since its last snapshot (when
// finalSnapshot is set) and closes the shards. Later calls fail with
// shard.ErrClosed.
func (c *Collection) Close(ctx context.Context, finalSnapshot bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return shard.ErrClosed
	}
	c.closed = true
	shards := c.shards
	c.mu.Unlock()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, s := range shards {
		wg.Go(func() {
			if err := s.Close(ctx, finalSnapshot); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
