// Command index serves arxivsearch.index.v1.IndexService: it stores papers
// and their vectors in shards and answers nearest-neighbour queries. Run it
// with -help for its settings.
//
// FAISS's OpenMP runtime reads OMP_NUM_THREADS once, when the process
// starts. The index parallelizes across shards and concurrent calls itself,
// so it wants one OpenMP thread per FAISS call: when OMP_NUM_THREADS is
// unset, the command re-executes itself with OMP_NUM_THREADS=1 before doing
// anything else. Set it explicitly to override.
package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/service"
	"github.com/arxivsearch/arxivsearch/services/index/internal/app"
)

func main() {
	if _, set := os.LookupEnv("OMP_NUM_THREADS"); !set {
		if exe, err := os.Executable(); err == nil {
			// Only returns on failure; then run with OpenMP's default.
			syscall.Exec(exe, os.Args, append(os.Environ(), "OMP_NUM_THREADS=1"))
		}
	}
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
