package observability

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
)

func TestSetupTracing(t *testing.T) {
	tests := []struct {
		name    string
		cfg     TracingConfig
		wantErr string
	}{
		{name: "no export", cfg: TracingConfig{Service: "embedder", Version: "dev", SampleRatio: 1}},
		{name: "OTLP export", cfg: TracingConfig{Service: "index", OTLPEndpoint: "127.0.0.1:4317", Insecure: true, SampleRatio: 0.5}},
		{name: "bad ratio", cfg: TracingConfig{Service: "gateway", SampleRatio: 2}, wantErr: "want a value in [0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shutdown, err := SetupTracing(context.Background(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "op")
			if tt.cfg.SampleRatio == 1 && !span.SpanContext().IsSampled() {
				t.Error("span not sampled at ratio 1")
			}
			span.End()
			// Shutdown may fail to flush to an absent collector; it must return.
			sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = shutdown(sctx)
		})
	}
}
