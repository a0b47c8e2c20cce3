// Package prepare turns an input file of paper metadata into a prepared
// directory: cleaned, optionally capped per category, split into
// train/eval/test JSON lines files, with a manifest and a statistics
// report (docs/pipeline.md).
package prepare

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/split"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/stats"
)

// OnError says what a malformed input record does.
type OnError string

const (
	Skip OnError = "skip" // report it with its line number and go on
	Fail OnError = "fail" // stop with an error naming the line
)

// ParseOnError parses a -on-error value.
func ParseOnError(s string) (OnError, error) {
	switch o := OnError(s); o {
	case Skip, Fail:
		return o, nil
	}
	return "", fmt.Errorf("unknown -on-error %q (want skip or fail)", s)
}

// DropCategoryCap is the drop reason of the per-category cap.
const DropCategoryCap = "category_cap"

// Options configure Run.
type Options struct {
	Input          string
	Format         dataset.Format
	Columns        map[string]string
	OutDir         string
	Seed           uint64
	Fractions      split.Fractions
	MaxPerCategory int
	OnError        OnError
	// Gzip writes .jsonl.gz split files (default) instead of .jsonl.
	Gzip bool
	// Tool is recorded in the manifest (program name and version).
	Tool string
	// MaxReported bounds how many malformed records are logged one by
	// one (all are counted); 0 means 20.
	MaxReported int
	Log         *slog.Logger
	// Progress options for the bars (tests pass a writer).
	Progress []progress.Option
}

// Result is what Run produced.
type Result struct {
	Manifest *dataset.Manifest
	Stats    stats.Report
}

// Run prepares opts.Input into opts.OutDir.
func Run(ctx context.Context, opts Options) (*Result, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.OnError == "" {
		opts.OnError = Skip
	}
	if opts.MaxReported == 0 {
		opts.MaxReported = 20
	}
	if opts.Fractions.Test <= 0 || opts.Fractions.Test >= 1 || opts.Fractions.Eval < 0 || opts.Fractions.Eval >= 1 {
		return nil, fmt.Errorf("split fractions test=%g eval=%g: want 0 < test < 1 and 0 <= eval < 1", opts.Fractions.Test, opts.Fractions.Eval)
	}
	fi, err := os.Stat(opts.Input)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}

	sum, err := hashWithProgress(opts.Input, fi.Size(), opts.Progress)
	if err != nil {
		return nil, err
	}

	format := opts.Format
	if format == "" || format == dataset.FormatAuto {
		if format, err = dataset.DetectFormat(opts.Input); err != nil {
			return nil, err
		}
	}
	bar := progress.New("read", fi.Size(), append([]progress.Option{progress.WithUnit("bytes")}, opts.Progress...)...)
	src, err := dataset.Open(opts.Input, dataset.Options{Format: format, Columns: opts.Columns, Progress: bar.Add})
	if err != nil {
		bar.Finish()
		return nil, err
	}
	defer src.Close()

	cleaner := dataset.NewCleaner()
	counts := dataset.RecordCounts{Dropped: map[string]int{}}
	var kept []dataset.Paper
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				bar.Finish()
				return nil, err
			}
		}
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *dataset.RecordError
		if errors.As(err, &re) {
			if opts.OnError == Fail {
				bar.Finish()
				return nil, fmt.Errorf("%s: malformed record at %w (use -on-error skip to skip such records)", opts.Input, re)
			}
			counts.Malformed++
			if counts.Malformed <= opts.MaxReported {
				log.Warn("skipping malformed record", "input", opts.Input, re.Unit, re.Pos, "error", re.Err.Error())
			} else if counts.Malformed == opts.MaxReported+1 {
				log.Warn("more malformed records; counting without logging each", "input", opts.Input)
			}
			continue
		}
		if err != nil {
			bar.Finish()
			return nil, err
		}
		counts.Read++
		p := rec.Paper
		if _, ok := cleaner.Clean(&p); ok {
			kept = append(kept, p)
		}
	}
	bar.Finish()
	for k, v := range cleaner.Dropped {
		counts.Dropped[k] = v
	}
	counts.Unescaped = cleaner.Unescaped

	kept, capped := split.CapPerCategory(kept, opts.MaxPerCategory, opts.Seed)
	if capped > 0 {
		counts.Dropped[DropCategoryCap] = capped
	}
	counts.Kept = len(kept)
	if len(kept) == 0 {
		return nil, fmt.Errorf("%s: no usable records (read %d, malformed %d, dropped %v)", opts.Input, counts.Read, counts.Malformed, counts.Dropped)
	}
	train, eval, test := split.Split(kept, opts.Seed, opts.Fractions)

	ext := ".jsonl"
	if opts.Gzip {
		ext += ".gz"
	}
	m := &dataset.Manifest{
		SchemaVersion: dataset.CurrentSchema,
		Source:        dataset.SourceInfo{Path: opts.Input, Format: format, Bytes: fi.Size(), SHA256: sum},
		Seed:          opts.Seed,
		TestFraction:  opts.Fractions.Test,
		EvalFraction:  opts.Fractions.Eval,
		MaxPerCat:     opts.MaxPerCategory,
		OnError:       string(opts.OnError),
		Records:       counts,
		Tool:          opts.Tool,
	}
	splits := []stats.NamedSplit{{Name: dataset.Train, Papers: train}, {Name: dataset.Eval, Papers: eval}, {Name: dataset.Test, Papers: test}}
	wbar := progress.New("write", int64(len(kept)), append([]progress.Option{progress.WithUnit("papers")}, opts.Progress...)...)
	for _, s := range splits {
		name := s.Name + ext
		sha, err := dataset.WriteFile(filepath.Join(opts.OutDir, name), s.Papers)
		if err != nil {
			wbar.Finish()
			return nil, err
		}
		wbar.Add(int64(len(s.Papers)))
		m.Splits = append(m.Splits, dataset.SplitInfo{Name: s.Name, File: name, Count: len(s.Papers), SHA256: sha})
	}
	wbar.Finish()

	report := stats.Build(splits, counts)
	if err := writeJSON(filepath.Join(opts.OutDir, "stats.json"), report); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opts.OutDir, "stats.md"), []byte(report.Markdown()), 0o644); err != nil {
		return nil, fmt.Errorf("write stats: %w", err)
	}
	// The manifest goes last: its presence means the directory is whole.
	if err := writeJSON(filepath.Join(opts.OutDir, dataset.ManifestFile), m); err != nil {
		return nil, err
	}
	log.Info("prepared", "out", opts.OutDir, "read", counts.Read, "malformed", counts.Malformed,
		"kept", counts.Kept, "train", len(train), "eval", len(eval), "test", len(test), "categories", len(report.Categories))
	return &Result{Manifest: m, Stats: report}, nil
}

func hashWithProgress(path string, size int64, popts []progress.Option) (string, error) {
	bar := progress.New("hash", size, append([]progress.Option{progress.WithUnit("bytes")}, popts...)...)
	defer bar.Finish()
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, &progress.Reader{R: f, Bar: bar}); err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// WriteJSON writes v indented to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
