// Package app wires the embedder daemon: settings, gRPC server, health and
// metrics.
package app

import (
	"log/slog"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/server"
)

// Config is the embedder's settings.
type Config struct {
	Listen        string
	MetricsListen string
	ModelDir      string
	ORTLib        string
	ShutdownGrace time.Duration
}

// DefineFlags defines the embedder's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Listen, "listen", ":50051", "gRPC listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", ":9101", "HTTP listen address of /metrics; empty disables it")
	fs.StringVar(&c.ModelDir, "model-dir", "", "model directory (ONNX model, tokenizer and sentence-transformers config)")
	fs.StringVar(&c.ORTLib, "onnxruntime-lib", "", "absolute path of libonnxruntime.so (make setup puts one under third_party/onnxruntime)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight calls get to finish on shutdown")
	return c
}

// Start opens the embedder's ports and readies its service; Run the
// returned daemon to serve.
func Start(cfg Config, logger *slog.Logger) (*grpcserver.Daemon, error) {
	d, err := grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "embedder", Listen: cfg.Listen, MetricsListen: cfg.MetricsListen,
		Grace: cfg.ShutdownGrace, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	embedderv1.RegisterEmbedderServiceServer(d.GRPC, server.New())
	d.Register(embedderv1.EmbedderService_ServiceDesc.ServiceName)
	d.SetServing(true)
	return d, nil
}
