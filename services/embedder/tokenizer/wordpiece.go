package tokenizer

import "unicode/utf8"

// wordPiece is HF's WordPiece model: greedy longest-match-first over the
// vocabulary, with continuation pieces marked by a prefix ("##").
type wordPiece struct {
	// initial maps word-initial pieces to ids; continuation maps
	// continuation pieces to ids, keyed without the prefix, so that neither
	// lookup has to build a string.
	initial, continuation map[string]int32
	// maxInitial and maxContinuation are the longest keys in bytes. No
	// longer substring can match, so the search starts there instead of at
	// the end of the word; the result is the same, the work is bounded.
	maxInitial, maxContinuation int
	unk                         int32
	maxChars                    int // longer words (in characters) become unk
}

func newWordPiece(vocab map[string]int32, prefix string, unk int32, maxChars int) *wordPiece {
	w := &wordPiece{
		initial:      vocab,
		continuation: make(map[string]int32),
		unk:          unk,
		maxChars:     maxChars,
	}
	for tok, id := range vocab {
		w.maxInitial = max(w.maxInitial, len(tok))
		if len(tok) > len(prefix) && tok[:len(prefix)] == prefix {
			key := tok[len(prefix):]
			w.continuation[key] = id
			w.maxContinuation = max(w.maxContinuation, len(key))
		}
	}
	return w
}

// appendWord appends the pieces of one pre-tokenised word (nchars
// characters long) to dst. A word that cannot be covered entirely becomes a
// single unk, discarding any pieces already found, as in HF.
func (w *wordPiece) appendWord(dst []int32, word []byte, nchars int) []int32 {
	if nchars > w.maxChars {
		return append(dst, w.unk)
	}
	n0 := len(dst)
	vocab, limit := w.initial, w.maxInitial
	for start := 0; start < len(word); {
		end := min(len(word), start+limit)
		for end < len(word) && !utf8.RuneStart(word[end]) {
			end--
		}
		found := false
		for end > start {
			if id, ok := vocab[string(word[start:end])]; ok {
				dst = append(dst, id)
				found = true
				break
			}
			end--
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		if !found {
			return append(dst[:n0], w.unk)
		}
		start = end
		vocab, limit = w.continuation, w.maxContinuation
	}
	return dst
}

// Character classes of the pre-tokenizer.
const (
	inWord = iota
	space
	punctuation
)

// asciiClass caches the class of each ASCII character.
var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		c[r] = class(r)
	}
	return c
}()

func class(r rune) uint8 {
	switch {
	case isWhitespace(r):
		return space
	case isPunctuation(r):
		return punctuation
	}
	return inWord
}

// appendWords is HF's BertPreTokenizer followed by the model: it splits
// normalised text on whitespace, makes every punctuation character a word
// of its own, and appends the pieces of each word to dst.
func (w *wordPiece) appendWords(dst []int32, s []byte) []int32 {
	start, nchars := -1, 0
	for i := 0; i < len(s); {
		var cl uint8
		size := 1
		if c := s[i]; c < utf8.RuneSelf {
			cl = asciiClass[c]
		} else {
			var r rune
			r, size = utf8.DecodeRune(s[i:])
			cl = class(r)
		}
		if cl == inWord {
			if start < 0 {
				start, nchars = i, 0
			}
			nchars++
			i += size
			continue
		}
		if start >= 0 {
			dst = w.appendWord(dst, s[start:i], nchars)
			start = -1
		}
		if cl == punctuation {
			dst = w.appendWord(dst, s[i:i+size], 1)
		}
		i += size
	}
	if start >= 0 {
		dst = w.appendWord(dst, s[start:], nchars)
	}
	return dst
}
