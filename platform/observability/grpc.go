package observability

import (
	"context"
	"log/slog"
	"path"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GRPCServerMetrics counts and times the unary calls a server handles.
type GRPCServerMetrics struct {
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewGRPCServerMetrics registers the gRPC server metrics on reg.
func NewGRPCServerMetrics(reg prometheus.Registerer) *GRPCServerMetrics {
	m := &GRPCServerMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "RPCs completed on the server, by service, method and status code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Time to handle an RPC on the server.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"grpc_service", "grpc_method"}),
	}
	reg.MustRegister(m.handled, m.latency)
	return m
}

// splitMethod turns "/pkg.Service/Method" into its service and method.
func splitMethod(full string) (service, method string) {
	dir, m := path.Split(full)
	return path.Clean(dir)[1:], m
}

// UnaryServerInterceptor records every unary call's code and duration,
// turns a handler panic into an INTERNAL error instead of a crashed process,
// and logs failed calls.
func UnaryServerInterceptor(m *GRPCServerMetrics, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		svc, method := splitMethod(info.FullMethod)
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "panic in gRPC handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				resp, err = nil, status.Errorf(codes.Internal, "internal error in %s; the server logged the details", info.FullMethod)
			}
			code := status.Code(err)
			elapsed := time.Since(start)
			if m != nil {
				m.handled.WithLabelValues(svc, method, code.String()).Inc()
				m.latency.WithLabelValues(svc, method).Observe(elapsed.Seconds())
			}
			switch code {
			case codes.OK, codes.NotFound, codes.Canceled:
				logger.DebugContext(ctx, "rpc", "method", info.FullMethod, "code", code.String(), "ms", float64(elapsed.Microseconds())/1000)
			case codes.Internal, codes.Unknown, codes.DataLoss:
				logger.ErrorContext(ctx, "rpc failed", "method", info.FullMethod, "code", code.String(), "ms", float64(elapsed.Microseconds())/1000, "err", err)
			default:
				logger.WarnContext(ctx, "rpc failed", "method", info.FullMethod, "code", code.String(), "ms", float64(elapsed.Microseconds())/1000, "err", err)
			}
		}()
		return handler(ctx, req)
	}
}

// GRPCServerOptions returns the options every service's gRPC server uses:
// OpenTelemetry spans (joined to the caller's trace through W3C headers),
// metrics, panic recovery and logging.
func GRPCServerOptions(m *GRPCServerMetrics, logger *slog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(m, logger)),
	}
}

// GRPCDialOptions returns the options every client of a project service
// uses, so a trace continues from the gateway into the embedder and index.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler())}
}
