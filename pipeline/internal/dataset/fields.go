package dataset

import (
	"regexp"
	"strings"
)

// normalizeSpace collapses every run of white space (arXiv keeps its line
// breaks in titles and abstracts) into one space and trims the ends.
func normalizeSpace(s string) string {
	// Fast path: nothing to do.
	clean := true
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
		if c >= 0x80 || (space && (c != ' ' || prevSpace)) {
			clean = false
			break
		}
		prevSpace = space
	}
	if clean && !prevSpace {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

var (
	newStyleID = regexp.MustCompile(`^(\d{4}\.\d{4,5})(v\d+)?$`)
	oldStyleID = regexp.MustCompile(`^([a-z][a-z\-]*(\.[A-Z]{2})?/\d{7})(v\d+)?$`)
)

// NormalizeID trims an identifier and, when it is an arXiv identifier,
// drops an "arXiv:" prefix and a version suffix ("2501.01234v2" becomes
// "2501.01234"). Other identifiers are kept as they are, trimmed.
func NormalizeID(id string) string {
	id = strings.TrimSpace(id)
	if len(id) > 6 && strings.EqualFold(id[:6], "arxiv:") {
		id = id[6:]
	}
	if m := newStyleID.FindStringSubmatch(id); m != nil {
		return m[1]
	}
	if m := oldStyleID.FindStringSubmatch(id); m != nil {
		return m[1]
	}
	return id
}

// ParseCategories reads a category list in any of the layouts the sources
// use, primary first:
//
//   - arXiv snapshot: codes separated by spaces ("cs.CL cs.AI");
//   - Hugging Face: names with the code in parentheses joined by "; "
//     ("Machine Learning (cs.LG); Artificial Intelligence (cs.AI)");
//   - CSV exports: codes separated by commas or semicolons.
//
// Duplicates are dropped, keeping the first occurrence.
func ParseCategories(s string) []string {
	var parts []string
	if strings.Contains(s, "(") {
		for _, item := range strings.Split(s, ";") {
			if c := categoryCode(item); c != "" {
				parts = append(parts, c)
			}
		}
	} else {
		parts = strings.FieldsFunc(s, func(r rune) bool {
			return r == ' ' || r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r'
		})
	}
	return dedupe(parts)
}

// categoryCode returns the code in the last parentheses of a Hugging Face
// subject ("Machine Learning (cs.LG)" gives "cs.LG"); without parentheses
// the trimmed name itself.
func categoryCode(item string) string {
	item = strings.TrimSpace(item)
	open, close := strings.LastIndex(item, "("), strings.LastIndex(item, ")")
	if open >= 0 && close > open {
		if code := strings.TrimSpace(item[open+1 : close]); code != "" {
			return code
		}
	}
	return normalizeSpace(item)
}

func dedupe(items []string) []string {
	out := items[:0]
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" || seen[it] {
			continue
		}
		seen[it] = true
		out = append(out, it)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SplitAuthors splits an author string ("A. One, B. Two and C. Three") at
// commas and " and " outside parentheses (arXiv puts affiliations in
// parentheses, which may hold commas).
func SplitAuthors(s string) []string {
	s = normalizeSpace(s)
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		if a := strings.TrimSpace(s[start:end]); a != "" {
			out = append(out, a)
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == ',' || c == ';':
			flush(i)
			start = i + 1
		case c == ' ' && strings.HasPrefix(s[i:], " and "):
			flush(i)
			start = i + len(" and ")
			i += len(" and ") - 1
		}
	}
	flush(len(s))
	return out
}
