package observability

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestUnaryServerInterceptor(t *testing.T) {
	tests := []struct {
		name     string
		handler  grpc.UnaryHandler
		wantCode codes.Code
		wantLog  string
	}{
		{name: "ok", handler: func(context.Context, any) (any, error) { return "r", nil }, wantCode: codes.OK},
		{name: "invalid argument", handler: func(context.Context, any) (any, error) {
			return nil, status.Error(codes.InvalidArgument, "k must be 1..100")
		}, wantCode: codes.InvalidArgument, wantLog: "k must be 1..100"},
		{name: "panic", handler: func(context.Context, any) (any, error) { panic("boom") }, wantCode: codes.Internal, wantLog: "boom"},
		{name: "plain error", handler: func(context.Context, any) (any, error) { return nil, errors.New("disk full") }, wantCode: codes.Unknown, wantLog: "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewGRPCServerMetrics(reg)
			var logs bytes.Buffer
			logger, err := NewLogger(&logs, "json", "debug")
			if err != nil {
				t.Fatal(err)
			}
			ic := UnaryServerInterceptor(m, logger)
			_, err = ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/pkg.v1.FooService/Bar"}, tt.handler)
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code = %v, want %v", got, tt.wantCode)
			}
			if c := testutil.ToFloat64(m.handled.WithLabelValues("pkg.v1.FooService", "Bar", tt.wantCode.String())); c != 1 {
				t.Errorf("handled counter = %v, want 1", c)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestNewLoggerRejectsBadSettings(t *testing.T) {
	if _, err := NewLogger(nil, "xml", "info"); err == nil || !strings.Contains(err.Error(), "want json or text") {
		t.Errorf("format xml: err = %v", err)
	}
	if _, err := NewLogger(nil, "json", "loud"); err == nil || !strings.Contains(err.Error(), "want debug, info, warn or error") {
		t.Errorf("level loud: err = %v", err)
	}
}
