package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer serves grpc.health.v1 on loopback with the given statuses.
func healthServer(t *testing.T, statuses map[string]healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	for name, st := range statuses {
		h.SetServingStatus(name, st)
	}
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestProbe(t *testing.T) {
	const svc = "arxivsearch.embedder.v1.EmbedderService"
	serving := healthServer(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": healthpb.HealthCheckResponse_SERVING, svc: healthpb.HealthCheckResponse_SERVING,
	})
	starting := healthServer(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": healthpb.HealthCheckResponse_NOT_SERVING, svc: healthpb.HealthCheckResponse_NOT_SERVING,
	})
	_, servingPort, _ := net.SplitHostPort(serving)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, `{"status": "not ready", "reasons": ["no embedder is SERVING"]}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer web.Close()
	webAddr := strings.TrimPrefix(web.URL, "http://")
	_, webPort, _ := net.SplitHostPort(webAddr)
	closed := closedAddr(t)

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		message string // in stderr when the probe fails
	}{
		{"grpc serving", []string{"-grpc", serving}, 0, ""},
		{"grpc serving service", []string{"-grpc", serving, "-service", svc}, 0, ""},
		{"grpc listen form", []string{"-grpc", ":" + servingPort}, 0, ""},
		{"grpc unspecified host", []string{"-grpc", "0.0.0.0:" + servingPort}, 0, ""},
		{"grpc not serving", []string{"-grpc", starting}, 1, "status NOT_SERVING"},
		{"grpc not serving service", []string{"-grpc", starting, "-service", svc}, 1, "status NOT_SERVING"},
		{"grpc unknown service", []string{"-grpc", serving, "-service", "no.such.Service"}, 1, "NotFound"},
		{"grpc unreachable", []string{"-grpc", closed, "-timeout", "2s"}, 1, "Unavailable"},
		{"http ok", []string{"-http", webAddr}, 0, ""},
		{"http listen form", []string{"-http", ":" + webPort, "-path", "healthz"}, 0, ""},
		{"http not ready", []string{"-http", webAddr, "-path", "/readyz"}, 1, "503 Service Unavailable"},
		{"http unreachable", []string{"-http", closed}, 1, "connection refused"},
		{"neither", nil, 2, "exactly one of -grpc and -http"},
		{"both", []string{"-grpc", serving, "-http", webAddr}, 2, "exactly one of -grpc and -http"},
		{"no port", []string{"-grpc", "localhost"}, 1, "missing port"},
		{"bad timeout", []string{"-grpc", serving, "-timeout", "0s"}, 2, "positive duration"},
		{"extra argument", []string{"-grpc", serving, "extra"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout.String(), stderr.String())
			}
			if tc.code == 0 && !strings.Contains(stdout.String(), ": ok") {
				t.Errorf("stdout %q does not say ok", stdout.String())
			}
			if tc.message != "" && !strings.Contains(stderr.String(), tc.message) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.message)
			}
		})
	}
}

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		":50051":         "127.0.0.1:50051",
		"0.0.0.0:9101":   "127.0.0.1:9101",
		"[::]:8080":      "127.0.0.1:8080",
		"embedder:50051": "embedder:50051",
		"10.0.0.7:50061": "10.0.0.7:50061",
	} {
		if got, err := dialAddr(in); err != nil || got != want {
			t.Errorf("dialAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "50051", "host:"} {
		if got, err := dialAddr(bad); err == nil {
			t.Errorf("dialAddr(%q) = %q, want an error", bad, got)
		}
	}
}
