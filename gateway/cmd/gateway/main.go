// Command gateway serves the public search API, arxivsearch.search.v1,
// over gRPC and as REST/JSON, with the web UI, on top of the embedder and
// the index instances. Run it with -help for its settings.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/arxivsearch/arxivsearch/gateway/internal/app"
	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/service"
)

func main() {
	os.Exit(service.Main("gateway", "GATEWAY", os.Args[1:], os.Stderr, func(fs *config.FlagSet) service.Runner {
		cfg := app.DefineFlags(fs)
		return func(ctx context.Context, logger *slog.Logger) error {
			a, err := app.Start(ctx, *cfg, logger)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		}
	}))
}
