package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format names an input layout.
type Format string

const (
	FormatAuto    Format = "auto"
	FormatJSONL   Format = "jsonl"   // arXiv snapshot or split-file JSON lines, plain or gzipped
	FormatParquet Format = "parquet" // Hugging Face nick007x/arxiv-papers layout
	FormatCSV     Format = "csv"     // header row plus a column mapping, plain or gzipped
)

// ParseFormat parses a -format flag value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatJSONL, FormatParquet, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown input format %q (want auto, jsonl, parquet or csv)", s)
}

// Record is a paper as read from a source, before cleaning, with its
// position in the input.
type Record struct {
	Pos   int // line number (JSON lines, CSV) or 1-based row number (parquet)
	Paper Paper
	// Raw is the input line as read (JSON lines only, without the
	// newline); nil for other formats.
	Raw []byte
}

// RecordError is a malformed record. The source stays usable: the next
// call to Next continues with the following record.
type RecordError struct {
	Unit string // "line" or "row"
	Pos  int
	Err  error
}

func (e *RecordError) Error() string { return fmt.Sprintf("%s %d: %v", e.Unit, e.Pos, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

// Source yields records one at a time.
type Source interface {
	// Next returns the next record, io.EOF at the end, a *RecordError for
	// a malformed record (reading may continue) or another error (fatal).
	Next() (Record, error)
	Close() error
}

// Options configure Open.
type Options struct {
	Format Format
	// Columns maps Paper fields (id, title, abstract, authors,
	// categories, primary_category, update_date, comments) to CSV header
	// names; unmapped fields use their own name or a known alias.
	Columns map[string]string
	// Progress, when set, is given every byte read from the file (the
	// compressed bytes for gzipped input; for parquet, each row's share of
	// the file size).
	Progress func(n int64)
}

// Open opens path as a Source.
func Open(path string, opts Options) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	format := opts.Format
	if format == "" || format == FormatAuto {
		format, err = detectFormat(path, f)
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	if format == FormatParquet {
		src, err := openParquet(f, opts.Progress)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return src, nil
	}
	var r io.Reader = f
	if opts.Progress != nil {
		r = &countingReader{r: f, add: opts.Progress}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	closer := func() error { return f.Close() }
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
		closer = func() error { zr.Close(); return f.Close() }
	}
	switch format {
	case FormatJSONL:
		return &jsonlSource{r: br, close: closer}, nil
	case FormatCSV:
		src, err := newCSVSource(br, closer, opts.Columns)
		if err != nil {
			closer()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return src, nil
	}
	closer()
	return nil, fmt.Errorf("unknown format %q", format)
}

// DetectFormat tells an input's format from its name (.parquet, .csv,
// .jsonl, .json, .ndjson, each optionally .gz) or, failing that, its
// first bytes.
func DetectFormat(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	return detectFormat(path, f)
}

func detectFormat(path string, f *os.File) (Format, error) {
	name := strings.ToLower(strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".gz"))
	switch filepath.Ext(name) {
	case ".parquet":
		return FormatParquet, nil
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".json", ".ndjson":
		return FormatJSONL, nil
	}
	// Sniff: parquet magic, gzip (assume JSON lines) or a '{'.
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PAR1")):
		return FormatParquet, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatJSONL, nil
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("{")):
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("%s: cannot tell the input format from the name or content; pass -format", path)
}

type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

// ReadAll reads every record of src. Malformed records are passed to
// onBad, which returns nil to skip the record or an error to stop.
func ReadAll(src Source, onBad func(*RecordError) error) ([]Record, error) {
	var out []Record
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var re *RecordError
		if errors.As(err, &re) {
			if err := onBad(re); err != nil {
				return out, err
			}
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
