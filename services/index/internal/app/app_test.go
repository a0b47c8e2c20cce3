package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func testConfig(dir string) Config {
	return Config{
		Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", DataDir: dir,
		TotalShards: 8, Shards: "4-7", ShutdownGrace: time.Second,
		DefaultNprobe: 64, FlatThreshold: 20000, RetrainFactor: 4, TrainPointsPerList: 64,
		SnapshotInterval: time.Minute, SnapshotEveryChanges: 1000, MaxK: 1000, MaxRequestBytes: 64 << 20,
	}
}

// waitServing polls the health of the index service until it is SERVING.
func waitServing(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	h := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: indexv1.IndexService_ServiceDesc.ServiceName})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not SERVING after 30s: %v, %v", r.GetStatus(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inProcess is an index daemon started by serve, in the test process.
type inProcess struct {
	*Daemon
	conn *grpc.ClientConn // to its gRPC API, SERVING
	stop func()           // shuts it down, reporting Run's error; also run at cleanup
}

// serve starts an index daemon with cfg on loopback, runs it, and returns
// once its gRPC API is SERVING.
func serve(t *testing.T, cfg Config) inProcess {
	t.Helper()
	d, err := Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	waitServing(t, conn)
	return inProcess{Daemon: d, conn: conn, stop: stop}
}

// TestGRPCRoundTrip starts the index on loopback and talks to it through
// the generated client: health, an upsert, a search, stats and metrics;
// then stops it and checks that the final snapshot was written.
func TestGRPCRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := serve(t, testConfig(dir))
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()

	client := indexv1.NewIndexServiceClient(d.conn)
	stats, err := client.GetStats(cctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var shards []int32
	for _, s := range stats.GetShards() {
		shards = append(shards, s.GetShard())
	}
	if stats.GetTotalShards() != 8 || !slices.Equal(shards, []int32{4, 5, 6, 7}) {
		t.Errorf("GetStats = total %d shards %v, want 8 and [4 5 6 7]", stats.GetTotalShards(), shards)
	}

	g := synth.New(synth.Spec{Dim: 8, Seed: 1}, 100)
	var papers []*indexv1.Paper
	for _, id := range []string{"2501.00001", "2501.00002", "2501.00003", "2501.00004", "2501.00005", "2501.00006", "2501.00007"} {
		if shardOwned(id) {
			papers = append(papers, &indexv1.Paper{Id: id, Title: "t", Vector: g.Vector()})
		}
	}
	if len(papers) == 0 {
		t.Fatal("no test paper falls on shards 4-7")
	}
	if _, err := client.UpsertPapers(cctx, &indexv1.UpsertPapersRequest{Model: "m", Papers: papers}); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Search(cctx, &indexv1.SearchRequest{K: 1, Queries: []*indexv1.Query{{Vector: papers[0].GetVector()}}})
	if err != nil {
		t.Fatal(err)
	}
	if hits := resp.GetResults()[0].GetHits(); len(hits) != 1 || hits[0].GetId() != papers[0].GetId() {
		t.Errorf("Search = %v, want %s", resp, papers[0].GetId())
	}

	metrics := scrape(t, d.MetricsAddr())
	for _, name := range []string{"index_search_seconds", "index_upserted_papers_total", "index_shard_indexed_vectors", "grpc_server_handled_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	d.stop()
	// The final snapshot holds the upsert: a restart replays nothing.
	d2 := serve(t, testConfig(dir))
	stats, err = indexv1.NewIndexServiceClient(d2.conn).GetStats(cctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats.GetShards() {
		if s.GetSnapshotVersion() != s.GetStoreVersion() || s.GetSnapshotTime() == nil || s.GetIndexedVectors() != s.GetPapers() {
			t.Errorf("after a graceful stop and restart: %v", s)
		}
	}
	if stats.GetPapers() != int64(len(papers)) || stats.GetModel() != "m" || stats.GetDimension() != 8 {
		t.Errorf("after restart: %v", stats)
	}
}

func shardOwned(id string) bool {
	s := shardset.ShardOf(id, 8)
	return s >= 4 && s <= 7
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestStartRejectsBadSettings(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.Shards = "0-8" }, "shard 8 out of range 0..7"},
		{func(c *Config) { c.TotalShards, c.Shards = 0, "" }, "number of shards 0"},
		{func(c *Config) { c.TotalShards, c.Shards = 4, "x" }, `"x" is not a shard number`},
		{func(c *Config) { c.DefaultNprobe = 0 }, "default nprobe 0"},
		{func(c *Config) { c.TrainPointsPerList = 10 }, "training points per list 10"},
		{func(c *Config) { c.MaxK = 0 }, "-max-k 0"},
		{func(c *Config) { c.SnapshotInterval = -time.Second }, "-snapshot-interval"},
	}
	for _, tt := range tests {
		cfg := testConfig(t.TempDir())
		tt.edit(&cfg)
		_, err := Start(cfg, logger)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start error = %v, want %q", err, tt.want)
		}
	}
}

// TestRunFailsOnAnotherShardCount starts on a data directory made for 8
// shards with 4: Run must stop with an error saying so.
func TestRunFailsOnAnotherShardCount(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(dir)
	d, err := Start(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { time.Sleep(500 * time.Millisecond); cancel() }()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.TotalShards, cfg.Shards = 4, ""
	d, err = Start(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Run(ctx); err == nil || !strings.Contains(err.Error(), "holds a collection of 8 shards") {
		t.Errorf("Run = %v, want an error about the shard count", err)
	}
}
