package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// MaxLexicalK is the largest k SearchLexical accepts.
const MaxLexicalK = 10_000

// Bounds on the FTS5 query built from user text. Each term is a posting list
// FTS5 reads and scores, so a pasted abstract must not become a query of
// hundreds of terms; longer "words" are not words (base64, hashes) and
// cannot match anything useful.
const (
	maxQueryTerms     = 32
	maxQueryTermBytes = 128
)

// LexicalHit is one SearchLexical result.
type LexicalHit struct {
	Key int64
	ID  string
	// Score is the negated BM25 score, so higher is better. BM25's inverse
	// document frequencies come from this shard's own statistics, so scores
	// of different shards are only roughly comparable; hybrid search should
	// fuse by rank (e.g. reciprocal rank fusion) rather than by raw score.
	Score float64
}

// SearchLexical returns up to k papers matching query by BM25 over title and
// abstract (title weighted by Options.TitleWeight), best first, ties by key.
// If categories is non-empty, only papers having any of them (primary or
// cross-listed) are considered.
//
// query is plain user text, never FTS5 syntax: it is split into words
// (letters, digits and combining marks; everything else separates words),
// lowercased, de-duplicated, and common English function words are dropped
// unless nothing else is left. Every word becomes a double-quoted FTS5
// string, which FTS5 treats as a literal phrase, so operators (AND, OR, NOT,
// NEAR), prefix stars, column filters, carets, parentheses and quotes in the
// text are inert, and the words are joined with OR so that BM25 ranks papers
// by how many of the words they contain, and how rarely those words occur,
// instead of requiring all of them. A query with no words returns no hits.
// The first maxQueryTerms words are used.
//
// Results are served from an in-memory copy of the index while it is at
// the store's version, and by FTS5 otherwise, with identical hits and
// scores (see lexindex.go).
//
// The index tokenizer is porter stemming over unicode61 with
// remove_diacritics 2 (see the schema), applied to the query words as well,
// so "networks" matches "network" and "Erdos" matches "Erdős". Scripts
// written without spaces (Chinese, Japanese, Thai) are indexed as whole runs
// of characters, so they only match identical runs.
func (s *Store) SearchLexical(ctx context.Context, query string, k int, categories []string) ([]LexicalHit, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if k <= 0 || k > MaxLexicalK {
		return nil, fmt.Errorf("store: lexical search: k = %d, want 1..%d: %w", k, MaxLexicalK, ErrInvalidArgument)
	}
	filter, err := categoryFilter(categories)
	if err != nil {
		return nil, fmt.Errorf("store: lexical search: %w", err)
	}
	words := queryWords(query)
	if len(words) == 0 {
		return nil, nil
	}
	x, err := s.currentLexIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: lexical search: %w", err)
	}
	if x != nil {
		tokens, ok, err := queryTokenizer.tokens(ctx, words)
		if err != nil {
			// FTS5 answers instead; the error shows in LexicalIndexStats.
			s.lex.setErr(err)
		}
		if ok {
			s.lex.fromMemory.Add(1)
			var allowed []uint64
			if len(categories) > 0 {
				var some bool
				if allowed, some = x.allowedDocs(categories); !some {
					return nil, nil
				}
			}
			return x.search(tokens, k, allowed), nil
		}
		// A word FTS5 splits into several tokens is a phrase, which needs
		// positions the copy does not keep.
	}
	s.lex.fromFTS.Add(1)
	return s.searchLexicalFTS(ctx, ftsQuery(words), k, filter)
}

// searchLexicalFTS runs the lexical search in FTS5.
func (s *Store) searchLexicalFTS(ctx context.Context, match string, k int, filter string) ([]LexicalHit, error) {
	stmt, args := s.lexical, []any{s.titleW, s.absW, match, k}
	if filter != "" {
		stmt, args = s.lexicalFiltered, []any{s.titleW, s.absW, match, filter, k}
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: lexical search %q: %w", match, err)
	}
	defer rows.Close()
	var hits []LexicalHit
	for rows.Next() {
		var h LexicalHit
		if err := rows.Scan(&h.Key, &h.ID, &h.Score); err != nil {
			return nil, fmt.Errorf("store: lexical search %q: %w", match, err)
		}
		h.Score = -h.Score
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: lexical search %q: %w", match, err)
	}
	return hits, nil
}

// lexicalQuery turns user text into a safe FTS5 query, or "" if the text has
// no words. See SearchLexical.
func lexicalQuery(text string) string { return ftsQuery(queryWords(text)) }

// queryWords returns the words of user text that SearchLexical searches
// for, in order; none if the text has no words.
func queryWords(text string) []string {
	var words []string
	seen := make(map[string]bool)
	var cur strings.Builder
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		w := strings.ToLower(cur.String())
		cur.Reset()
		if len(w) <= maxQueryTermBytes && !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			cur.WriteRune(r)
		case unicode.Is(unicode.M, r) && cur.Len() > 0:
			// A combining mark belongs to the word it follows; alone it is
			// not a word, so a word always holds a letter or a digit.
			cur.WriteRune(r)
		default:
			flush()
		}
	}
	flush()

	content := words[:0:0]
	for _, w := range words {
		if !stopWords[w] {
			content = append(content, w)
		}
	}
	if len(content) > 0 {
		words = content
	}
	if len(words) > maxQueryTerms {
		words = words[:maxQueryTerms]
	}
	return words
}

// ftsQuery renders words as an FTS5 query of OR-ed strings.
func ftsQuery(words []string) string {
	var q strings.Builder
	for i, w := range words {
		if i > 0 {
			q.WriteString(" OR ")
		}
		// Inside an FTS5 string only '"' is special, escaped by doubling.
		// Words cannot contain one, but the quoting must not depend on that.
		q.WriteByte('"')
		q.WriteString(strings.ReplaceAll(w, `"`, `""`))
		q.WriteByte('"')
	}
	return q.String()
}

// stopWords are English function words too frequent to help ranking; a
// query term matching most of the shard only costs time.
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "as": true, "at": true, "be": true,
	"by": true, "for": true, "from": true, "has": true, "have": true, "in": true,
	"into": true, "is": true, "it": true, "its": true, "of": true, "on": true, "or": true,
	"our": true, "that": true, "the": true, "their": true, "these": true, "this": true,
	"to": true, "was": true, "we": true, "were": true, "which": true, "with": true,
}
