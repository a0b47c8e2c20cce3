package stats

import (
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

func TestBuild(t *testing.T) {
	p := func(cat string, cats int, title, abs string) dataset.Paper {
		cs := []string{cat}
		for range cats - 1 {
			cs = append(cs, "x.Y")
		}
		return dataset.Paper{PrimaryCategory: cat, Categories: cs, Title: title, Abstract: abs}
	}
	splits := []NamedSplit{
		{"train", []dataset.Paper{p("cs.CV", 1, "ab", "abcd"), p("cs.CV", 2, "abcd", "ab"), p("math.AG", 1, "a", "a")}},
		{"eval", []dataset.Paper{p("cs.CV", 1, "ab", "ab")}},
		{"test", nil},
	}
	r := Build(splits, dataset.RecordCounts{Read: 5, Kept: 4, Dropped: map[string]int{"empty_title": 1}})
	if r.Papers != 4 || len(r.Categories) != 2 {
		t.Fatalf("papers %d, categories %d", r.Papers, len(r.Categories))
	}
	cv := r.Categories[0]
	if cv.Name != "cs.CV" || cv.Total != 3 || cv.Split[0] != 2 || cv.Split[1] != 1 || cv.Split[2] != 0 {
		t.Errorf("cs.CV row %+v", cv)
	}
	if cv.Share != 0.75 || cv.CrossListed != 1.0/3 || cv.MeanTitleChars != 8.0/3 || cv.MeanAbstractChars != 8.0/3 {
		t.Errorf("cs.CV figures %+v", cv)
	}
	if r.CS.Papers != 3 || r.NonCS.Papers != 1 || r.NonCS.Categories != 1 || r.NonCS.Share != 0.25 {
		t.Errorf("groups cs %+v non-cs %+v", r.CS, r.NonCS)
	}
	md := r.Markdown()
	for _, want := range []string{"4 papers in 2 primary categories: train 3, eval 1, test 0", "| dropped: empty_title | 1 |", "| cs.CV | 3 | 75.00% | 2 | 1 | 0 | 33% |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
