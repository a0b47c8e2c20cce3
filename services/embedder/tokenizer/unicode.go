package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

//go:generate go run gen_tables.go

// isWhitespace reports whether r separates words. HF tests
// char::is_whitespace, the Unicode White_Space property, which is exactly
// the set unicode.IsSpace reports.
func isWhitespace(r rune) bool {
	return unicode.IsSpace(r)
}

// isControl reports whether clean_text deletes r. HF's is_control is the
// unicode_categories crate's is_other: categories Cc, Cf and Co (not Cn and
// not Cs) as of Unicode 8.0, except tab, line feed and carriage return,
// which count as whitespace. Cc and Co have not changed since Unicode 2.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if r < 0x80 {
		return r < 0x20 || r == 0x7f
	}
	return unicode.Is(unicode.Cc, r) || unicode.Is(format8, r) || unicode.Is(unicode.Co, r)
}

// isPunctuation reports whether r is a word of its own: ASCII punctuation
// (which includes symbols such as $, + and ^) or a Unicode 8.0 P* character.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return r >= 33 && r <= 47 || r >= 58 && r <= 64 || r >= 91 && r <= 96 || r >= 123 && r <= 126
	}
	return unicode.Is(punctuation8, r)
}

// isNonspacingMark reports whether accent stripping removes r.
func isNonspacingMark(r rune) bool {
	return r >= 0x300 && unicode.Is(nonspacing8, r)
}

// isChineseChar reports whether r gets spaces around it. These are HF's
// ranges, which are not all of the CJK ideographs: the first 256 code
// points of Extension E (U+2B820–U+2B91F) are missing, as are Extension F
// and later ones.
func isChineseChar(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF ||
		r >= 0x3400 && r <= 0x4DBF ||
		r >= 0x20000 && r <= 0x2A6DF ||
		r >= 0x2A700 && r <= 0x2B73F ||
		r >= 0x2B740 && r <= 0x2B81F ||
		r >= 0x2B920 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF ||
		r >= 0x2F800 && r <= 0x2FA1F
}

// toLower appends Rust's char::to_lowercase of r to dst. It is the simple
// Unicode lower-case mapping except for U+0130 (capital I with dot above),
// whose unconditional special casing is two characters.
func toLower(dst []byte, r rune) []byte {
	if r == 'İ' {
		return append(dst, "i\u0307"...)
	}
	return utf8.AppendRune(dst, unicode.ToLower(r))
}
