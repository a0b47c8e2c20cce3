package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// HFRow is one row of the Hugging Face nick007x/arxiv-papers parquet
// files (every column an optional string; doi and file_path are not read).
type HFRow struct {
	ArxivID        *string `parquet:"arxiv_id,optional"`
	Title          *string `parquet:"title,optional"`
	Abstract       *string `parquet:"abstract,optional"`
	Authors        *string `parquet:"authors,optional"`
	SubmissionDate *string `parquet:"submission_date,optional"`
	Comments       *string `parquet:"comments,optional"`
	PrimarySubject *string `parquet:"primary_subject,optional"`
	Subjects       *string `parquet:"subjects,optional"`
}

type parquetSource struct {
	f *os.File
	// progress gets each row's share of the file size.
	progress func(int64)
	rowBytes float64
	credited int64
	r        *parquet.GenericReader[HFRow]
	buf      []HFRow
	pos      int // index of the next row in buf
	n        int // rows in buf
	row      int // rows returned so far
	done     bool
}

func openParquet(f *os.File, progress func(int64)) (src *parquetSource, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	var missing []string
	for _, need := range []string{"arxiv_id", "title", "abstract", "primary_subject"} {
		if _, ok := pf.Schema().Lookup(need); !ok {
			missing = append(missing, need)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("parquet: columns %s missing; the reader expects the nick007x/arxiv-papers layout", strings.Join(missing, ", "))
	}
	// The reader panics on a schema it cannot convert; report that as an
	// error instead.
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, fmt.Errorf("parquet: cannot read the file with the expected layout: %v", r)
		}
	}()
	r := parquet.NewGenericReader[HFRow](pf)
	src = &parquetSource{f: f, r: r, buf: make([]HFRow, 256), progress: progress}
	if n := r.NumRows(); n > 0 {
		src.rowBytes = float64(fi.Size()) / float64(n)
	}
	return src, nil
}

func (s *parquetSource) Next() (Record, error) {
	if s.pos == s.n {
		if s.done {
			return Record{}, io.EOF
		}
		clear(s.buf)
		n, err := s.r.Read(s.buf)
		s.pos, s.n = 0, n
		if errors.Is(err, io.EOF) {
			s.done = true
		} else if err != nil {
			return Record{}, fmt.Errorf("parquet row %d: %w", s.row+1, err)
		}
		if n == 0 {
			return Record{}, io.EOF
		}
	}
	h := &s.buf[s.pos]
	s.pos++
	s.row++
	if s.progress != nil {
		done := int64(float64(s.row) * s.rowBytes)
		s.progress(done - s.credited)
		s.credited = done
	}
	p := Paper{
		ID:         deref(h.ArxivID),
		Title:      deref(h.Title),
		Abstract:   deref(h.Abstract),
		Authors:    SplitAuthors(deref(h.Authors)),
		Categories: ParseCategories(deref(h.Subjects)),
		UpdateDate: deref(h.SubmissionDate),
		Comments:   deref(h.Comments),
	}
	p.Categories = withPrimary(categoryCode(deref(h.PrimarySubject)), p.Categories)
	return Record{Pos: s.row, Paper: p}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *parquetSource) Close() error {
	s.r.Close()
	return s.f.Close()
}
