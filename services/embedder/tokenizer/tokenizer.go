package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Tokenizer turns text into model input ids. It is immutable after loading
// and safe for concurrent use.
type Tokenizer struct {
	normalizer *normalizer
	model      *wordPiece
	// rawAdded holds the added tokens HF matches in the raw input
	// (normalized: false, which includes every special token);
	// normalizedAdded those it matches in normalised text.
	rawAdded, normalizedAdded *addedTokens

	// prefix and suffix are the post-processor's special tokens around the
	// sequence; seqType is the sequence's token type id.
	prefix, suffix []templateToken
	seqType        int64
	padID, padType int64
	maxLen         int
	vocabSize      int
	tokens         map[int32]string
	scratch        sync.Pool // *scratch
}

// templateToken is a special token of the post-processing template.
type templateToken struct {
	id, typeID int64
}

// config is everything a Tokenizer is built from, whichever file it came
// from.
type config struct {
	vocab                   map[string]int32
	cleanText               bool
	chineseChars            bool
	stripAccents            bool
	lowercase               bool
	unkToken                string
	continuingSubwordPrefix string
	maxInputCharsPerWord    int
	added                   []addedTokenConfig
	prefix, suffix          []templateToken
	seqType                 int64
	padID, padType          int64
	maxLen                  int
}

type addedTokenConfig struct {
	content    string
	id         int32
	normalized bool
}

func newTokenizer(c config) (*Tokenizer, error) {
	unk, ok := c.vocab[c.unkToken]
	if !ok {
		return nil, fmt.Errorf("unknown token %q is not in the vocabulary", c.unkToken)
	}
	if c.maxInputCharsPerWord <= 0 {
		return nil, fmt.Errorf("max_input_chars_per_word is %d, want > 0", c.maxInputCharsPerWord)
	}
	t := &Tokenizer{
		normalizer: newNormalizer(c.cleanText, c.chineseChars, c.stripAccents, c.lowercase),
		model:      newWordPiece(c.vocab, c.continuingSubwordPrefix, unk, c.maxInputCharsPerWord),
		prefix:     c.prefix,
		suffix:     c.suffix,
		seqType:    c.seqType,
		padID:      c.padID,
		padType:    c.padType,
		maxLen:     c.maxLen,
		tokens:     make(map[int32]string, len(c.vocab)+len(c.added)),
	}
	for tok, id := range c.vocab {
		if id < 0 {
			return nil, fmt.Errorf("token %q has negative id %d", tok, id)
		}
		t.tokens[id] = tok
		t.vocabSize = max(t.vocabSize, int(id)+1)
	}
	var raw, normalized []addedToken
	for _, a := range c.added {
		if a.content == "" {
			return nil, errors.New("added token with empty content")
		}
		if a.id < 0 {
			return nil, fmt.Errorf("added token %q has negative id %d", a.content, a.id)
		}
		t.tokens[a.id] = a.content
		t.vocabSize = max(t.vocabSize, int(a.id)+1)
		if !a.normalized {
			raw = append(raw, addedToken{a.content, a.id})
			continue
		}
		// HF matches normalised added tokens by their normalised content.
		content, _ := t.normalizer.appendNormalized(nil, a.content, nil)
		if len(content) > 0 {
			normalized = append(normalized, addedToken{string(content), a.id})
		}
	}
	t.rawAdded = newAddedTokens(raw)
	t.normalizedAdded = newAddedTokens(normalized)
	for _, s := range slices.Concat(c.prefix, c.suffix) {
		if s.id < 0 || s.id >= int64(t.vocabSize) {
			return nil, fmt.Errorf("template token id %d is outside the vocabulary (size %d)", s.id, t.vocabSize)
		}
	}
	t.scratch.New = func() any { return new(scratch) }
	return t, nil
}

// scratch is per-call working memory, pooled so that steady-state encoding
// does not allocate.
type scratch struct {
	normalized []byte
	pending    []mark
	pieces     []int32
}

// maxPooledBytes bounds the scratch memory kept in the pool, so that one
// huge input does not pin its buffers for the life of the process.
const maxPooledBytes = 1 << 20

func (t *Tokenizer) getScratch() *scratch { return t.scratch.Get().(*scratch) }

func (t *Tokenizer) putScratch(sc *scratch) {
	if cap(sc.normalized)+4*cap(sc.pieces)+8*cap(sc.pending) > maxPooledBytes {
		return
	}
	t.scratch.Put(sc)
}

// Encoding is one encoded text, unpadded.
type Encoding struct {
	// IDs are the input ids: the template's special tokens ([CLS], [SEP])
	// around the word pieces.
	IDs []int64
	// TypeIDs are the token type ids (all zero for one sequence with the
	// BERT template).
	TypeIDs []int64
	// AttentionMask is all ones; it is here so that the three model inputs
	// come together.
	AttentionMask []int64
	// Untruncated is how many ids the text has without truncation,
	// special tokens included.
	Untruncated int
	// Truncated reports whether word pieces were dropped to fit maxLen.
	Truncated bool
}

// Len returns the number of ids, which is also the attention mask length.
func (e *Encoding) Len() int { return len(e.IDs) }

// Encode tokenizes text and truncates it to at most maxLen ids the way
// sentence-transformers does: the special tokens stay and word pieces are
// dropped from the end. maxLen <= 0 means no truncation; a positive maxLen
// smaller than the number of special tokens is raised to it.
func (t *Tokenizer) Encode(text string, maxLen int) Encoding {
	var e Encoding
	t.EncodeTo(&e, text, maxLen)
	return e
}

// EncodeTo is Encode writing into e, reusing its slices when they are large
// enough, so that a caller encoding in a loop does not allocate.
func (t *Tokenizer) EncodeTo(e *Encoding, text string, maxLen int) {
	sc := t.getScratch()
	defer t.putScratch(sc)
	sc.pieces = t.appendPieces(sc.pieces[:0], text, sc)
	keep, n := t.fit(len(sc.pieces), maxLen)
	if cap(e.IDs) < n || cap(e.TypeIDs) < n || cap(e.AttentionMask) < n {
		// One backing array for the three slices: one allocation.
		buf := make([]int64, 3*n)
		e.IDs, e.TypeIDs, e.AttentionMask = buf[:0:n], buf[n:n:2*n], buf[2*n:2*n:3*n]
	}
	e.IDs, e.TypeIDs, e.AttentionMask = e.IDs[:n], e.TypeIDs[:n], e.AttentionMask[:n]
	t.writeRow(e.IDs, e.TypeIDs, e.AttentionMask, sc.pieces[:keep])
	e.Untruncated = len(sc.pieces) + len(t.prefix) + len(t.suffix)
	e.Truncated = keep < len(sc.pieces)
}

// fit returns how many of npieces word pieces fit in maxLen ids, and the
// resulting number of ids.
func (t *Tokenizer) fit(npieces, maxLen int) (keep, ids int) {
	special := len(t.prefix) + len(t.suffix)
	keep = npieces
	if maxLen > 0 {
		keep = min(npieces, max(maxLen-special, 0))
	}
	return keep, keep + special
}

// writeRow writes the template applied to pieces into ids, types and mask,
// which must be exactly long enough.
func (t *Tokenizer) writeRow(ids, types, mask []int64, pieces []int32) {
	i := 0
	for _, s := range t.prefix {
		ids[i], types[i] = s.id, s.typeID
		i++
	}
	for _, p := range pieces {
		ids[i], types[i] = int64(p), t.seqType
		i++
	}
	for _, s := range t.suffix {
		ids[i], types[i] = s.id, s.typeID
		i++
	}
	for j := range mask {
		mask[j] = 1
	}
}

// appendPieces appends the word-piece ids of text, without special tokens
// or truncation, to dst.
func (t *Tokenizer) appendPieces(dst []int32, text string, sc *scratch) []int32 {
	for text != "" {
		start, end, id := findAdded(t.rawAdded, text)
		if start < 0 {
			return t.appendSegment(dst, text, sc)
		}
		dst = t.appendSegment(dst, text[:start], sc)
		dst = append(dst, id)
		text = text[end:]
	}
	return dst
}

// appendSegment normalises and tokenizes text that holds no raw added
// token.
func (t *Tokenizer) appendSegment(dst []int32, text string, sc *scratch) []int32 {
	if text == "" {
		return dst
	}
	sc.normalized, sc.pending = t.normalizer.appendNormalized(sc.normalized[:0], text, sc.pending)
	s := sc.normalized
	for len(s) > 0 {
		start, end, id := findAdded(t.normalizedAdded, s)
		if start < 0 {
			break
		}
		dst = t.model.appendWords(dst, s[:start])
		dst = append(dst, id)
		s = s[end:]
	}
	return t.model.appendWords(dst, s)
}

// VocabSize returns one more than the largest token id; every id the
// tokenizer produces is below it.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// MaxLen returns the truncation length the tokenizer files ask for, or 0
// if they set none. sentence-transformers overrides it with the model's
// max_seq_length, so callers usually pass their own maxLen to Encode.
func (t *Tokenizer) MaxLen() int { return t.maxLen }

// Lowercase reports whether the tokenizer lowercases its input.
func (t *Tokenizer) Lowercase() bool { return t.normalizer.lowercase }

// PadID returns the id used to pad batches.
func (t *Tokenizer) PadID() int64 { return t.padID }

// Token returns the vocabulary entry for id, for diagnostics.
func (t *Tokenizer) Token(id int64) (string, bool) {
	if id < 0 || id >= int64(t.vocabSize) {
		return "", false
	}
	tok, ok := t.tokens[int32(id)]
	return tok, ok
}
