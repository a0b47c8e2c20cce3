package tokenizer

import (
	"slices"
	"testing"
)

// FuzzEncode checks invariants that hold for any input: no panic, ids in
// the vocabulary, [CLS] first and [SEP] last, the length limit, truncation
// as a prefix of the untruncated encoding, and batch encoding agreeing with
// Encode.
func FuzzEncode(f *testing.F) {
	for _, c := range encodeCases {
		f.Add(c.text, uint16(8))
	}
	f.Add("word word word", uint16(0))
	f.Add("[CLS][SEP]", uint16(1))
	tok := loadSmall(f)
	v := smallVocab(f)
	cls, sep := v["[CLS]"], v["[SEP]"]

	f.Fuzz(func(t *testing.T, text string, limit uint16) {
		maxLen := int(limit % 600)
		full := tok.Encode(text, 0)
		e := tok.Encode(text, maxLen)

		n := e.Len()
		if n < 2 || e.IDs[0] != cls || e.IDs[n-1] != sep {
			t.Fatalf("Encode(%q, %d) = %v: want [CLS] … [SEP]", text, maxLen, e.IDs)
		}
		for _, id := range e.IDs {
			if id < 0 || id >= int64(tok.VocabSize()) {
				t.Fatalf("Encode(%q, %d): id %d outside [0, %d)", text, maxLen, id, tok.VocabSize())
			}
		}
		if len(e.TypeIDs) != n || len(e.AttentionMask) != n {
			t.Fatalf("Encode(%q, %d): %d ids, %d type ids, %d mask", text, maxLen, n, len(e.TypeIDs), len(e.AttentionMask))
		}
		if maxLen >= 2 && n > maxLen {
			t.Fatalf("Encode(%q, %d): %d ids", text, maxLen, n)
		}
		if e.Untruncated != full.Len() || full.Truncated {
			t.Fatalf("Encode(%q, %d): Untruncated %d, untruncated encoding has %d (truncated %v)", text, maxLen, e.Untruncated, full.Len(), full.Truncated)
		}
		if e.Truncated != (e.Untruncated > n) {
			t.Fatalf("Encode(%q, %d): Truncated %v with %d of %d ids", text, maxLen, e.Truncated, n, e.Untruncated)
		}
		if !slices.Equal(e.IDs[:n-1], full.IDs[:n-1]) {
			t.Fatalf("Encode(%q, %d) = %v is not a prefix of %v plus [SEP]", text, maxLen, e.IDs, full.IDs)
		}

		b := tok.EncodeBatch(nil, []string{"hello", text}, maxLen)
		if ids, _, _ := b.Row(1); !slices.Equal(ids[:b.Lens[1]], e.IDs) {
			t.Fatalf("EncodeBatch(%q, %d) row = %v, Encode = %v", text, maxLen, ids[:b.Lens[1]], e.IDs)
		}
	})
}
