// Command index serves arxivsearch.index.v1.IndexService: it stores papers
// and their vectors in shards and answers nearest-neighbour queries. Run it
// with -help for its settings.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/service"
	"github.com/arxivsearch/arxivsearch/services/index/internal/app"
)

func main() {
	os.Exit(service.Main("index", "INDEX", os.Args[1:], os.Stderr, func(fs *config.FlagSet) service.Runner {
		cfg := app.DefineFlags(fs)
		return func(ctx context.Context, logger *slog.Logger) error {
			d, err := app.Start(*cfg, logger)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		}
	}))
}
