package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAllPositions reads src fully and returns the good records and the
// malformed positions with their messages.
func readAllPositions(t *testing.T, src Source) ([]Record, []*RecordError) {
	t.Helper()
	var bad []*RecordError
	recs, err := ReadAll(src, func(re *RecordError) error { bad = append(bad, re); return nil })
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return recs, bad
}

const snapshotLine = `{"id": "0910.3580", "authors": "Felix Brandt, Paul Harrenstein", "title": "Set-Rationalizable Choice\n  and Self-Stability", "comments": "13 pages", "categories": "cs.MA cs.GT", "abstract": "A common assumption in modern\nmicroeconomic theory.", "update_date": "2025-07-21"}`

func TestJSONLSnapshotLayout(t *testing.T) {
	path := writeTemp(t, "in.jsonl.gz", gz(t, snapshotLine+"\n"))
	src, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	if len(bad) != 0 || len(recs) != 1 {
		t.Fatalf("got %d records, %d bad", len(recs), len(bad))
	}
	p := recs[0].Paper
	if p.ID != "0910.3580" || p.Title != "Set-Rationalizable Choice\n  and Self-Stability" || p.Comments != "13 pages" || p.UpdateDate != "2025-07-21" {
		t.Errorf("fields: %+v", p)
	}
	if !slices.Equal(p.Authors, []string{"Felix Brandt", "Paul Harrenstein"}) || !slices.Equal(p.Categories, []string{"cs.MA", "cs.GT"}) {
		t.Errorf("lists: authors %q categories %q", p.Authors, p.Categories)
	}
	if recs[0].Pos != 1 || string(recs[0].Raw) != snapshotLine {
		t.Errorf("pos %d raw %q", recs[0].Pos, recs[0].Raw)
	}
}

func TestJSONLOtherLayouts(t *testing.T) {
	lines := strings.Join([]string{
		// Split-file layout: lists, primary_category.
		`{"id":"2501.00001","title":"T","abstract":"A","authors":["X Y","Z W"],"categories":["cs.AI","cs.LG"],"primary_category":"cs.AI","update_date":"2025-01-01","comments":""}`,
		// Hugging Face field names; primary first even when listed later.
		`{"arxiv_id":"2501.00002","title":"T","abstract":"A","authors":"P Q","primary_subject":"Machine Learning (cs.LG)","subjects":"Artificial Intelligence (cs.AI); Machine Learning (cs.LG)","submission_date":"2025-02-02","comments":null}`,
	}, "\n")
	src, err := Open(writeTemp(t, "in.jsonl", []byte(lines)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	if len(bad) != 0 || len(recs) != 2 {
		t.Fatalf("got %d records, %d bad: %v", len(recs), len(bad), bad)
	}
	if p := recs[0].Paper; !slices.Equal(p.Categories, []string{"cs.AI", "cs.LG"}) || !slices.Equal(p.Authors, []string{"X Y", "Z W"}) {
		t.Errorf("split layout: %+v", p)
	}
	if p := recs[1].Paper; p.ID != "2501.00002" || p.UpdateDate != "2025-02-02" || !slices.Equal(p.Categories, []string{"cs.LG", "cs.AI"}) {
		t.Errorf("HF layout: %+v", p)
	}
}

func TestJSONLMalformedLines(t *testing.T) {
	good := `{"id":"1","title":"t","abstract":"a","categories":"cs.AI"}`
	input := strings.Join([]string{
		good,                              // 1
		`{"id":"2","title":"t"`,           // 2 truncated
		"",                                // 3 blank: skipped, still counted
		`{"id":704.0001,"title":"t"}`,     // 4 id as a number
		`{"id":"5","title":{"x":1}}`,      // 5 title as an object
		`["not","an","object"]`,           // 6
		`{"id":"7","categories":7}`,       // 7 categories as a number
		`{"id":"8","authors":[1,2]}`,      // 8 authors not strings
		`{"id":"9","title":"t"} trailing`, // 9 trailing garbage
		good,                              // 10
	}, "\n")
	src, err := Open(writeTemp(t, "in.jsonl", []byte(input)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	var goodPos []int
	for _, r := range recs {
		goodPos = append(goodPos, r.Pos)
	}
	if !slices.Equal(goodPos, []int{1, 10}) {
		t.Errorf("good records at lines %v, want [1 10]", goodPos)
	}
	wantBad := map[int]string{2: "invalid JSON", 4: `field "id"`, 5: `field "title"`, 6: "not a JSON object", 7: `field "categories"`, 8: `field "authors"`, 9: "invalid JSON"}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad records %v, want lines %v", bad, wantBad)
	}
	for _, re := range bad {
		want, ok := wantBad[re.Pos]
		if !ok || re.Unit != "line" || !strings.Contains(re.Error(), want) {
			t.Errorf("line %d: %v (want one containing %q)", re.Pos, re, want)
		}
		if !strings.HasPrefix(re.Error(), "line ") {
			t.Errorf("error %q does not name the line", re.Error())
		}
	}
}

func TestReadAllStopsWhenTold(t *testing.T) {
	src, err := Open(writeTemp(t, "in.jsonl", []byte("{\"id\":\"1\"}\nnot json\n{\"id\":\"3\"}\n")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stop := errors.New("stop")
	recs, err := ReadAll(src, func(re *RecordError) error {
		if re.Pos != 2 {
			t.Errorf("bad record at line %d, want 2", re.Pos)
		}
		return stop
	})
	if !errors.Is(err, stop) || len(recs) != 1 {
		t.Errorf("ReadAll = %d records, %v; want 1 record and the stop error", len(recs), err)
	}
}

func TestJSONLLongLineAndNoTrailingNewline(t *testing.T) {
	long := strings.Repeat("word ", 200000) // 1 MB abstract
	line := `{"id":"1","title":"t","abstract":"` + long + `","categories":"cs.AI"}`
	src, err := Open(writeTemp(t, "in.jsonl", []byte(line)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := src.Next()
	if err != nil || len(rec.Paper.Abstract) != len(long) {
		t.Fatalf("Next = %v, abstract %d bytes", err, len(rec.Paper.Abstract))
	}
	if _, err := src.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("second Next = %v, want EOF", err)
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Format
	}{
		{"a.parquet", []byte("PAR1"), FormatParquet},
		{"a.csv.gz", []byte("x"), FormatCSV},
		{"a.jsonl", []byte("{"), FormatJSONL},
		{"a.json.gz", []byte("x"), FormatJSONL},
		{"data", []byte("  {\"id\":1}"), FormatJSONL},
		{"data", []byte{0x1f, 0x8b, 0}, FormatJSONL},
		{"data", []byte("PAR1...."), FormatParquet},
	}
	for _, tt := range tests {
		got, err := DetectFormat(writeTemp(t, tt.name, tt.data))
		if err != nil || got != tt.want {
			t.Errorf("DetectFormat(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := DetectFormat(writeTemp(t, "data", []byte("id,title\n"))); err == nil {
		t.Error("DetectFormat of an unnamed CSV succeeded; want an error asking for -format")
	}
}
