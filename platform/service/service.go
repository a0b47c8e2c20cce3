// Package service is the common main of the project's daemons: settings
// from flags and environment, logging and tracing, and a run that ends on
// SIGINT or SIGTERM.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"log/slog"

	"github.com/arxivsearch/arxivsearch/platform/buildinfo"
	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/observability"
)

// Runner runs a service until ctx is done, then shuts it down and returns.
type Runner func(ctx context.Context, logger *slog.Logger) error

// NewFlagSet returns the settings every daemon has (logging, tracing);
// the daemon adds its own.
func NewFlagSet(name, envPrefix string) (*config.FlagSet, *observability.Flags) {
	fs := config.New(name, envPrefix)
	return fs, observability.RegisterFlags(fs)
}

// Main defines the service's settings with define, parses args and the
// environment, and runs the returned Runner until a signal arrives. It
// returns the process exit code: 0 after a clean stop, 2 for bad settings,
// 1 for any other failure.
func Main(name, envPrefix string, args []string, stderr io.Writer, define func(*config.FlagSet) Runner) int {
	fs, obs := NewFlagSet(name, envPrefix)
	fs.FlagSetOutput(stderr)
	run := define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, shutdownTracing, err := obs.Setup(ctx, stderr, name, buildinfo.Version)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()
	logger.Info("starting", "version", buildinfo.Version)
	if err := run(ctx, logger); err != nil {
		logger.Error("stopped with error", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
