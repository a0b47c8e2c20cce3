package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/loadtest"
)

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "loadtest", "[-target URL] [-rate N | -concurrency N] [flags]", `
Load-tests the gateway's REST API with a weighted mix of short searches
(built-in phrases), long searches (whole titles + abstracts of -input, or
built-in ones), embeddings (POST /v1/embed) and health checks
(GET /healthz). -rate N sends N requests per second whatever the latency
(open loop, at most -max-outstanding in flight; a request due beyond that
is dropped and counted); otherwise -concurrency workers each send the next
request when their last one ends (closed loop). The run stops after
-duration, or after -requests requests when that is set, whichever comes
first. Prints per-route requests, throughput, latency percentiles and
errors by status; -json also writes them as JSON. Only loopback targets
are accepted unless -allow-remote is given.`)
	target := fs.String("target", "http://127.0.0.1:8080", "gateway base URL")
	mixFlag := fs.String("mix", loadtest.DefaultMix, "route weights: search-short, search-long, embed, health")
	rate := fs.Float64("rate", 0, "requests per second (open loop); 0 = closed loop with -concurrency")
	concurrency := fs.Int("concurrency", 8, "workers in closed loop")
	maxOut := fs.Int("max-outstanding", 256, "requests in flight at most in open loop")
	duration := fs.Duration("duration", 30*time.Second, "stop after this long")
	requests := fs.Int("requests", 0, "stop after this many requests (0 = only -duration bounds the run)")
	k := fs.Int("k", 10, "results per search")
	mode := fs.String("mode", "", "search mode of the searches: dense, lexical or hybrid (empty: the gateway's default)")
	embedTexts := fs.Int("embed-texts", 1, "texts per embed request (alternately long and short)")
	input := fs.String("input", "", "papers whose titles + abstracts are the long queries (any format prepare reads)")
	inputLimit := fs.Int("input-limit", 2000, "read at most this many papers of -input")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	allowRemote := fs.Bool("allow-remote", false, "allow a target that is not loopback")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := lf.logger(); err != nil {
		return err
	}
	mix, err := loadtest.ParseMix(*mixFlag)
	if err != nil {
		return fmt.Errorf("%w: -%v", errUsage, err)
	}
	// Refuse a remote target before reading input or sending anything.
	if _, err := loadtest.CheckTarget(ctx, *target, *allowRemote, nil); err != nil {
		return err
	}
	cfg := loadtest.Config{
		Target: *target, Mix: mix, Rate: *rate, MaxOutstanding: *maxOut,
		Concurrency: *concurrency, Duration: *duration, Requests: *requests,
		K: *k, Mode: *mode, EmbedTexts: *embedTexts, AllowRemote: *allowRemote,
	}
	switch *mode {
	case "", "dense", "lexical", "hybrid":
	default:
		return fmt.Errorf("%w: -mode %q: want dense, lexical or hybrid", errUsage, *mode)
	}
	if *input != "" {
		if cfg.Long, err = loadtest.ReadLongQueries(*input, *inputLimit); err != nil {
			return err
		}
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write -json: %w", err)
		}
	}
	return nil
}
