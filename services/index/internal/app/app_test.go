package app

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCRoundTrip starts the index on loopback and talks to it through
// the generated client: the health protocol and the service's own methods.
func TestGRPCRoundTrip(t *testing.T) {
	d, err := Start(Config{Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", DataDir: t.TempDir(),
		TotalShards: 8, Shards: "4-7", ShutdownGrace: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()

	h, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: indexv1.IndexService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", h.GetStatus(), err)
	}
	client := indexv1.NewIndexServiceClient(conn)
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
	_, err = client.Search(cctx, &indexv1.SearchRequest{K: 10, Queries: []*indexv1.Query{{Vector: []float32{1}}}})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "no shard storage yet") {
		t.Errorf("Search error = %v, want UNIMPLEMENTED saying what is missing", err)
	}
}

func TestStartRejectsBadShards(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		total  int
		shards string
		want   string
	}{
		{8, "0-8", "shard 8 out of range 0..7"},
		{0, "", "number of shards 0"},
		{4, "x", `"x" is not a shard number`},
	}
	for _, tt := range tests {
		_, err := Start(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TotalShards: tt.total, Shards: tt.shards}, logger)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(total %d, shards %q) error = %v, want %q", tt.total, tt.shards, err, tt.want)
		}
	}
}
