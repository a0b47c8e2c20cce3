package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend starts a gRPC server on loopback that speaks only the health
// protocol, standing in for an embedder or index instance.
func backend(t *testing.T, service string) *grpcserver.Daemon {
	t.Helper()
	d, err := grpcserver.Listen(grpcserver.DaemonConfig{Service: "fake", Listen: "127.0.0.1:0", Grace: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d.Register(service)
	d.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func startGateway(t *testing.T, cfg Config) *App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := Start(ctx, cfg, quiet)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestGatewayRoundTrip(t *testing.T) {
	emb := backend(t, "arxivsearch.embedder.v1.EmbedderService")
	idx := backend(t, "arxivsearch.index.v1.IndexService")
	a := startGateway(t, Config{HTTPListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
		EmbedderAddr: emb.Addr(), IndexAddrs: idx.Addr(), ShutdownGrace: time.Second})
	base := "http://" + a.HTTPAddr()

	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(string(body), `"status":"ready"`) {
		t.Errorf("/readyz = %d %s, want 200 ready", code, body)
	}

	// A mapped REST route reaches the gRPC service and its error comes back
	// as JSON {code, message, details} with the matching HTTP status.
	code, body := get(t, base+"/v1/info")
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("/v1/info body %s: %v", body, err)
	}
	if code != http.StatusNotImplemented || e.Code != int(codes.Unimplemented) || !strings.Contains(e.Message, "GetInfo") || e.Details == nil {
		t.Errorf("/v1/info = %d %s, want 501 with code 12 naming GetInfo", code, body)
	}

	// Writes pass the write guard on the gRPC side: no token configured means
	// refused.
	resp, err := http.Post(base+"/v1/papers", "application/json", strings.NewReader(`{"papers":[{"id":"2503.00001","title":"t"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /v1/papers without a write token = %d, want 403", resp.StatusCode)
	}

	// Malformed JSON is the caller's fault.
	resp, err = http.Post(base+"/v1/search", "application/json", strings.NewReader(`{"query": `))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /v1/search with broken JSON = %d, want 400", resp.StatusCode)
	}

	code, body = get(t, base+"/openapi.json")
	var doc struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || code != http.StatusOK {
		t.Fatalf("/openapi.json = %d: %v", code, err)
	}
	for _, p := range []string{"/v1/search", "/v1/papers/{id}", "/v1/papers/{id}/similar", "/v1/papers", "/v1/embed", "/v1/info"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("/openapi.json lacks path %s", p)
		}
	}

	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(string(body), "grpc_server_handled_total") {
		t.Errorf("/metrics = %d, lacks grpc_server_handled_total", code)
	}

	// The same service over gRPC.
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: searchv1.SearchService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gateway gRPC health = %v, %v", h.GetStatus(), err)
	}
	_, err = searchv1.NewSearchServiceClient(conn).Search(ctx, &searchv1.SearchRequest{Query: "transformers"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("gRPC Search error = %v, want UNIMPLEMENTED", err)
	}
}

func TestReadyzReportsDownBackend(t *testing.T) {
	emb := backend(t, "arxivsearch.embedder.v1.EmbedderService")
	idx := backend(t, "arxivsearch.index.v1.IndexService")
	idx.SetServing(false)
	a := startGateway(t, Config{HTTPListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
		EmbedderAddr: emb.Addr(), IndexAddrs: idx.Addr() + ",127.0.0.1:1", ShutdownGrace: time.Second})
	code, body := get(t, "http://"+a.HTTPAddr()+"/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d %s, want 503", code, body)
	}
	for _, want := range []string{`"status":"not ready"`, `"NOT_SERVING"`, `"UNREACHABLE"`, "index 127.0.0.1:1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/readyz body %s lacks %s", body, want)
		}
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	_, err := Start(context.Background(), Config{HTTPListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", EmbedderAddr: "x:1", IndexAddrs: " , "}, quiet)
	if err == nil || !strings.Contains(err.Error(), "-index-addrs") {
		t.Errorf("Start with no index addresses: err = %v", err)
	}
}
