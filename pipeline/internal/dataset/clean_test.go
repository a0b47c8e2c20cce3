package dataset

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCleanerCountsAndNormalizes(t *testing.T) {
	in := []Paper{
		{ID: "arXiv:2501.00001v2", Title: " A\n title ", Abstract: "An\n\nabstract", Categories: []string{"cs.AI", "cs.AI", "cs.LG"}, Authors: []string{" A  One ", ""}},
		{ID: "", Title: "t", Abstract: "a", Categories: []string{"cs.AI"}},
		{ID: "2", Title: " \n ", Abstract: "a", Categories: []string{"cs.AI"}},
		{ID: "3", Title: "t", Abstract: "", Categories: []string{"cs.AI"}},
		{ID: "4", Title: "t", Abstract: "a", Categories: nil},
		{ID: "2501.00001", Title: "other", Abstract: "other", Categories: []string{"cs.AI"}}, // duplicate id after normalization
		{ID: "6", Title: "a TITLE", Abstract: "AN abstract", Categories: []string{"cs.CV"}},  // duplicate text (case, white space)
		{ID: "7", Title: "Fresh", Abstract: "x &amp; y &lt; z, but a & b", Categories: []string{"math.AG"}},
	}
	c := NewCleaner()
	var kept []Paper
	for _, p := range in {
		if _, ok := c.Clean(&p); ok {
			kept = append(kept, p)
		}
	}
	want := map[string]int{DropMissingID: 1, DropEmptyTitle: 1, DropEmptyAbstract: 1, DropMissingCategory: 1, DropDuplicateID: 1, DropDuplicateText: 1}
	if !maps.Equal(c.Dropped, want) {
		t.Errorf("dropped %v, want %v", c.Dropped, want)
	}
	if len(kept) != 2 {
		t.Fatalf("kept %d, want 2", len(kept))
	}
	p := kept[0]
	if p.ID != "2501.00001" || p.Title != "A title" || p.Abstract != "An abstract" || p.PrimaryCategory != "cs.AI" ||
		!slices.Equal(p.Categories, []string{"cs.AI", "cs.LG"}) || !slices.Equal(p.Authors, []string{"A One"}) {
		t.Errorf("normalized: %+v", p)
	}
	if kept[1].Abstract != "x & y < z, but a & b" || c.Unescaped != 1 {
		t.Errorf("entities: %q (unescaped %d)", kept[1].Abstract, c.Unescaped)
	}
}

func TestSplitFileRoundTrip(t *testing.T) {
	papers := []Paper{
		{ID: "1", Title: "t", Abstract: "a <b> & \"c\"", Authors: []string{}, Categories: []string{"cs.AI", "cs.LG"}, PrimaryCategory: "cs.AI", UpdateDate: "2025-01-01"},
		{ID: "2", Title: "t2", Abstract: "a2", Authors: []string{"X"}, Categories: []string{"math.AG"}, PrimaryCategory: "math.AG", Comments: "3 pages"},
	}
	dir := t.TempDir()
	for _, name := range []string{"s.jsonl", "s.jsonl.gz"} {
		path := filepath.Join(dir, name)
		sum, err := WriteFile(path, papers)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != sum {
			t.Errorf("%s: WriteFile hash %s does not match the file (%v)", name, sum, err)
		}
		plain, _ := ContentSHA256(filepath.Join(dir, "s.jsonl"))
		if c, err := ContentSHA256(path); err != nil || c != plain {
			t.Errorf("%s: content hash %s, plain file's %s (%v)", name, c, plain, err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Abstract != papers[0].Abstract || !slices.Equal(got[0].Categories, papers[0].Categories) ||
			got[1].Comments != "3 pages" || got[1].PrimaryCategory != "math.AG" || got[0].Authors == nil {
			t.Errorf("%s: round trip %+v", name, got)
		}
		// Same papers, same bytes (gzip without a timestamp).
		sum2, err := WriteFile(path, papers)
		if err != nil || sum2 != sum {
			t.Errorf("%s: rewrite hash %s, first %s", name, sum2, sum)
		}
	}
}
