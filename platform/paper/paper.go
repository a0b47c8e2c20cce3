// Package paper holds the rules every part of the system must apply to an
// arXiv paper in the same way: how its id is written (NormalizeID), which
// text of it is embedded (EmbeddingText) and where it lives on arxiv.org
// (AbsURL, PDFURL). The gateway's ingest and the offline index build both
// use it, so a paper ingested through the API and the same paper built in
// bulk get the same id, the same shard and the same vector.
package paper

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
)

// ErrInvalidID is wrapped by every error NormalizeID returns.
var ErrInvalidID = errors.New("not an arXiv identifier")

var (
	// New-style identifiers (April 2007 on): YYMM.NNNN, with five digits
	// after the dot since January 2015.
	newStyle = regexp.MustCompile(`^([0-9]{2}(?:0[1-9]|1[0-2]))\.([0-9]{4,5})(?:v[0-9]+)?$`)
	// Old-style identifiers (before April 2007): archive/YYMMNNN, where the
	// archive may carry a two-letter subject class ("math.GT/0309136").
	oldStyle = regexp.MustCompile(`^([a-z]+(?:-[a-z]+)*)(\.[a-z]{2})?/([0-9]{2}(?:0[1-9]|1[0-2])[0-9]{3})(?:v[0-9]+)?$`)
)

// NormalizeID returns the canonical form of an arXiv identifier, the form
// papers are stored, sharded and linked under:
//
//   - surrounding white space and an "arXiv:" prefix (any case) are removed;
//   - a version suffix ("v2") is removed: the collection holds the latest
//     version of each paper under its unversioned id;
//   - new-style ids (2503.01234, 0704.0001) are kept as they are;
//   - old-style ids get a lower-case archive and an upper-case subject
//     class: "HEP-TH/9901001" becomes "hep-th/9901001", "math.gt/0309136v1"
//     becomes "math.GT/0309136".
//
// This agrees with the pipeline's normalization for every id the arXiv
// metadata holds.
//
// Anything else is an error wrapping ErrInvalidID that says which forms are
// accepted.
func NormalizeID(id string) (string, error) {
	s := strings.TrimSpace(id)
	if len(s) >= 6 && strings.EqualFold(s[:6], "arxiv:") {
		s = s[6:]
	}
	if m := newStyle.FindStringSubmatch(s); m != nil {
		return m[1] + "." + m[2], nil
	}
	if m := oldStyle.FindStringSubmatch(strings.ToLower(s)); m != nil {
		return m[1] + strings.ToUpper(m[2]) + "/" + m[3], nil
	}
	return "", fmt.Errorf("%q: %w: want a new-style id such as 2503.01234 or an old-style one such as hep-th/9901001, optionally with a version suffix (v2)", id, ErrInvalidID)
}

// IsOldStyleArchive reports whether s could be the archive part of an
// old-style id ("hep-th", "math.GT"), that is the text before its slash.
// HTTP routing uses it to tell "/v1/papers/hep-th/9901001" (one id with a
// slash) from other paths.
func IsOldStyleArchive(s string) bool {
	return oldStyle.MatchString(strings.ToLower(s) + "/0001001")
}

// AbsURL is the paper's abstract page on arxiv.org.
func AbsURL(id string) string { return "https://arxiv.org/abs/" + id }

// PDFURL is the paper's PDF on arxiv.org (its latest version).
func PDFURL(id string) string { return "https://arxiv.org/pdf/" + id }

// entity matches the HTML character references that some metadata exports
// leave in titles and abstracts (&#34;, &amp;): numeric ones and the five
// XML entities only, so LaTeX such as "a & b" or "&=" is never touched.
var entity = regexp.MustCompile(`&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);`)

// CleanText is how a title or abstract is stored: runs of white space
// (arXiv's hard line breaks) collapsed to one space, ends trimmed, and the
// character references entity matches decoded, once. The offline pipeline
// cleans its split files the same way (pipeline/internal/dataset).
func CleanText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.Contains(s, "&") {
		s = entity.ReplaceAllStringFunc(s, html.UnescapeString)
	}
	return s
}

// EmbeddingText is the one text embedded for a paper, at ingest, in the
// offline index build and in training alike: the title and the abstract,
// each with its runs of white space collapsed to one space, joined by one
// space; a missing title or abstract leaves just the other. Give it cleaned
// fields (CleanText): for those it is exactly title + " " + abstract, the
// pipeline's "title+abstract" rule. LaTeX is kept as arXiv writes it.
//
// The title is included because it is the densest summary of a paper (the
// replaced system embedded the abstract alone). White space does not
// change what a BERT WordPiece tokenizer sees; collapsing it makes the rule
// independent of how a source wrapped its lines.
func EmbeddingText(title, abstract string) string {
	t := strings.Join(strings.Fields(title), " ")
	a := strings.Join(strings.Fields(abstract), " ")
	switch {
	case t == "":
		return a
	case a == "":
		return t
	}
	return t + " " + a
}
