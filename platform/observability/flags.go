package observability

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/arxivsearch/arxivsearch/platform/config"
)

// Flags are the observability settings every service has.
type Flags struct {
	logFormat   *string
	logLevel    *string
	otlp        *string
	otlpInsec   *bool
	sampleRatio *float64
}

// RegisterFlags defines the observability settings on fs.
func RegisterFlags(fs *config.FlagSet) *Flags {
	return &Flags{
		logFormat:   fs.String("log-format", "text", "log format: text or json"),
		logLevel:    fs.String("log-level", "info", "log level: debug, info, warn or error"),
		otlp:        fs.String("otlp-endpoint", "", "OTLP/gRPC trace collector address (host:port); empty disables trace export"),
		otlpInsec:   fs.Bool("otlp-insecure", true, "send traces to the OTLP collector without TLS"),
		sampleRatio: fs.Float64("trace-sample-ratio", 1, "fraction of new traces recorded, 0..1"),
	}
}

// Setup builds the logger (also installed as slog's default) and the
// tracer provider. The returned function flushes pending spans.
func (f *Flags) Setup(ctx context.Context, w io.Writer, service, version string) (*slog.Logger, func(context.Context) error, error) {
	logger, err := NewLogger(w, *f.logFormat, *f.logLevel)
	if err != nil {
		return nil, nil, err
	}
	logger = logger.With("service", service)
	slog.SetDefault(logger)
	shutdown, err := SetupTracing(ctx, TracingConfig{
		Service: service, Version: version,
		OTLPEndpoint: *f.otlp, Insecure: *f.otlpInsec, SampleRatio: *f.sampleRatio,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	return logger, shutdown, nil
}
