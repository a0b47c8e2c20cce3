// Command arxivsearch is the offline side of arXiv semantic search: it
// prepares datasets, trains and exports the static embedding model and
// evaluates rankers. Run "arxivsearch help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/arxivsearch/arxivsearch/platform/buildinfo"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"prepare", "clean and split paper metadata into train/eval/test files", runPrepare},
	{"sample", "draw a stratified sample of an input file (arXiv snapshot layout)", runSample},
	{"vocab", "learn whole-word tokens from the training split (an extended tokenizer)", runVocab},
	{"train", "train the static embedding model and write its ONNX model directory", runTrain},
	{"export", "rewrite a model directory with another table storage (float32, float16, int8)", runExport},
	{"eval", "evaluate models and baselines with the seed system's retrieval protocol", runEval},
	{"build-index", "embed papers through the embedder and store them in the index instances", runBuildIndex},
	{"loadtest", "load-test the gateway's REST API (search, embed, health) and report latencies", runLoadtest},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `arxivsearch %s: offline pipeline of arXiv semantic search

Usage:
  arxivsearch <command> [flags]

Commands:
`, buildinfo.Version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
"arxivsearch <command> -help" lists a command's flags. Flags may be
written -flag or --flag. Logs go to standard error (-log-format, -log-level
on every command); progress bars redraw on a terminal and log every 10s
otherwise. docs/pipeline.md describes the pipeline and its file formats.
`)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "arxivsearch:", err)
		}
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-help"}, stdout, stderr)
		}
		usage(stdout)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "arxivsearch", buildinfo.Version)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// newFlagSet makes a command's flag set with the shared logging flags.
// Its usage text starts with synopsis and description.
func newFlagSet(output io.Writer, name, synopsis, description string) (*flag.FlagSet, *logFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	lf := &logFlags{}
	fs.StringVar(&lf.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&lf.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage:\n  arxivsearch %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs, lf
}

type logFlags struct {
	format, level string
}

// logger builds the command's logger and makes it the default.
func (lf *logFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: %w", lf.level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch lf.format {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", lf.format)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l, nil
}

// parse parses args and rejects positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (flags only; see -help)", errUsage, fs.Arg(0))
	}
	return nil
}

// required reports the first empty required flag.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil && f.Value.String() == "" {
			return fmt.Errorf("%w: -%s is required (see -help)", errUsage, n)
		}
	}
	return nil
}

func producer() string { return "arxivsearch " + buildinfo.Version }
