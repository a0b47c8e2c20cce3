// Package httpapi is the gateway's HTTP side: the REST mapping of
// arxivsearch.search.v1 through grpc-gateway, the seed-compatible routes,
// the web UI, the OpenAPI document and its docs page, health and
// readiness, and metrics, behind the cross-cutting middleware (tracing,
// per-route metrics, access logs, CORS, body size limit).
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/compat"
	"github.com/arxivsearch/arxivsearch/gateway/internal/fanout"
	"github.com/arxivsearch/arxivsearch/gateway/internal/webui"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Backend is a gRPC service the gateway depends on, checked by /readyz.
type Backend struct {
	// Name says what it is, e.g. "embedder" or "index 127.0.0.1:50061".
	Name string
	// Service is the name its health check is asked about.
	Service string
	Conn    grpc.ClientConnInterface
	// Group, when set, makes the backend one of interchangeable replicas:
	// the group is ready when any member is SERVING. A backend without a
	// group must be SERVING itself, unless it is an index instance (Index
	// set) and Options.Shards is set.
	Group string
	// Index is the address of an index instance. With Options.Shards,
	// index instances are not required one by one: every shard needs a
	// live replica instead.
	Index string
}

// Shards reports where the collection's shards live, as requests are
// routed.
type Shards interface {
	RefreshedTopology(ctx context.Context) fanout.Topology
}

// DefaultMaxBodyBytes is the request body limit when Options gives none.
const DefaultMaxBodyBytes = 4 << 20

// Options configures the HTTP handler.
type Options struct {
	// Search is a connection to the gateway's own gRPC server; REST calls go
	// through it so they pass the same interceptors as gRPC callers.
	Search   grpc.ClientConnInterface
	Backends []Backend
	// Shards, when set, makes /readyz require a live replica of every
	// shard rather than every index instance: a replica down does not stop
	// the gateway from answering searches.
	Shards  Shards
	Metrics http.Handler
	// Registry receives the HTTP metrics; nil skips them.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// ReadyTimeout bounds each backend's health check in /readyz.
	ReadyTimeout time.Duration
	// MaxBodyBytes bounds request bodies (413 beyond); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// CORSOrigins are the origins allowed to call the API from a browser;
	// "*" allows any; empty disables CORS.
	CORSOrigins []string
}

// New returns the gateway's HTTP handler.
func New(ctx context.Context, opts Options) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	gw := runtime.NewServeMux(
		// snake_case field names as in the .proto files and the OpenAPI
		// document, and zero values present so clients need no defaults.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		// Old-style arXiv ids hold a slash: "%2F" inside a path segment
		// stays one segment and is decoded in the parameter.
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptSlash),
		runtime.WithMiddlewares(decodeSlashInParams),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	client := searchv1.NewSearchServiceClient(opts.Search)
	if err := searchv1.RegisterSearchServiceHandlerClient(ctx, gw, client); err != nil {
		return nil, fmt.Errorf("register REST routes: %w", err)
	}
	doc, err := openAPIDocument()
	if err != nil {
		return nil, err
	}
	pages, err := webui.Files()
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, tagRoute(pattern, h)) }
	// One pattern per REST route of the API configuration (read back from
	// the OpenAPI document generated from it), so metrics and traces name
	// routes, not URLs; everything else under /v1/ still reaches
	// grpc-gateway for its JSON 404 and 405 answers.
	for _, pattern := range restPatterns(doc) {
		handle(pattern, gw)
	}
	handle("/v1/", gw)
	handle("GET /openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	handle("GET /readyz", readyz(opts))
	if opts.Metrics != nil {
		handle("GET /metrics", opts.Metrics)
	}
	handle("GET /health", compat.Health(client))
	handle("POST /embed", compat.Embed(client))
	handle("POST /search", compat.Search(client))
	for route, h := range pages {
		if route == "/" {
			route = "/{$}"
		}
		handle("GET "+route, h)
	}
	// The seed served its UI at /static/index.html.
	handle("GET /static/index.html", http.RedirectHandler("/", http.StatusMovedPermanently))

	var h http.Handler = mux
	h = rewriteOldStyleIDs(h)
	h = limitBody(opts.MaxBodyBytes, h)
	h = cors(opts.CORSOrigins, h)
	h = observe(newHTTPMetrics(opts.Registry), opts.Logger, h)
	h = traced(h)
	return h, nil
}

// restPatterns lists "METHOD /path/{var}" for every operation of the
// OpenAPI document.
func restPatterns(doc []byte) []string {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil
	}
	var out []string
	for path, ops := range d.Paths {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method := range ops {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// readyz reports ready when the gateway can answer searches: every
// backend group (the embedders) has a SERVING member, every other backend
// is SERVING, and, with opts.Shards, every shard has a live replica in the
// router's freshly refreshed view (index instances are then not required
// one by one). Backends are checked in parallel, so one slow backend costs
// one timeout.
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
		serving := healthpb.HealthCheckResponse_SERVING.String()
		groupUp := map[string]bool{}
		for i, b := range opts.Backends {
			if b.Group != "" {
				groupUp[b.Group] = groupUp[b.Group] || results[i].Status == serving
			}
		}
		var reasons []string
		for i, b := range opts.Backends {
			switch {
			case results[i].Status == serving:
			case b.Group != "":
				if !groupUp[b.Group] {
					reasons = append(reasons, "no "+b.Group+" is SERVING")
					groupUp[b.Group] = true // say it once
				}
			case b.Index != "" && opts.Shards != nil:
				// Judged by the shards below.
			default:
				reasons = append(reasons, b.Name+" is "+results[i].Status)
			}
		}
		body := map[string]any{"backends": results}
		if opts.Shards != nil {
			// The router's own view, refreshed now: ready means searches
			// will find a live replica of every shard.
			ctx, cancel := context.WithTimeout(r.Context(), opts.ReadyTimeout)
			top := opts.Shards.RefreshedTopology(ctx)
			cancel()
			body["shards"] = map[string]any{"total": top.TotalShards, "missing": nonNil(top.Missing), "unowned": nonNil(top.Unowned)}
			// An instance that never answered may own shards nobody else
			// has, and writes wait for it: not ready until it reports.
			for _, in := range top.Instances {
				if !in.Known {
					reasons = append(reasons, "index "+in.Addr+" has not reported its shards yet")
				}
			}
			switch {
			case top.TotalShards == 0:
				reasons = append(reasons, "no index instance has reported its shards")
			case len(top.Missing) > 0:
				reasons = append(reasons, fmt.Sprintf("shards %s have no live replica", shardset.Format(top.Missing)))
			}
		}
		code, overall := http.StatusOK, "ready"
		if len(reasons) > 0 {
			code, overall = http.StatusServiceUnavailable, "not ready"
			body["reasons"] = reasons
		}
		body["status"] = overall
		writeJSON(w, code, body)
	}
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// decodeSlashInParams turns the "%2F" that UnescapingModeAllExceptSlash
// keeps in path parameters back into "/": "hep-th%2F9901001" is the id
// hep-th/9901001.
func decodeSlashInParams(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		for k, v := range params {
			if strings.Contains(v, "%2") {
				params[k] = strings.NewReplacer("%2F", "/", "%2f", "/").Replace(v)
			}
		}
		next(w, r, params)
	}
}

// errorHandler is grpc-gateway's default {code, message, details} error
// answer, with the headers HTTP clients expect: a Bearer challenge on 401
// and Retry-After on 429 and 503.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, headerFixer{w}, r, err)
}

// routingErrorHandler answers requests under /v1/ that match no route:
// 404, or 405 when the path exists with another method, in the
// {code, message, details} shape.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var err error
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		err = status.Errorf(codes.Unimplemented, "method %s is not allowed on %s; see /docs", r.Method, r.URL.Path)
	case http.StatusNotFound:
		err = status.Errorf(codes.NotFound, "no route %s %s; see /docs", r.Method, r.URL.Path)
	default:
		err = status.Errorf(codes.InvalidArgument, "bad request path %s", r.URL.Path)
	}
	errorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: err})
}

type headerFixer struct{ http.ResponseWriter }

func (h headerFixer) WriteHeader(code int) {
	switch code {
	case http.StatusUnauthorized:
		h.Header().Set("WWW-Authenticate", `Bearer realm="arxivsearch"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Header().Set("Retry-After", "1")
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h headerFixer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
