// Package stats builds the per-category statistics report of a prepared
// dataset, as JSON and Markdown.
package stats

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// Report is the statistics of a prepared dataset.
type Report struct {
	Papers     int                  `json:"papers"`
	Splits     []SplitCount         `json:"splits"`
	Records    dataset.RecordCounts `json:"records"`
	CS         Group                `json:"cs"`
	NonCS      Group                `json:"non_cs"`
	Categories []Category           `json:"categories"`
}

// SplitCount is the size of one split.
type SplitCount struct {
	Name   string `json:"name"`
	Papers int    `json:"papers"`
}

// Group sums a set of categories.
type Group struct {
	Categories int     `json:"categories"`
	Papers     int     `json:"papers"`
	Share      float64 `json:"share"`
}

// Category is one primary category.
type Category struct {
	Name string `json:"name"`
	// Papers per split, in the order of Report.Splits.
	Split []int `json:"split"`
	Total int   `json:"total"`
	// Share of all papers.
	Share float64 `json:"share"`
	// CrossListed is the fraction of papers with more than one category.
	CrossListed       float64 `json:"cross_listed"`
	MeanTitleChars    float64 `json:"mean_title_chars"`
	MeanAbstractChars float64 `json:"mean_abstract_chars"`
}

// NamedSplit is a split's name and papers.
type NamedSplit struct {
	Name   string
	Papers []dataset.Paper
}

// Build computes the report of splits; records says how the input was
// cleaned.
func Build(splits []NamedSplit, records dataset.RecordCounts) Report {
	r := Report{Records: records}
	byCat := map[string]*Category{}
	var sumTitle, sumAbs = map[string]int{}, map[string]int{}
	var cross = map[string]int{}
	for si, s := range splits {
		r.Splits = append(r.Splits, SplitCount{s.Name, len(s.Papers)})
		r.Papers += len(s.Papers)
		for i := range s.Papers {
			p := &s.Papers[i]
			c := byCat[p.PrimaryCategory]
			if c == nil {
				c = &Category{Name: p.PrimaryCategory, Split: make([]int, len(splits))}
				byCat[p.PrimaryCategory] = c
			}
			c.Split[si]++
			c.Total++
			sumTitle[c.Name] += len(p.Title)
			sumAbs[c.Name] += len(p.Abstract)
			if len(p.Categories) > 1 {
				cross[c.Name]++
			}
		}
	}
	for _, c := range byCat {
		c.Share = float64(c.Total) / float64(max(r.Papers, 1))
		c.CrossListed = float64(cross[c.Name]) / float64(c.Total)
		c.MeanTitleChars = float64(sumTitle[c.Name]) / float64(c.Total)
		c.MeanAbstractChars = float64(sumAbs[c.Name]) / float64(c.Total)
		g := &r.NonCS
		if dataset.IsCS(c.Name) {
			g = &r.CS
		}
		g.Categories++
		g.Papers += c.Total
		r.Categories = append(r.Categories, *c)
	}
	for _, g := range []*Group{&r.CS, &r.NonCS} {
		g.Share = float64(g.Papers) / float64(max(r.Papers, 1))
	}
	slices.SortFunc(r.Categories, func(a, b Category) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return r
}

// Markdown renders the report.
func (r Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# Dataset statistics\n\n")
	fmt.Fprintf(&b, "%d papers in %d primary categories", r.Papers, len(r.Categories))
	for i, s := range r.Splits {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s %d", sep, s.Name, s.Papers)
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "Computer science (cs.*): %d categories, %d papers (%.1f%%); other: %d categories, %d papers (%.1f%%).\n\n",
		r.CS.Categories, r.CS.Papers, 100*r.CS.Share, r.NonCS.Categories, r.NonCS.Papers, 100*r.NonCS.Share)
	b.WriteString("## Cleaning\n\n| records | count |\n|---|---:|\n")
	fmt.Fprintf(&b, "| read (well-formed) | %d |\n| malformed (skipped) | %d |\n", r.Records.Read, r.Records.Malformed)
	reasons := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Records.Dropped {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range reasons {
		fmt.Fprintf(&b, "| dropped: %s | %d |\n", k, r.Records.Dropped[k])
	}
	fmt.Fprintf(&b, "| kept | %d |\n", r.Records.Kept)
	fmt.Fprintf(&b, "| (HTML entities decoded in) | %d |\n\n", r.Records.Unescaped)
	b.WriteString("## Primary categories\n\n| category | total | share |")
	for _, s := range r.Splits {
		fmt.Fprintf(&b, " %s |", s.Name)
	}
	b.WriteString(" cross-listed | mean title chars | mean abstract chars |\n|---|---:|---:|")
	for range r.Splits {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, c := range r.Categories {
		fmt.Fprintf(&b, "| %s | %d | %.2f%% |", c.Name, c.Total, 100*c.Share)
		for _, n := range c.Split {
			fmt.Fprintf(&b, " %d |", n)
		}
		fmt.Fprintf(&b, " %.0f%% | %.0f | %.0f |\n", 100*c.CrossListed, c.MeanTitleChars, c.MeanAbstractChars)
	}
	return b.String()
}
