// Command embedder serves arxivsearch.embedder.v1.EmbedderService: it turns
// texts into embedding vectors. Run it with -help for its settings.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/service"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/app"
)

func main() {
	os.Exit(service.Main("embedder", "EMBEDDER", os.Args[1:], os.Stderr, func(fs *config.FlagSet) service.Runner {
		cfg := app.DefineFlags(fs)
		return func(ctx context.Context, logger *slog.Logger) error {
			a, err := app.Start(*cfg, logger)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		}
	}))
}
