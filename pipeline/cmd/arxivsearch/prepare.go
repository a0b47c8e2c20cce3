package main

import (
	"context"
	"fmt"
	"io"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/prepare"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/split"
)

func runPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "prepare", "-input FILE -out DIR [flags]", `
Reads paper metadata, cleans it (white space normalized; records without
id, title, abstract or category dropped; duplicate ids and duplicate
title+abstract texts dropped, first one kept; every drop counted by
reason), optionally caps the papers per primary category, and splits it
with a seeded shuffle the way the seed system did: 20% test, then 20% of
the rest eval, the remainder train.

Input formats: arXiv metadata snapshot JSON lines (plain or .gz), the
Hugging Face nick007x/arxiv-papers parquet layout, CSV with a header row
(-columns maps fields to headers), or the pipeline's own split files.

Writes to -out: train.jsonl.gz, eval.jsonl.gz, test.jsonl.gz (schema in
docs/pipeline.md), manifest.json (counts, seed, source SHA-256, file
hashes), stats.json and stats.md (per-category statistics).`)
	input := fs.String("input", "", "input file (required)")
	out := fs.String("out", "", "output directory (required)")
	in := addInputFlags(fs)
	seed := fs.Uint64("seed", 42, "seed of the split and of the per-category cap")
	testFrac := fs.Float64("test-fraction", split.Default.Test, "fraction of all papers in the test split")
	evalFrac := fs.Float64("eval-fraction", split.Default.Eval, "fraction of the non-test papers in the eval split")
	maxPer := fs.Int("max-per-category", 0, "keep at most this many papers per primary category (seeded choice); 0 keeps all")
	onError := fs.String("on-error", "skip", "malformed input record: skip (report its line number and go on) or fail")
	gz := fs.Bool("gzip", true, "gzip the split files")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "input", "out"); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	dopts, err := in.options()
	if err != nil {
		return err
	}
	oe, err := prepare.ParseOnError(*onError)
	if err != nil {
		return err
	}
	res, err := prepare.Run(ctx, prepare.Options{
		Input: *input, Format: dopts.Format, Columns: dopts.Columns, OutDir: *out, Seed: *seed,
		Fractions: split.Fractions{Test: *testFrac, Eval: *evalFrac}, MaxPerCategory: *maxPer,
		OnError: oe, Gzip: *gz, Tool: producer(), Log: log,
	})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "prepared %s: %d papers kept of %d read (%d malformed skipped)\n", *out, m.Records.Kept, m.Records.Read, m.Records.Malformed)
	for _, s := range m.Splits {
		fmt.Fprintf(stdout, "  %-5s %7d  %s\n", s.Name, s.Count, s.File)
	}
	return nil
}
