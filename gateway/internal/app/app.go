// Package app wires the gateway daemon: the public gRPC server, its REST
// mapping and the connections to the embedder and index instances.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/auth"
	"github.com/arxivsearch/arxivsearch/gateway/internal/embedpool"
	"github.com/arxivsearch/arxivsearch/gateway/internal/fanout"
	"github.com/arxivsearch/arxivsearch/gateway/internal/fusion"
	"github.com/arxivsearch/arxivsearch/gateway/internal/httpapi"
	"github.com/arxivsearch/arxivsearch/gateway/internal/limit"
	"github.com/arxivsearch/arxivsearch/gateway/internal/server"
	"github.com/arxivsearch/arxivsearch/platform/buildinfo"
	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	"github.com/arxivsearch/arxivsearch/platform/observability"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Config is the gateway's settings.
type Config struct {
	HTTPListen    string
	GRPCListen    string
	EmbedderAddr  string
	IndexAddrs    string
	WriteToken    string
	OpenWrites    bool
	ShutdownGrace time.Duration

	RequestTimeout time.Duration
	IndexTimeout   time.Duration
	IndexRefresh   time.Duration
	MaxBodyBytes   int
	MaxInFlight    int
	MaxQueue       int
	QueueTimeout   time.Duration
	CORSOrigins    string
	DefaultMode    string
	HybridRRFK     float64
	HybridWeight   float64
	HybridDepth    int
}

// DefineFlags defines the gateway's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.HTTPListen, "http-listen", ":8080", "HTTP listen address: REST API, web UI, /healthz, /readyz, /metrics")
	fs.StringVar(&c.GRPCListen, "grpc-listen", ":9090", "gRPC listen address of arxivsearch.search.v1.SearchService")
	fs.StringVar(&c.EmbedderAddr, "embedder-addr", "localhost:50051", "comma-separated gRPC addresses of embedder instances (one model); calls go round-robin and fail over")
	fs.StringVar(&c.IndexAddrs, "index-addrs", "localhost:50061", "comma-separated gRPC addresses of the index instances; each reports the shards it owns")
	fs.StringVar(&c.WriteToken, "write-token", "", "bearer token required by the write routes (ingest, delete); empty refuses writes")
	fs.BoolVar(&c.OpenWrites, "open-writes", false, "allow writes without a token (only behind another access control)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight requests get to finish on shutdown")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 30*time.Second, "longest time one API call may take (a caller's shorter deadline is kept); DEADLINE_EXCEEDED / HTTP 504 beyond")
	fs.DurationVar(&c.IndexTimeout, "index-timeout", 5*time.Second, "longest wait for one index instance's search answer before its shards are asked of another replica")
	fs.DurationVar(&c.IndexRefresh, "index-refresh", 10*time.Second, "how often every index instance is asked for its health and shards (also refreshed at once when a call fails)")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", 4<<20, "largest HTTP request body accepted; HTTP 413 beyond")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 64, "API calls served at once; more wait in the queue")
	fs.IntVar(&c.MaxQueue, "max-queue", 128, "API calls that may wait for a slot; beyond, RESOURCE_EXHAUSTED / HTTP 429 at once")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", time.Second, "longest wait in the queue for a slot; RESOURCE_EXHAUSTED / HTTP 429 beyond")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", `comma-separated origins allowed to call the API from a browser, or "*" for any; empty disables CORS`)
	fs.StringVar(&c.DefaultMode, "default-mode", "hybrid", "search mode of requests that name none: dense, lexical or hybrid (the seed-compatible /search route is always dense)")
	fs.Float64Var(&c.HybridRRFK, "hybrid-rrf-k", fusion.Defaults.K, "reciprocal rank fusion constant of hybrid search: a paper at rank r of a ranking earns weight/(k+r)")
	fs.Float64Var(&c.HybridWeight, "hybrid-lexical-weight", fusion.Defaults.LexicalWeight, "weight of the lexical ranking in hybrid search, the dense ranking's being 1")
	fs.IntVar(&c.HybridDepth, "hybrid-depth", 100, "results of each ranking (dense, lexical) fused by a hybrid search, at least the k asked for")
	return c
}

// App is a started gateway.
type App struct {
	daemon  *grpcserver.Daemon
	httpLis net.Listener
	http    *http.Server
	cluster *fanout.Cluster
	conns   []*grpc.ClientConn
	logger  *slog.Logger
	grace   time.Duration
}

// dialOptions are used for every backend connection: traced, and quick to
// reconnect to a restarted instance (the default backoff grows to 2 min).
// roundRobin spreads an embedder address's calls over every IP its name
// resolves to. One name often stands for many replicas (a Kubernetes
// headless Service): with gRPC's default pick_first policy all of a
// gateway's embeddings would go to the first replica and the others would
// idle however many the autoscaler added. Index addresses keep pick_first:
// each names one instance, whose shards the gateway tracks by address.
const roundRobin = `{"loadBalancingConfig": [{"round_robin": {}}]}`

func dialOptions() []grpc.DialOption {
	return append(observability.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
}

// Start opens the gateway's ports and connections; Run serves.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (a *App, err error) {
	indexAddrs := splitList(cfg.IndexAddrs)
	if len(indexAddrs) == 0 {
		return nil, errors.New("-index-addrs: name at least one index instance")
	}
	embedderAddrs := splitList(cfg.EmbedderAddr)
	if len(embedderAddrs) == 0 {
		return nil, errors.New("-embedder-addr: name the embedder")
	}
	mode, err := server.ParseMode(cfg.DefaultMode)
	if err != nil {
		return nil, fmt.Errorf("-default-mode: %w", err)
	}
	fusionParams := fusion.Params{K: cfg.HybridRRFK, LexicalWeight: cfg.HybridWeight}
	if err := fusionParams.Validate(); err != nil {
		return nil, fmt.Errorf("-hybrid-rrf-k, -hybrid-lexical-weight: %w", err)
	}
	if cfg.HybridDepth < 1 || cfg.HybridDepth > 1000 {
		return nil, fmt.Errorf("-hybrid-depth %d: want 1..1000 (and at most the index instances' -max-k)", cfg.HybridDepth)
	}
	if cfg.MaxInFlight < 1 {
		return nil, fmt.Errorf("-max-in-flight %d: want at least 1", cfg.MaxInFlight)
	}
	if cfg.MaxBodyBytes < 1 {
		return nil, fmt.Errorf("-max-body-bytes %d: want at least 1", cfg.MaxBodyBytes)
	}
	a = &App{logger: logger, grace: cfg.ShutdownGrace}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	// Every public method is limited and bounded in time; health checks
	// and reflection are not.
	api := "/" + searchv1.SearchService_ServiceDesc.ServiceName + "/"
	limiter := limit.New(cfg.MaxInFlight, cfg.MaxQueue, cfg.QueueTimeout)
	guard := auth.NewWriteGuard(cfg.WriteToken, cfg.OpenWrites,
		searchv1.SearchService_IngestPapers_FullMethodName, searchv1.SearchService_DeletePaper_FullMethodName)
	// /metrics is served on the HTTP port, so the gRPC daemon has none.
	if a.daemon, err = grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "gateway", Listen: cfg.GRPCListen, Grace: cfg.ShutdownGrace, Logger: logger,
		MaxRecvBytes: max(cfg.MaxBodyBytes, 4<<20) + 1<<20,
		Extra: []grpc.ServerOption{grpc.ChainUnaryInterceptor(
			guard.UnaryInterceptor(),
			limit.DeadlineInterceptor(cfg.RequestTimeout, api),
			limiter.UnaryInterceptor(api),
		)},
	}); err != nil {
		return nil, err
	}
	if a.httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		return nil, fmt.Errorf("HTTP listen on %s: %w", cfg.HTTPListen, err)
	}
	dial := func(addr string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
		conn, err := grpc.NewClient(addr, append(dialOptions(), extra...)...)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		a.conns = append(a.conns, conn)
		return conn, nil
	}
	var backends []httpapi.Backend
	var endpoints []embedpool.Endpoint
	for _, addr := range embedderAddrs {
		conn, err := dial(addr, grpc.WithDefaultServiceConfig(roundRobin))
		if err != nil {
			return nil, err
		}
		endpoints = append(endpoints, embedpool.Endpoint{Addr: addr, Conn: conn})
		backends = append(backends, httpapi.Backend{Name: "embedder " + addr, Service: embedderv1.EmbedderService_ServiceDesc.ServiceName, Conn: conn, Group: "embedder"})
	}
	pool, err := embedpool.New(endpoints)
	if err != nil {
		return nil, err
	}
	var instances []fanout.Instance
	for _, addr := range indexAddrs {
		conn, err := dial(addr)
		if err != nil {
			return nil, err
		}
		instances = append(instances, fanout.Instance{Addr: addr, Conn: conn})
		backends = append(backends, httpapi.Backend{Name: "index " + addr, Service: indexv1.IndexService_ServiceDesc.ServiceName, Conn: conn, Index: addr})
	}
	a.cluster = fanout.New(instances, fanout.Options{Logger: logger, RefreshInterval: cfg.IndexRefresh, CallTimeout: cfg.IndexTimeout})
	// Learn the shard map before serving; instances that are not up yet
	// are found by the periodic refresh.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a.cluster.Refresh(rctx)
	cancel()
	self, err := dial(a.daemon.Addr())
	if err != nil {
		return nil, err
	}

	searchv1.RegisterSearchServiceServer(a.daemon.GRPC, server.New(pool, a.cluster, server.Options{
		DefaultMode: mode, Fusion: fusionParams, HybridDepth: cfg.HybridDepth, Version: buildinfo.Version, Logger: logger,
	}))
	a.daemon.Register(searchv1.SearchService_ServiceDesc.ServiceName)
	if err := limiter.Register(a.daemon.Registry()); err != nil {
		return nil, err
	}

	handler, err := httpapi.New(ctx, httpapi.Options{
		Search: self, Backends: backends, Shards: a.cluster, Logger: logger, ReadyTimeout: 2 * time.Second,
		Metrics: observability.MetricsHandler(a.daemon.Registry()), Registry: a.daemon.Registry(),
		MaxBodyBytes: int64(cfg.MaxBodyBytes), CORSOrigins: splitList(cfg.CORSOrigins),
	})
	if err != nil {
		return nil, err
	}
	a.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	a.daemon.SetServing(true)
	return a, nil
}

// HTTPAddr is the HTTP listen address.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// GRPCAddr is the gRPC listen address.
func (a *App) GRPCAddr() string { return a.daemon.Addr() }

// Run serves until ctx is done, then drains HTTP and gRPC.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.daemon.Run(gctx) })
	g.Go(func() error { a.cluster.Run(gctx); return nil })
	g.Go(func() error {
		a.logger.Info("HTTP listening", "addr", a.HTTPAddr())
		if err := a.http.Serve(a.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("HTTP server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), a.grace)
		defer cancel()
		if err := a.http.Shutdown(sctx); err != nil {
			a.logger.Warn("HTTP shutdown", "err", err)
		}
		return nil
	})
	return g.Wait()
}

func (a *App) close() {
	for _, c := range a.conns {
		c.Close()
	}
	if a.httpLis != nil {
		a.httpLis.Close()
	}
	if a.daemon != nil {
		a.daemon.Close()
	}
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
