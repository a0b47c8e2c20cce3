// Package app wires the index daemon: settings, gRPC server, health and
// metrics.
package app

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/server"
)

// Config is the index's settings.
type Config struct {
	Listen        string
	MetricsListen string
	DataDir       string
	TotalShards   int
	Shards        string
	ShutdownGrace time.Duration
}

// DefineFlags defines the index's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Listen, "listen", ":50061", "gRPC listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", ":9102", "HTTP listen address of /metrics; empty disables it")
	fs.StringVar(&c.DataDir, "data-dir", "var/index", "directory of the shard files (store and FAISS snapshots)")
	fs.IntVar(&c.TotalShards, "total-shards", 8, "shards in the whole collection, across all index instances; fixed once data is stored")
	fs.StringVar(&c.Shards, "shards", "", `shards this instance owns, e.g. "0-3" or "0,2,4"; empty means all`)
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight calls get to finish on shutdown")
	return c
}

// Start validates the settings, opens the index's ports and readies its
// service; Run the returned daemon to serve.
func Start(cfg Config, logger *slog.Logger) (*grpcserver.Daemon, error) {
	owned, err := shardset.Parse(cfg.Shards, cfg.TotalShards)
	if err != nil {
		return nil, fmt.Errorf("-shards / -total-shards: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("-data-dir: %w", err)
	}
	d, err := grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "index", Listen: cfg.Listen, MetricsListen: cfg.MetricsListen,
		Grace: cfg.ShutdownGrace, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	indexv1.RegisterIndexServiceServer(d.GRPC, server.New(cfg.TotalShards, owned))
	d.Register(indexv1.IndexService_ServiceDesc.ServiceName)
	d.SetServing(true)
	logger.Info("index ready", "total_shards", cfg.TotalShards, "shards", shardset.Format(owned), "data_dir", cfg.DataDir)
	return d, nil
}
