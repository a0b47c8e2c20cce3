// Package app wires the index daemon: settings, gRPC server, health,
// metrics, the owned shards' lifecycle and graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/server"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"golang.org/x/sync/errgroup"
)

// Config is the index's settings.
type Config struct {
	Listen        string
	MetricsListen string
	DataDir       string
	TotalShards   int
	Shards        string
	// ShardAssignment and Instance replace Shards for identical instances
	// (a StatefulSet's pods): see ownedShards.
	ShardAssignment string
	Instance        string
	ShutdownGrace   time.Duration

	DefaultNprobe        int
	FlatThreshold        int
	Nlist                int
	RetrainFactor        float64
	TrainPointsPerList   int
	SnapshotInterval     time.Duration
	SnapshotEveryChanges int
	MaxK                 int
	MaxRequestBytes      int
}

// DefineFlags defines the index's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	def := shard.DefaultConfig()
	fs.StringVar(&c.Listen, "listen", ":50061", "gRPC listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", ":9102", "HTTP listen address of /metrics; empty disables it")
	fs.StringVar(&c.DataDir, "data-dir", "var/index", "directory of the shard files (store and FAISS snapshots)")
	fs.IntVar(&c.TotalShards, "total-shards", 8, "shards in the whole collection, across all index instances; fixed once data is stored")
	fs.StringVar(&c.Shards, "shards", "", `shards this instance owns, e.g. "0-3" or "0,2,4"; empty means all`)
	fs.StringVar(&c.ShardAssignment, "shard-assignment", "", `instead of -shards: the shards of every instance in order, separated by ";", e.g. "0-3;4-7"; the instance owns the set at position -instance, and every shard must be in a set`)
	fs.StringVar(&c.Instance, "instance", "", `position of this instance in -shard-assignment, from 0: a number, or a name ending in -N such as a StatefulSet pod's name`)
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight calls get to finish on shutdown")
	fs.IntVar(&c.DefaultNprobe, "default-nprobe", def.DefaultNprobe, "IVF lists probed per shard when a search gives no nprobe; clamped to each shard's nlist")
	fs.IntVar(&c.FlatThreshold, "flat-threshold", def.FlatThreshold, "papers at which a shard's exact flat index is trained into IVF (in the background); 0 keeps shards flat unless TrainShards is called")
	fs.IntVar(&c.Nlist, "nlist", def.Nlist, "IVF lists per shard; 0 picks about 4*sqrt(papers), at most papers/39, at each training")
	fs.Float64Var(&c.RetrainFactor, "retrain-factor", def.RetrainFactor, "retrain a shard's IVF index (automatic nlist only) once it holds this many times the papers its nlist suits; 0 disables")
	fs.IntVar(&c.TrainPointsPerList, "train-points-per-list", def.TrainPointsPerList, "IVF training sample per list (39..256); the sample is at most the shard's papers")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", 5*time.Minute, "how often shards changed since their last snapshot are snapshotted; 0 disables periodic snapshots")
	fs.IntVar(&c.SnapshotEveryChanges, "snapshot-every-changes", int(def.SnapshotEveryChanges), "snapshot a shard once this many vectors were added or removed since its last snapshot; 0 disables")
	fs.IntVar(&c.MaxK, "max-k", server.DefaultMaxK, "largest k (results per query) a search may ask for")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 64<<20, "largest gRPC request message accepted (upsert batches carry vectors)")
	return c
}

// shardConfig converts the flags to the shards' configuration.
func (c *Config) shardConfig() (shard.Config, error) {
	sc := shard.DefaultConfig()
	sc.DefaultNprobe = c.DefaultNprobe
	sc.FlatThreshold = c.FlatThreshold
	sc.Nlist = c.Nlist
	sc.RetrainFactor = c.RetrainFactor
	sc.TrainPointsPerList = c.TrainPointsPerList
	sc.SnapshotEveryChanges = int64(c.SnapshotEveryChanges)
	if err := sc.Validate(); err != nil {
		return sc, fmt.Errorf("index settings (-default-nprobe, -flat-threshold, -nlist, -retrain-factor, -train-points-per-list, -snapshot-every-changes): %w", err)
	}
	return sc, nil
}

// Daemon is a started index: ports open, health NOT_SERVING. Run loads the
// shards, serves, and shuts down.
type Daemon struct {
	*grpcserver.Daemon
	cfg     Config
	shard   shard.Config
	owned   []int
	logger  *slog.Logger
	metrics *metrics.Metrics
	srv     *server.Server
}

// Start validates the settings and opens the index's ports. Health reports
// NOT_SERVING, and IndexService calls answer UNAVAILABLE, until Run has
// loaded the owned shards.
func Start(cfg Config, logger *slog.Logger) (*Daemon, error) {
	owned, err := ownedShards(cfg.Shards, cfg.ShardAssignment, cfg.Instance, cfg.TotalShards)
	if err != nil {
		return nil, err
	}
	sc, err := cfg.shardConfig()
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.SnapshotInterval < 0:
		return nil, fmt.Errorf("-snapshot-interval %v: want >= 0", cfg.SnapshotInterval)
	case cfg.MaxK < 1 || cfg.MaxK > 10_000:
		return nil, fmt.Errorf("-max-k %d: want 1..10000", cfg.MaxK)
	case cfg.MaxRequestBytes < 1<<20:
		return nil, fmt.Errorf("-max-request-bytes %d: want at least 1 MiB", cfg.MaxRequestBytes)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("-data-dir: %w", err)
	}
	if omp := os.Getenv("OMP_NUM_THREADS"); omp != "1" {
		logger.Warn("OMP_NUM_THREADS is not 1: every concurrent FAISS call starts its own OpenMP team, which oversubscribes the cores; the index parallelizes across shards itself",
			"OMP_NUM_THREADS", omp)
	}
	d, err := grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "index", Listen: cfg.Listen, MetricsListen: cfg.MetricsListen,
		Grace: cfg.ShutdownGrace, Logger: logger, MaxRecvBytes: cfg.MaxRequestBytes,
	})
	if err != nil {
		return nil, err
	}
	m := metrics.New(d.Registry())
	srv := server.New(server.Options{TotalShards: cfg.TotalShards, Owned: owned, MaxK: cfg.MaxK, Logger: logger, Metrics: m})
	indexv1.RegisterIndexServiceServer(d.GRPC, srv)
	d.Register(indexv1.IndexService_ServiceDesc.ServiceName)
	return &Daemon{Daemon: d, cfg: cfg, shard: sc, owned: owned, logger: logger, metrics: m, srv: srv}, nil
}

// Run serves until ctx is done. It loads the owned shards while health
// says NOT_SERVING, then turns SERVING and snapshots changed shards
// periodically. On shutdown it stops the gRPC server gracefully first, so
// in-flight writes finish, then writes a final snapshot of every changed
// shard and closes the stores. A shard that fails to load (a store that
// cannot be opened; a bad snapshot is rebuilt, not a failure) stops the
// daemon with an error.
func (d *Daemon) Run(ctx context.Context) error {
	var coll *collection.Collection
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Daemon.Run(gctx) })
	g.Go(func() error {
		start := time.Now()
		d.logger.Info("loading shards", "total_shards", d.cfg.TotalShards, "shards", shardset.Format(d.owned), "data_dir", d.cfg.DataDir)
		c, err := collection.Open(gctx, collection.Options{
			Dir: d.cfg.DataDir, TotalShards: d.cfg.TotalShards, Owned: d.owned, Shard: d.shard,
			SnapshotInterval: d.cfg.SnapshotInterval, Logger: d.logger, Metrics: d.metrics,
		})
		if err != nil {
			if gctx.Err() != nil {
				return nil // stopped while loading
			}
			return fmt.Errorf("loading shards from %s: %w", d.cfg.DataDir, err)
		}
		coll = c
		d.Registry().MustRegister(c.Collector())
		d.srv.SetCollection(c)
		d.SetServing(true)
		model, dim := c.Model()
		d.logger.Info("index ready", "total_shards", d.cfg.TotalShards, "shards", shardset.Format(d.owned),
			"model", model, "dim", dim, "load", time.Since(start).Round(time.Millisecond))
		c.Run(gctx)
		return nil
	})
	err := g.Wait()
	if coll != nil {
		start := time.Now()
		if cerr := coll.Close(context.Background(), true); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing shards: %w", cerr))
		} else {
			d.logger.Info("shards closed after a final snapshot", "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}
	return err
}
