package tokenizer

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer is HF's BertNormalizer. Its steps run in HF's order on the
// whole text: clean_text, handle_chinese_chars, strip_accents (NFD, then
// drop nonspacing marks) and lowercase. They are fused into one pass over
// the input; only the canonical reordering of combining marks needs to look
// ahead, and it only ever holds a run of marks.
type normalizer struct {
	cleanText    bool
	chineseChars bool
	stripAccents bool
	lowercase    bool

	// ascii maps each ASCII byte to its normalised byte, or -1 when
	// clean_text deletes it. ASCII bytes never decompose, never combine and
	// are never Chinese, so this covers all steps for them.
	ascii [utf8.RuneSelf]int16
}

func newNormalizer(cleanText, chineseChars, stripAccents, lowercase bool) *normalizer {
	n := &normalizer{
		cleanText:    cleanText,
		chineseChars: chineseChars,
		stripAccents: stripAccents,
		lowercase:    lowercase,
	}
	for c := range rune(utf8.RuneSelf) {
		out := int16(c)
		switch {
		case cleanText && isControl(c):
			out = -1
		case cleanText && isWhitespace(c):
			out = ' '
		case lowercase && 'A' <= c && c <= 'Z':
			out = int16(c + 'a' - 'A')
		}
		n.ascii[c] = out
	}
	return n
}

// mark is a combining character waiting for canonical reordering.
type mark struct {
	r   rune
	ccc uint8
}

// appendNormalized appends the normalised form of s to dst. pending is
// scratch space for combining marks; it is returned for reuse.
//
// Invalid UTF-8 decodes to U+FFFD, which clean_text deletes; Rust strings
// cannot hold invalid UTF-8, so there is no reference behaviour to match.
func (n *normalizer) appendNormalized(dst []byte, s string, pending []mark) ([]byte, []mark) {
	pending = pending[:0]
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			// A deleted control character does not end a run of marks:
			// HF reorders after clean_text has removed it.
			if out := n.ascii[c]; out >= 0 {
				if len(pending) > 0 {
					dst, pending = n.flush(dst, pending)
				}
				dst = append(dst, byte(out))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		src := s[i : i+size]
		i += size
		if n.cleanText {
			if r == utf8.RuneError || isControl(r) {
				continue
			}
			if isWhitespace(r) {
				dst, pending = n.flush(dst, pending)
				dst = append(dst, ' ')
				continue
			}
		}
		if n.chineseChars && isChineseChar(r) {
			dst, pending = n.flush(dst, pending)
			dst = append(dst, ' ')
			dst, pending = n.decompose(dst, pending, r, src)
			dst, pending = n.flush(dst, pending)
			dst = append(dst, ' ')
			continue
		}
		dst, pending = n.decompose(dst, pending, r, src)
	}
	dst, pending = n.flush(dst, pending)
	return dst, pending
}

const (
	cccStarter  = 0     // canonical combining class of characters that do not combine
	latinNoNFD  = 0xC0  // no code point below À has a canonical decomposition
	firstMarkCP = 0x300 // no code point below U+0300 combines

	// Hangul syllables decompose algorithmically (Unicode section 3.12).
	hangulBase = 0xAC00
	hangulLast = 0xD7A3
	jamoLBase  = 0x1100
	jamoVBase  = 0x1161
	jamoTBase  = 0x11A7
	jamoTCount = 28
	jamoNCount = 21 * jamoTCount
)

// decompose feeds the canonical decomposition of r (src holds its UTF-8
// bytes) to the reordering stage, or r itself when accents are kept: HF only
// decomposes as part of strip_accents.
func (n *normalizer) decompose(dst []byte, pending []mark, r rune, src string) ([]byte, []mark) {
	if !n.stripAccents || r < latinNoNFD {
		return n.reorder(dst, pending, r, cccStarter)
	}
	if r >= hangulBase && r <= hangulLast {
		s := r - hangulBase
		dst, pending = n.reorder(dst, pending, jamoLBase+s/jamoNCount, cccStarter)
		dst, pending = n.reorder(dst, pending, jamoVBase+(s%jamoNCount)/jamoTCount, cccStarter)
		if t := s % jamoTCount; t != 0 {
			dst, pending = n.reorder(dst, pending, jamoTBase+t, cccStarter)
		}
		return dst, pending
	}
	p := norm.NFD.PropertiesString(src)
	d := p.Decomposition()
	if d == nil {
		return n.reorder(dst, pending, r, p.CCC())
	}
	for j := 0; j < len(d); {
		dr, size := utf8.DecodeRune(d[j:])
		ccc := uint8(cccStarter)
		if dr >= firstMarkCP {
			ccc = norm.NFD.Properties(d[j : j+size]).CCC()
		}
		dst, pending = n.reorder(dst, pending, dr, ccc)
		j += size
	}
	return dst, pending
}

// reorder implements canonical ordering: a starter ends the current run of
// combining marks, which is emitted sorted by combining class.
func (n *normalizer) reorder(dst []byte, pending []mark, r rune, ccc uint8) ([]byte, []mark) {
	if ccc != cccStarter {
		return dst, append(pending, mark{r, ccc})
	}
	dst, pending = n.flush(dst, pending)
	return n.emit(dst, r), pending
}

// flush emits the pending combining marks in canonical order. The sort is a
// stable insertion sort: runs are short and usually already ordered.
func (n *normalizer) flush(dst []byte, pending []mark) ([]byte, []mark) {
	for i := 1; i < len(pending); i++ {
		for j := i; j > 0 && pending[j-1].ccc > pending[j].ccc; j-- {
			pending[j-1], pending[j] = pending[j], pending[j-1]
		}
	}
	for _, m := range pending {
		dst = n.emit(dst, m.r)
	}
	return dst, pending[:0]
}

// emit applies the last two steps, mark removal and lower-casing, to one
// decomposed character.
func (n *normalizer) emit(dst []byte, r rune) []byte {
	if n.stripAccents && isNonspacingMark(r) {
		return dst
	}
	if n.lowercase {
		return toLower(dst, r)
	}
	return utf8.AppendRune(dst, r)
}
