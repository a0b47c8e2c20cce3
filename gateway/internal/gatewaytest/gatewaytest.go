// Package gatewaytest starts a whole gateway (app.Start, real gRPC and
// HTTP ports on loopback) in front of in-memory embedder and index
// instances from testbackend, for tests that go through the public API.
// Only _test.go files import it.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/app"
	"github.com/arxivsearch/arxivsearch/gateway/internal/testbackend"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
)

// Token is the write token of gateways started by Start.
const Token = "test-token"

// Options shapes the deployment.
type Options struct {
	// TotalShards of the collection; 0 means 8.
	TotalShards int
	// Shards lists, per index instance, the shards it owns ("0-3", or ""
	// for all); nil means two instances, "0-3" and "4-7".
	Shards []string
	// Embedders is the number of embedder instances; 0 means 1.
	Embedders int
	// Config adjusts the gateway's settings before it starts.
	Config func(*app.Config)
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
}

// Gateway is a running gateway and its backends.
type Gateway struct {
	App             *app.App
	URL             string
	Embedders       []*testbackend.Embedder
	EmbedderServers []*testbackend.Server
	Indexes         []*testbackend.Index
	IndexServers    []*testbackend.Server
}

// Start starts the backends and a gateway over them, stopped when the
// test ends.
func Start(t testing.TB, opts Options) *Gateway {
	t.Helper()
	if opts.TotalShards == 0 {
		opts.TotalShards = 8
	}
	if opts.Shards == nil {
		opts.Shards = []string{"0-3", "4-7"}
	}
	if opts.Embedders == 0 {
		opts.Embedders = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &Gateway{}
	var embAddrs, idxAddrs []string
	for range opts.Embedders {
		e := testbackend.NewEmbedder()
		s := testbackend.ServeEmbedder(t, e)
		g.Embedders, g.EmbedderServers = append(g.Embedders, e), append(g.EmbedderServers, s)
		embAddrs = append(embAddrs, s.Addr())
	}
	for _, list := range opts.Shards {
		shards, err := shardset.Parse(list, opts.TotalShards)
		if err != nil {
			t.Fatal(err)
		}
		x := testbackend.NewIndex(opts.TotalShards, shards...)
		s := testbackend.ServeIndex(t, x)
		g.Indexes, g.IndexServers = append(g.Indexes, x), append(g.IndexServers, s)
		idxAddrs = append(idxAddrs, s.Addr())
	}
	cfg := app.Config{
		HTTPListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
		EmbedderAddr: strings.Join(embAddrs, ","), IndexAddrs: strings.Join(idxAddrs, ","),
		WriteToken: Token, ShutdownGrace: time.Second,
		RequestTimeout: 10 * time.Second, IndexTimeout: 5 * time.Second, IndexRefresh: 10 * time.Second,
		MaxBodyBytes: 1 << 20, MaxInFlight: 16, MaxQueue: 16, QueueTimeout: time.Second, DefaultMode: "dense",
		HybridRRFK: 60, HybridWeight: 0.3, HybridDepth: 100,
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, cfg, opts.Logger)
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	g.App, g.URL = a, "http://"+a.HTTPAddr()
	return g
}

// Response is an HTTP answer.
type Response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", r.Code, r.Body, err)
	}
}

// Do sends a request; body is sent as JSON unless it is a string or
// []byte, sent as is. headers are name, value pairs.
func (g *Gateway) Do(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// Paper is a paper as POST /v1/papers takes it.
type Paper struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Abstract   string   `json:"abstract"`
	Authors    []string `json:"authors,omitempty"`
	Categories []string `json:"categories,omitempty"`
	UpdateDate string   `json:"update_date,omitempty"`
}

// Ingest posts papers with the write token, failing the test unless the
// gateway accepts them.
func (g *Gateway) Ingest(t testing.TB, papers []Paper) {
	t.Helper()
	for lo := 0; lo < len(papers); lo += 100 {
		batch := papers[lo:min(lo+100, len(papers))]
		r := g.Do(t, "POST", "/v1/papers", map[string]any{"papers": batch}, "Authorization", "Bearer "+Token)
		if r.Code != http.StatusOK {
			t.Fatalf("ingest: %d %s", r.Code, r.Body)
		}
	}
}
