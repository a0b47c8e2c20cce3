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
	"github.com/arxivsearch/arxivsearch/gateway/internal/httpapi"
	"github.com/arxivsearch/arxivsearch/gateway/internal/server"
	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	"github.com/arxivsearch/arxivsearch/platform/observability"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
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
}

// DefineFlags defines the gateway's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.HTTPListen, "http-listen", ":8080", "HTTP listen address: REST API, web UI, /healthz, /readyz, /metrics")
	fs.StringVar(&c.GRPCListen, "grpc-listen", ":9090", "gRPC listen address of arxivsearch.search.v1.SearchService")
	fs.StringVar(&c.EmbedderAddr, "embedder-addr", "localhost:50051", "gRPC address of the embedder")
	fs.StringVar(&c.IndexAddrs, "index-addrs", "localhost:50061", "comma-separated gRPC addresses of the index instances; each reports the shards it owns")
	fs.StringVar(&c.WriteToken, "write-token", "", "bearer token required by the write routes (ingest, delete); empty refuses writes")
	fs.BoolVar(&c.OpenWrites, "open-writes", false, "allow writes without a token (only behind another access control)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight requests get to finish on shutdown")
	return c
}

// App is a started gateway.
type App struct {
	daemon  *grpcserver.Daemon
	httpLis net.Listener
	http    *http.Server
	conns   []*grpc.ClientConn
	logger  *slog.Logger
	grace   time.Duration
}

// Start opens the gateway's ports and connections; Run serves.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (a *App, err error) {
	indexAddrs := splitList(cfg.IndexAddrs)
	if len(indexAddrs) == 0 {
		return nil, errors.New("-index-addrs: name at least one index instance")
	}
	if cfg.EmbedderAddr == "" {
		return nil, errors.New("-embedder-addr: name the embedder")
	}
	a = &App{logger: logger, grace: cfg.ShutdownGrace}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	// /metrics is served on the HTTP port, so the gRPC daemon has none.
	guard := auth.NewWriteGuard(cfg.WriteToken, cfg.OpenWrites,
		searchv1.SearchService_IngestPapers_FullMethodName, searchv1.SearchService_DeletePaper_FullMethodName)
	if a.daemon, err = grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "gateway", Listen: cfg.GRPCListen, Grace: cfg.ShutdownGrace, Logger: logger,
		Extra: []grpc.ServerOption{grpc.ChainUnaryInterceptor(guard.UnaryInterceptor())},
	}); err != nil {
		return nil, err
	}
	if a.httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		return nil, fmt.Errorf("HTTP listen on %s: %w", cfg.HTTPListen, err)
	}
	dial := func(addr string) (*grpc.ClientConn, error) {
		opts := append(observability.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		a.conns = append(a.conns, conn)
		return conn, nil
	}
	embedderConn, err := dial(cfg.EmbedderAddr)
	if err != nil {
		return nil, err
	}
	backends := []httpapi.Backend{{Name: "embedder " + cfg.EmbedderAddr, Service: embedderv1.EmbedderService_ServiceDesc.ServiceName, Conn: embedderConn}}
	for _, addr := range indexAddrs {
		conn, err := dial(addr)
		if err != nil {
			return nil, err
		}
		backends = append(backends, httpapi.Backend{Name: "index " + addr, Service: indexv1.IndexService_ServiceDesc.ServiceName, Conn: conn})
	}
	self, err := dial(a.daemon.Addr())
	if err != nil {
		return nil, err
	}

	searchv1.RegisterSearchServiceServer(a.daemon.GRPC, server.New())
	a.daemon.Register(searchv1.SearchService_ServiceDesc.ServiceName)

	handler, err := httpapi.New(ctx, httpapi.Options{
		Search: self, Backends: backends, Logger: logger, ReadyTimeout: 2 * time.Second,
		Metrics: observability.MetricsHandler(a.daemon.Registry()),
	})
	if err != nil {
		return nil, err
	}
	a.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
