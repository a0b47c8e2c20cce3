package dataset

import (
	"slices"
	"strings"
	"testing"
)

func TestCSVWithAliasesAndMapping(t *testing.T) {
	data := "arxiv_id,title,summary,authors,subjects,primary_subject,submission_date\n" +
		"2501.00001v2,A title,\"An abstract, with a comma\nand a line break\",\"A One, B Two\",\"Machine Learning (cs.LG); Artificial Intelligence (cs.AI)\",Artificial Intelligence (cs.AI),2025-01-01\n" +
		"2501.00002,Second,Text,C Three,cs.CV,,2025-01-02\n"
	cols, err := ParseColumns("abstract=summary")
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(writeTemp(t, "in.csv", []byte(data)), Options{Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	if len(bad) != 0 || len(recs) != 2 {
		t.Fatalf("%d records, bad %v", len(recs), bad)
	}
	p := recs[0].Paper
	if p.ID != "2501.00001v2" || p.Abstract != "An abstract, with a comma\nand a line break" || p.UpdateDate != "2025-01-01" {
		t.Errorf("first record: %+v", p)
	}
	if !slices.Equal(p.Categories, []string{"cs.AI", "cs.LG"}) || !slices.Equal(p.Authors, []string{"A One", "B Two"}) {
		t.Errorf("lists: %q %q", p.Categories, p.Authors)
	}
	// The second record starts on line 4: the first spans lines 2-3.
	if recs[0].Pos != 2 || recs[1].Pos != 4 {
		t.Errorf("positions %d, %d; want 2, 4", recs[0].Pos, recs[1].Pos)
	}
	if !slices.Equal(recs[1].Paper.Categories, []string{"cs.CV"}) {
		t.Errorf("second categories %q", recs[1].Paper.Categories)
	}
}

func TestCSVMalformedRows(t *testing.T) {
	data := "id,title,abstract,categories\n" +
		"1,t,a,cs.AI\n" + // 2
		"2,t,a\n" + // 3: too few fields
		"3,t \"bare\" quote,a,cs.AI\n" + // 4: bare quote
		"4,t,a,cs.AI,extra\n" + // 5: too many fields
		"5,t,a,cs.AI\n" // 6
	src, err := Open(writeTemp(t, "in.csv", []byte(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, bad := readAllPositions(t, src)
	var good, badLines []int
	for _, r := range recs {
		good = append(good, r.Pos)
	}
	for _, re := range bad {
		badLines = append(badLines, re.Pos)
		if !strings.HasPrefix(re.Error(), "line ") {
			t.Errorf("error %q does not name its line", re)
		}
	}
	if !slices.Equal(good, []int{2, 6}) || !slices.Equal(badLines, []int{3, 4, 5}) {
		t.Errorf("good lines %v, bad lines %v; want [2 6] and [3 4 5]", good, badLines)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name, data, columns, want string
	}{
		{"missing abstract", "id,title,categories\n", "", "no column for abstract"},
		{"missing category", "id,title,abstract\n", "", "categories or primary_category"},
		{"mapped column absent", "id,title,abstract,categories\n", "abstract=summary", `column "summary"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols, err := ParseColumns(tt.columns)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(writeTemp(t, "in.csv", []byte(tt.data)), Options{Columns: cols})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseColumns(t *testing.T) {
	got, err := ParseColumns(" id = paper_id , abstract=summary")
	if err != nil || got["id"] != "paper_id" || got["abstract"] != "summary" || len(got) != 2 {
		t.Errorf("ParseColumns = %v, %v", got, err)
	}
	for _, bad := range []string{"id", "id=", "=x", "nope=x"} {
		if _, err := ParseColumns(bad); err == nil {
			t.Errorf("ParseColumns(%q) succeeded", bad)
		}
	}
}
