package grpcserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestHealthLifecycle(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg})
	s.Register("test.v1.TestService")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, lis, time.Second) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return r.GetStatus()
	}
	for _, svc := range []string{"", "test.v1.TestService"} {
		if got := check(svc); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("before SetServing, %q is %v", svc, got)
		}
	}
	s.SetServing(true)
	for _, svc := range []string{"", "test.v1.TestService"} {
		if got := check(svc); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("after SetServing, %q is %v", svc, got)
		}
	}
	if n := testutil.CollectAndCount(reg, "grpc_server_handled_total"); n == 0 {
		t.Error("no grpc_server_handled_total series after health checks")
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestInvalidUTF8 checks that every project server answers invalid UTF-8
// with INVALID_ARGUMENT naming the field (package utf8codec), and that
// the refusal is counted like any other answer.
func TestInvalidUTF8(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, lis, time.Second)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	req := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("svc\xff"))
	_, err = rawcall.Invoke(ctx, conn, healthpb.Health_Check_FullMethodName, req)
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "service is not valid UTF-8; encode strings as UTF-8" {
		t.Errorf("health check of an invalid UTF-8 name: %v, want INVALID_ARGUMENT naming service", err)
	}
	want := `
# HELP grpc_server_handled_total RPCs completed on the server, by service, method and status code.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Check",grpc_service="grpc.health.v1.Health"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "grpc_server_handled_total"); err != nil {
		t.Error(err)
	}
}
