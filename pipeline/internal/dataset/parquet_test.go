package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// hfFileRow is the full column layout of the nick007x/arxiv-papers
// files, including the columns the reader ignores.
type hfFileRow struct {
	ArxivID        *string `parquet:"arxiv_id,optional"`
	Title          *string `parquet:"title,optional"`
	Authors        *string `parquet:"authors,optional"`
	SubmissionDate *string `parquet:"submission_date,optional"`
	Comments       *string `parquet:"comments,optional"`
	PrimarySubject *string `parquet:"primary_subject,optional"`
	Subjects       *string `parquet:"subjects,optional"`
	DOI            *string `parquet:"doi,optional"`
	Abstract       *string `parquet:"abstract,optional"`
	FilePath       *string `parquet:"file_path,optional"`
}

func ptr(s string) *string { return &s }

func writeParquet[T any](t *testing.T, rows []T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "papers.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParquetHFLayout(t *testing.T) {
	rows := []hfFileRow{
		{ArxivID: ptr("2501.00001"), Title: ptr("Deep nets"), Authors: ptr("A One, B Two"), SubmissionDate: ptr("2025-01-01"),
			PrimarySubject: ptr("Machine Learning (cs.LG)"), Subjects: ptr("Machine Learning (cs.LG); Artificial Intelligence (cs.AI)"),
			DOI: ptr("10.1/x"), Abstract: ptr("We study &#34;deep&#34; nets."), FilePath: ptr("x.pdf")},
		{ArxivID: ptr("2501.00002"), Title: ptr("Second"), PrimarySubject: ptr("Quantum Physics (quant-ph)"),
			Subjects: ptr("Quantum Physics (quant-ph)"), Abstract: nil}, // null abstract: read, dropped by cleaning
	}
	path := writeParquet(t, rows)
	src, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	if len(bad) != 0 || len(recs) != 2 {
		t.Fatalf("%d records, bad %v", len(recs), bad)
	}
	p := recs[0].Paper
	if p.ID != "2501.00001" || p.Title != "Deep nets" || p.UpdateDate != "2025-01-01" || p.Abstract != "We study &#34;deep&#34; nets." {
		t.Errorf("first row: %+v", p)
	}
	if !slices.Equal(p.Categories, []string{"cs.LG", "cs.AI"}) || !slices.Equal(p.Authors, []string{"A One", "B Two"}) {
		t.Errorf("lists: %q %q", p.Categories, p.Authors)
	}
	if recs[1].Pos != 2 || recs[1].Paper.Abstract != "" || !slices.Equal(recs[1].Paper.Categories, []string{"quant-ph"}) {
		t.Errorf("second row: pos %d %+v", recs[1].Pos, recs[1].Paper)
	}
	c := NewCleaner()
	if _, ok := c.Clean(&p); !ok || p.Abstract != `We study "deep" nets.` {
		t.Errorf("cleaned abstract %q (kept %v)", p.Abstract, ok)
	}
	if reason, ok := c.Clean(&recs[1].Paper); ok || reason != DropEmptyAbstract {
		t.Errorf("null abstract: kept %v, reason %q", ok, reason)
	}
}

func TestParquetWrongLayout(t *testing.T) {
	type other struct {
		Name string `parquet:"name"`
	}
	path := writeParquet(t, []other{{"x"}})
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "arxiv_id") {
		t.Errorf("Open = %v, want an error naming the missing columns", err)
	}
	bad := writeTemp(t, "broken.parquet", []byte("PAR1 not really parquet PAR1"))
	if _, err := Open(bad, Options{}); err == nil {
		t.Error("Open of a corrupt parquet file succeeded")
	}
}
