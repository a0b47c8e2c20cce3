package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/buildinfo"
	"github.com/arxivsearch/arxivsearch/platform/observability"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
)

// DaemonConfig is what every gRPC daemon of the project is configured with.
type DaemonConfig struct {
	// Service names the daemon in metrics and logs, e.g. "embedder".
	Service string
	// Listen is the gRPC address, e.g. ":50051".
	Listen string
	// MetricsListen is the HTTP address of /metrics; empty disables it.
	MetricsListen string
	// Grace is how long in-flight calls get to finish on shutdown.
	Grace        time.Duration
	MaxRecvBytes int
	Logger       *slog.Logger
	// Extra server options, after the project's own; their interceptors
	// run before the one refusing invalid UTF-8, whose codec replaces any
	// given here.
	Extra []grpc.ServerOption
}

// Daemon is a gRPC service process: a gRPC port and a metrics port.
type Daemon struct {
	*Server
	cfg        DaemonConfig
	grpcLis    net.Listener
	metricsLis net.Listener
	reg        *prometheus.Registry
}

// Listen opens the daemon's ports and builds its server. It fails fast on a
// port in use, before anything is served. Register handlers on d.GRPC, then
// call Run.
func Listen(cfg DaemonConfig) (*Daemon, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, reg: observability.NewRegistry(cfg.Service, buildinfo.Version)}
	var err error
	if d.grpcLis, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("gRPC listen on %s: %w", cfg.Listen, err)
	}
	if cfg.MetricsListen != "" {
		if d.metricsLis, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			d.grpcLis.Close()
			return nil, fmt.Errorf("metrics listen on %s: %w", cfg.MetricsListen, err)
		}
	}
	d.Server = New(Options{Logger: cfg.Logger, Registry: d.reg, MaxRecvBytes: cfg.MaxRecvBytes, Extra: cfg.Extra})
	return d, nil
}

// Addr is the gRPC listen address.
func (d *Daemon) Addr() string { return d.grpcLis.Addr().String() }

// MetricsAddr is the metrics listen address, or "" when disabled.
func (d *Daemon) MetricsAddr() string {
	if d.metricsLis == nil {
		return ""
	}
	return d.metricsLis.Addr().String()
}

// Registry is where the daemon's metrics are registered.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Run serves until ctx is done, then shuts down gracefully.
func (d *Daemon) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Serve(ctx, d.grpcLis, d.cfg.Grace) })
	if d.metricsLis != nil {
		g.Go(func() error { return observability.ServeMetrics(ctx, d.metricsLis, d.reg, d.cfg.Logger) })
	}
	return g.Wait()
}

// Close releases the ports of a daemon that will not Run.
func (d *Daemon) Close() {
	d.grpcLis.Close()
	if d.metricsLis != nil {
		d.metricsLis.Close()
	}
}
