package dataset

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes papers as JSON lines to path, gzipped when path ends
// in ".gz" (with no timestamp, so the same papers give the same bytes),
// through a temporary file renamed into place. It returns the SHA-256 of
// the written file.
func WriteFile(path string, papers []Paper) (sum string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range papers {
		if err := enc.Encode(&papers[i]); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReadFile reads a split file (or any JSON lines input in a layout
// Open accepts). Any malformed line is an error naming its line number:
// split files are written by the pipeline, so a bad line means damage.
func ReadFile(path string) ([]Paper, error) {
	src, err := Open(path, Options{Format: FormatJSONL})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	recs, err := ReadAll(src, func(re *RecordError) error { return re })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]Paper, len(recs))
	for i := range recs {
		out[i] = recs[i].Paper
		if out[i].Authors == nil {
			out[i].Authors = []string{}
		}
		if len(out[i].Categories) > 0 {
			out[i].PrimaryCategory = out[i].Categories[0]
		}
	}
	return out, nil
}

// ContentSHA256 hashes a file's content: the decompressed bytes of a
// gzipped file, so that the hash does not depend on the compressor.
func ContentSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
