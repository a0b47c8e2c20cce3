package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/split"
)

func runSample(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "sample", "-input FILE -out FILE.jsonl.gz [flags]", `
Draws a sample of -n papers stratified over primary categories (every
category first gets up to -min-per-category papers, the rest is shared in
proportion to category sizes; papers drawn at random with -seed) from the
well-formed, non-duplicate records of -input. JSON lines input is copied
line for line (the sample keeps the source layout byte for byte); other
formats are written in the arXiv metadata snapshot layout. The output is
gzipped when its name ends in .gz.

The repository's pipeline/sample/arxiv-sample.jsonl.gz was made with:
  arxivsearch sample -input ../shared/data/arxiv-metadata.jsonl.gz \
    -out pipeline/sample/arxiv-sample.jsonl.gz -n 3000 -seed 42`)
	input := fs.String("input", "", "input file (required)")
	out := fs.String("out", "", "output file (required)")
	in := addInputFlags(fs)
	n := fs.Int("n", 3000, "papers in the sample")
	minPer := fs.Int("min-per-category", 3, "papers every category gets first (or all it has)")
	seed := fs.Uint64("seed", 42, "seed of the draw")
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
	fi, err := os.Stat(*input)
	if err != nil {
		return err
	}
	bar := progress.New("read", fi.Size(), progress.WithUnit("bytes"), progress.WithWriter(stderr))
	dopts.Progress = bar.Add
	src, err := dataset.Open(*input, dopts)
	if err != nil {
		bar.Finish()
		return err
	}
	defer src.Close()
	malformed := 0
	recs, err := dataset.ReadAll(src, func(re *dataset.RecordError) error {
		malformed++
		log.Warn("skipping malformed record", re.Unit, re.Pos, "error", re.Err.Error())
		return ctx.Err()
	})
	bar.Finish()
	if err != nil {
		return err
	}
	cleaner := dataset.NewCleaner()
	var papers []dataset.Paper
	raw := map[string][]byte{}
	for _, r := range recs {
		p := r.Paper
		if _, ok := cleaner.Clean(&p); ok {
			papers = append(papers, p)
			raw[p.ID] = r.Raw
		}
	}
	picked := split.Stratified(papers, *n, *minPer, *seed)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	file, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer file.Close()
	bw := bufio.NewWriter(file)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(*out, ".gz") {
		zw, _ = gzip.NewWriterLevel(bw, gzip.BestCompression)
		w = zw
	}
	cats := map[string]bool{}
	for _, p := range picked {
		cats[p.PrimaryCategory] = true
		line := raw[p.ID]
		if line == nil {
			line, err = json.Marshal(snapshotRecord(p))
			if err != nil {
				return err
			}
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sampled %d of %d papers (%d categories) into %s (%d malformed, %d dropped in cleaning)\n",
		len(picked), len(papers), len(cats), *out, malformed, len(recs)-len(papers))
	return nil
}

// snapshotRecord is a paper in the arXiv metadata snapshot layout.
func snapshotRecord(p dataset.Paper) map[string]any {
	var comments any
	if p.Comments != "" {
		comments = p.Comments
	}
	return map[string]any{
		"id": p.ID, "authors": strings.Join(p.Authors, ", "), "title": p.Title, "comments": comments,
		"categories": strings.Join(p.Categories, " "), "abstract": p.Abstract, "update_date": p.UpdateDate,
	}
}
