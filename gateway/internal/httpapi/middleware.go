package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/paper"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// routeKey holds a *string in the request context; tagRoute fills it with
// the route pattern once the mux has chosen a handler.
type routeKey struct{}

// tagRoute records which route pattern served a request, for metrics,
// logs and the trace span's name.
func tagRoute(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			*p = pattern
		}
		span := trace.SpanFromContext(r.Context())
		span.SetName(pattern)
		span.SetAttributes(attribute.String("http.route", pattern))
		h.ServeHTTP(w, r)
	})
}

// traced starts a server span per request, continuing the caller's trace
// when it sends W3C traceparent. Probes and scrapes are not traced.
func traced(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}))
}

// httpMetrics are the per-route request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// seed is the counter the replaced system exported, kept so its
	// dashboards and alerts keep working.
	seed *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	if reg == nil {
		return nil
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "code"}),
		seed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_request_count_total",
			Help: "Total number of API requests (the replaced system's counter; prefer http_requests_total).",
		}, []string{"endpoint", "method", "status_code"}),
	}
	reg.MustRegister(m.requests, m.latency, m.seed)
	return m
}

// statusRecorder remembers the status code and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe counts and times every request by route and status, and logs
// it (with the trace id, through the project's log handler): debug for
// success and for probes, info for client errors, warn for server errors.
func observe(m *httpMetrics, logger *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, route))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			pattern := *route
			if pattern == "" {
				pattern = "unmatched"
			}
			elapsed := time.Since(start)
			code := strconv.Itoa(rec.code)
			if m != nil {
				m.requests.WithLabelValues(pattern, r.Method, code).Inc()
				m.latency.WithLabelValues(pattern, r.Method, code).Observe(elapsed.Seconds())
				endpoint := pattern
				if _, path, ok := strings.Cut(pattern, " "); ok {
					endpoint = path
				}
				m.seed.WithLabelValues(endpoint, r.Method, code).Inc()
			}
			level := slog.LevelDebug
			switch {
			case pattern == "GET /readyz" || pattern == "GET /healthz" || pattern == "GET /metrics":
				// Probes poll; their answers are in their bodies and metrics.
			case rec.code >= 500:
				level = slog.LevelWarn
			case rec.code >= 400:
				level = slog.LevelInfo
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("route", pattern), slog.String("path", r.URL.Path),
				slog.Int("status", rec.code), slog.Int64("bytes", rec.bytes),
				slog.Float64("ms", float64(elapsed.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
		}()
		h.ServeHTTP(rec, r)
	})
}

// cors answers browsers from the allowed origins ("*" for any); with none
// configured it adds nothing, so browsers keep the same-origin policy.
func cors(origins []string, h http.Handler) http.Handler {
	if len(origins) == 0 {
		return h
	}
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin")
		if !allowed["*"] && !allowed[origin] {
			h.ServeHTTP(w, r)
			return
		}
		if allowed["*"] {
			hd.Set("Access-Control-Allow-Origin", "*")
		} else {
			hd.Set("Access-Control-Allow-Origin", origin)
		}
		hd.Set("Access-Control-Expose-Headers", "Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Add("Vary", "Access-Control-Request-Method")
			hd.Add("Vary", "Access-Control-Request-Headers")
			hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limitBody refuses request bodies over max bytes with 413, in the error
// shape of the route: {"detail": ...} on the seed-compatible routes,
// {code, message, details} elsewhere. The body is read here, up to max,
// so no handler ever reads more.
func limitBody(max int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		tooLarge := r.ContentLength > max
		if !tooLarge {
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			r.Body.Close()
			if err != nil {
				writeAPIError(w, r, http.StatusBadRequest, 3, "reading the request body: "+err.Error())
				return
			}
			tooLarge = int64(len(body)) > max
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if tooLarge {
			writeAPIError(w, r, http.StatusRequestEntityTooLarge, 8,
				"the request body is over the server's limit of "+strconv.FormatInt(max, 10)+" bytes: send less per request (ingest in smaller batches)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeAPIError answers an error from outside the gRPC service in the
// route's error shape; grpcCode goes into {code} (3 INVALID_ARGUMENT,
// 8 RESOURCE_EXHAUSTED).
func writeAPIError(w http.ResponseWriter, r *http.Request, status, grpcCode int, msg string) {
	switch r.URL.Path {
	case "/embed", "/search", "/health":
		writeJSON(w, status, map[string]any{"detail": msg})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": grpcCode, "message": msg, "details": []any{}})
	}
}

// oldStyleNumber is the part of an old-style arXiv id after its slash.
var oldStyleNumber = regexp.MustCompile(`^[0-9]{7}(v[0-9]+)?$`)

// rewriteOldStyleIDs makes /v1/papers/hep-th/9901001 (and .../similar)
// address the paper hep-th/9901001, as /v1/papers/hep-th%2F9901001 does:
// the id's slash is re-escaped in the raw path, so routing sees one
// segment. Both spellings arrive here with the same decoded URL.Path.
func rewriteOldStyleIDs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/papers/"); ok {
			segs := strings.Split(rest, "/")
			if (len(segs) == 2 || (len(segs) == 3 && segs[2] == "similar")) &&
				paper.IsOldStyleArchive(segs[0]) && oldStyleNumber.MatchString(segs[1]) {
				raw := "/v1/papers/" + url.PathEscape(segs[0]+"/"+segs[1])
				if len(segs) == 3 {
					raw += "/similar"
				}
				u := *r.URL
				u.RawPath = raw
				r2 := r.Clone(r.Context())
				r2.URL = &u
				r = r2
			}
		}
		h.ServeHTTP(w, r)
	})
}
