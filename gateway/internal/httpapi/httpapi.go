// Package httpapi is the gateway's HTTP side: the REST mapping of
// arxivsearch.search.v1 through grpc-gateway, the OpenAPI document, health
// and readiness, and metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"github.com/arxivsearch/arxivsearch/proto/openapi"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Backend is a gRPC service the gateway depends on, checked by /readyz.
type Backend struct {
	// Name says what it is, e.g. "embedder" or "index 127.0.0.1:50061".
	Name string
	// Service is the name its health check is asked about.
	Service string
	Conn    grpc.ClientConnInterface
}

// Options configures the HTTP handler.
type Options struct {
	// Search is a connection to the gateway's own gRPC server; REST calls go
	// through it so they pass the same interceptors as gRPC callers.
	Search   grpc.ClientConnInterface
	Backends []Backend
	Metrics  http.Handler
	Logger   *slog.Logger
	// ReadyTimeout bounds each backend's health check in /readyz.
	ReadyTimeout time.Duration
}

// New returns the gateway's HTTP handler.
func New(ctx context.Context, opts Options) (http.Handler, error) {
	gw := runtime.NewServeMux(
		// snake_case field names as in the .proto files and the OpenAPI
		// document, and zero values present so clients need no defaults.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	)
	if err := searchv1.RegisterSearchServiceHandlerClient(ctx, gw, searchv1.NewSearchServiceClient(opts.Search)); err != nil {
		return nil, fmt.Errorf("register REST routes: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi.JSON)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", readyz(opts))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	return mux, nil
}

// readyz reports ready only when every backend's health check says
// SERVING, checking them in parallel so one slow backend costs one timeout.
func readyz(opts Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		type result struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Error  string `json:"error,omitempty"`
		}
		results := make([]result, len(opts.Backends))
		var wg sync.WaitGroup
		for i, b := range opts.Backends {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), opts.ReadyTimeout)
				defer cancel()
				results[i] = result{Name: b.Name}
				resp, err := healthpb.NewHealthClient(b.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: b.Service})
				if err != nil {
					results[i].Status, results[i].Error = "UNREACHABLE", err.Error()
					return
				}
				results[i].Status = resp.GetStatus().String()
			})
		}
		wg.Wait()
		code, overall := http.StatusOK, "ready"
		for _, res := range results {
			if res.Status != healthpb.HealthCheckResponse_SERVING.String() {
				code, overall = http.StatusServiceUnavailable, "not ready"
			}
		}
		writeJSON(w, code, map[string]any{"status": overall, "backends": results})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
