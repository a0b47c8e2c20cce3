package dataset

import (
	"crypto/sha256"
	"html"
	"regexp"
	"strings"
)

// Reasons a record is dropped by the Cleaner.
const (
	DropMissingID       = "missing_id"
	DropEmptyTitle      = "empty_title"
	DropEmptyAbstract   = "empty_abstract"
	DropMissingCategory = "missing_category"
	DropDuplicateID     = "duplicate_id"
	DropDuplicateText   = "duplicate_text"
)

// DropReasons lists every reason in report order.
var DropReasons = []string{DropMissingID, DropEmptyTitle, DropEmptyAbstract, DropMissingCategory, DropDuplicateID, DropDuplicateText}

// Cleaner normalizes records and drops the unusable ones, counting why.
// Duplicates keep the first occurrence in input order. A Cleaner is not
// safe for concurrent use.
type Cleaner struct {
	ids   map[string]struct{}
	texts map[[16]byte]struct{}
	// Dropped counts dropped records by reason.
	Dropped map[string]int
	// Unescaped counts records in which HTML entities were decoded.
	Unescaped int
}

// NewCleaner returns an empty Cleaner.
func NewCleaner() *Cleaner {
	return &Cleaner{ids: map[string]struct{}{}, texts: map[[16]byte]struct{}{}, Dropped: map[string]int{}}
}

// entity matches the HTML entities that some exports leave in titles and
// abstracts (&#34;, &amp;). Only numeric and the five XML entities are
// decoded, so LaTeX such as "a & b" or "&=" is never touched.
var entity = regexp.MustCompile(`&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);`)

func unescape(s string) (string, bool) {
	if !strings.Contains(s, "&") || !entity.MatchString(s) {
		return s, false
	}
	return entity.ReplaceAllStringFunc(s, html.UnescapeString), true
}

// Clean normalizes p in place (white space, identifier, entities, lists)
// and reports whether it is kept; when not, reason says why.
func (c *Cleaner) Clean(p *Paper) (reason string, keep bool) {
	p.ID = NormalizeID(p.ID)
	var u1, u2 bool
	p.Title, u1 = unescape(normalizeSpace(p.Title))
	p.Abstract, u2 = unescape(normalizeSpace(p.Abstract))
	if u1 || u2 {
		c.Unescaped++
	}
	p.Comments = normalizeSpace(p.Comments)
	p.UpdateDate = strings.TrimSpace(p.UpdateDate)
	authors := p.Authors[:0]
	for _, a := range p.Authors {
		if a = normalizeSpace(a); a != "" {
			authors = append(authors, a)
		}
	}
	p.Authors = authors
	if p.Authors == nil {
		p.Authors = []string{}
	}
	p.Categories = dedupe(p.Categories)
	if len(p.Categories) > 0 {
		p.PrimaryCategory = p.Categories[0]
	} else {
		p.PrimaryCategory = ""
	}
	switch {
	case p.ID == "":
		reason = DropMissingID
	case p.Title == "":
		reason = DropEmptyTitle
	case p.Abstract == "":
		reason = DropEmptyAbstract
	case p.PrimaryCategory == "":
		reason = DropMissingCategory
	}
	if reason == "" {
		if _, dup := c.ids[p.ID]; dup {
			reason = DropDuplicateID
		}
	}
	var key [16]byte
	if reason == "" {
		sum := sha256.Sum256([]byte(strings.ToLower(p.Title) + "\x00" + strings.ToLower(p.Abstract)))
		copy(key[:], sum[:16])
		if _, dup := c.texts[key]; dup {
			reason = DropDuplicateText
		}
	}
	if reason != "" {
		c.Dropped[reason]++
		return reason, false
	}
	c.ids[p.ID] = struct{}{}
	c.texts[key] = struct{}{}
	return "", true
}
