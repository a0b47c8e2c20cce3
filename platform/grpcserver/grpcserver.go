// Package grpcserver runs a project gRPC service: the service's own
// handlers plus the standard health protocol (grpc.health.v1), server
// reflection, observability, INVALID_ARGUMENT for invalid UTF-8 (package
// utf8codec) and graceful shutdown.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/utf8codec"
	"github.com/arxivsearch/arxivsearch/platform/observability"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Server is a gRPC server with health checking. Health starts NOT_SERVING
// for every registered service: a service says SERVING once it can answer
// (model loaded, shards open), so load balancers and Kubernetes never route
// to a process that is still starting.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	logger *slog.Logger
	names  []string
}

// Options configures a Server.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// MaxRecvBytes bounds a request message; 0 keeps gRPC's 4 MiB.
	MaxRecvBytes int
	// Extra server options, after the project's own; their interceptors
	// run before the one refusing invalid UTF-8, whose codec replaces any
	// given here.
	Extra []grpc.ServerOption
}

// New returns a server with the project's interceptors, health and
// reflection registered.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var m *observability.GRPCServerMetrics
	if opts.Registry != nil {
		m = observability.NewGRPCServerMetrics(opts.Registry)
	}
	sopts := observability.GRPCServerOptions(m, logger)
	if opts.MaxRecvBytes > 0 {
		sopts = append(sopts, grpc.MaxRecvMsgSize(opts.MaxRecvBytes))
	}
	sopts = append(sopts, opts.Extra...)
	// Invalid UTF-8 is refused after every other interceptor, where the
	// handler would validate the request: refusals are counted and logged,
	// and a write without a token still gets UNAUTHENTICATED.
	sopts = append(sopts, utf8codec.New().ServerOptions()...)
	s := &Server{GRPC: grpc.NewServer(sopts...), Health: health.NewServer(), logger: logger}
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	// The empty name is the server as a whole.
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Register records a service name for health checking, starting NOT_SERVING.
// Call it next to the generated RegisterXServer call.
func (s *Server) Register(serviceName string) {
	s.names = append(s.names, serviceName)
	s.Health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_NOT_SERVING)
}

// SetServing marks the server and every registered service SERVING or
// NOT_SERVING.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.Health.SetServingStatus("", st)
	for _, n := range s.names {
		s.Health.SetServingStatus(n, st)
	}
}

// Serve serves on lis until ctx is done, then stops gracefully: health
// turns NOT_SERVING so balancers drain, in-flight calls get up to grace to
// finish, and whatever is left is cut.
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.GRPC.Serve(lis) }()
	s.logger.Info("gRPC listening", "addr", lis.Addr().String())
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("gRPC server on %s: %w", lis.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.logger.Warn("graceful stop timed out; cutting remaining calls", "grace", grace)
		s.GRPC.Stop()
	}
	return nil
}
