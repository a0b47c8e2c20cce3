package embed

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pyLower lowercases s as Python's str.lower does, which is what
// sentence-transformers applies when sentence_bert_config.json says
// do_lower_case: the full Unicode lowercase mapping, which differs from
// Go's simple mapping in two places: U+0130 (İ) becomes "i̇" (two code
// points), and a capital sigma at the end of a word becomes final sigma ς.
func pyLower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(s, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma applies Unicode's Final_Sigma condition to the Σ at byte i:
// a cased letter comes before it (past case-ignorable characters) and none
// comes after it (past case-ignorable characters).
func finalSigma(s string, i int) bool {
	before := s[:i]
	for {
		r, size := utf8.DecodeLastRuneInString(before)
		if size == 0 {
			return false // nothing cased before
		}
		before = before[:len(before)-size]
		if !caseIgnorable(r) {
			if !cased(r) {
				return false
			}
			break
		}
	}
	for _, r := range s[i+len("Σ"):] {
		if !caseIgnorable(r) {
			return !cased(r)
		}
	}
	return true
}

func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, and the
// Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '\u00B7', '\u0387', '\u055F', '\u05F4', '\u2018', '\u2019', '\u2024', '\u2027',
		'\uFE13', '\uFE52', '\uFE55', '\uFF07', '\uFF0E', '\uFF1A':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
