// Package dataset reads arXiv paper metadata from the formats the pipeline
// accepts (arXiv metadata snapshot JSON lines, the Hugging Face
// nick007x/arxiv-papers parquet layout, CSV with a column mapping, and the
// pipeline's own split files), cleans it, and reads and writes the split
// files (docs/pipeline.md documents their schema).
package dataset

import (
	"fmt"
	"strings"
)

// Paper is one record of a split file. Every field is always written;
// empty strings and lists stand for "unknown".
type Paper struct {
	// ID is the arXiv identifier without "arXiv:" prefix or version
	// suffix ("2501.01234", "math/0601001").
	ID       string `json:"id"`
	Title    string `json:"title"`
	Abstract string `json:"abstract"`
	// Authors are the author names in order.
	Authors []string `json:"authors"`
	// Categories are arXiv category codes, primary first, no duplicates.
	Categories []string `json:"categories"`
	// PrimaryCategory equals Categories[0].
	PrimaryCategory string `json:"primary_category"`
	// UpdateDate is the source's date field as given (YYYY-MM-DD in the
	// arXiv snapshot; submission_date in the Hugging Face layout).
	UpdateDate string `json:"update_date"`
	Comments   string `json:"comments"`
}

// TextRule says which fields make up the text that is embedded.
type TextRule string

const (
	// TitleAbstract is Title + " " + Abstract, the project's rule for
	// training, evaluation, BM25 and the gateway's ingest.
	TitleAbstract TextRule = "title+abstract"
	// AbstractOnly is the seed system's rule.
	AbstractOnly TextRule = "abstract"
)

// ParseTextRule parses a -text flag value.
func ParseTextRule(s string) (TextRule, error) {
	switch r := TextRule(s); r {
	case TitleAbstract, AbstractOnly:
		return r, nil
	}
	return "", fmt.Errorf("unknown text rule %q (want %q or %q)", s, TitleAbstract, AbstractOnly)
}

// Text returns the text of p under rule r.
func (r TextRule) Text(p *Paper) string {
	if r == AbstractOnly {
		return p.Abstract
	}
	return p.Title + " " + p.Abstract
}

// Texts applies r to every paper.
func (r TextRule) Texts(papers []Paper) []string {
	out := make([]string, len(papers))
	for i := range papers {
		out[i] = r.Text(&papers[i])
	}
	return out
}

// IsCS reports whether a category code belongs to computer science.
func IsCS(category string) bool { return strings.HasPrefix(category, "cs.") }
