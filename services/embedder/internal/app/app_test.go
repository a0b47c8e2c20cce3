package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCRoundTrip starts the embedder on loopback and talks to it through
// the generated client: the health protocol and the service's own methods.
func TestGRPCRoundTrip(t *testing.T) {
	a, err := Start(Config{Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", ShutdownGrace: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	conn, err := grpc.NewClient(a.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()

	h, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: embedderv1.EmbedderService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, want SERVING", h.GetStatus())
	}

	_, err = embedderv1.NewEmbedderServiceClient(conn).Embed(cctx, &embedderv1.EmbedRequest{Texts: []string{"graph neural networks"}})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "no inference runtime yet") {
		t.Errorf("Embed error = %v, want UNIMPLEMENTED saying what is missing", err)
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := Start(Config{Listen: "127.0.0.1:0"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Start(Config{Listen: a.Addr()}, logger); err == nil || !strings.Contains(err.Error(), "gRPC listen on "+a.Addr()) {
		t.Errorf("second Start on %s: err = %v, want a listen error naming the address", a.Addr(), err)
	}
}
