package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/train"
)

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "export", "-model DIR -out DIR -dtype float16|int8|float32", `
Reads a model directory written by train (or export) and writes it again
with the table stored as -dtype: float32, float16 (a Cast node after the
Gather) or int8 (one float32 scale per row; Cast and Mul after the
Gather). training.json is carried over with the new dtype. Converting
from a lossy table to float32 keeps the lossy values.`)
	in := fs.String("model", "", "model directory to read (required)")
	out := fs.String("out", "", "model directory to write (required)")
	dtype := fs.String("dtype", "", "table storage: float32, float16 or int8 (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "model", "out", "dtype"); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	dt, err := modeldir.ParseDType(*dtype)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m, src, err := modeldir.Load(*in)
	if err != nil {
		return err
	}
	meta := src.Metadata
	kept := meta[:0:0]
	for _, kv := range meta {
		if kv[0] != "dtype" {
			kept = append(kept, kv)
		}
	}
	if err := modeldir.Write(*out, m, modeldir.Options{DType: dt, Producer: producer(), Metadata: kept, TokenizerDir: *in}); err != nil {
		return err
	}
	if info, err := train.ReadInfo(*in); err == nil {
		path, _ := modeldir.ModelPath(*out)
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		info.DType = dt
		info.Table.ModelBytes = fi.Size()
		// The cache key covers the storage, so a retrain to this
		// directory with -dtype dt recognizes it.
		info.CacheKey = train.CacheKey(info.Config, info.Data.TrainSHA256, info.VocabSHA256, string(dt))
		if err := writeJSONFile(filepath.Join(*out, train.InfoFile), info); err != nil {
			return err
		}
	}
	path, _ := modeldir.ModelPath(*out)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	log.Info("exported", "from", *in, "from_dtype", src.DType, "to", *out, "dtype", dt, "bytes", fi.Size())
	fmt.Fprintf(stdout, "wrote %s: %d x %d table as %s, model.onnx %d bytes (was %d)\n", *out, m.NumRows(), m.Dim, dt, fi.Size(), src.Bytes)
	return nil
}
