package tokenizer

// Batch is a batch of encodings padded to a common length and laid out
// row-major as [Size][SeqLen], the layout of the int64 input_ids,
// attention_mask and token_type_ids tensors the ONNX model takes. Reusing a
// Batch across calls makes batch encoding allocation-free once its buffers
// have grown.
type Batch struct {
	Size   int // rows
	SeqLen int // ids per row, including padding: the longest row

	IDs           []int64 // pad id after each row's ids
	AttentionMask []int64 // 1 for ids, 0 for padding
	TypeIDs       []int64 // token type ids; the pad type id for padding

	Lens        []int  // ids per row before padding
	Untruncated []int  // ids per row before truncation
	Truncated   []bool // whether a row lost word pieces to truncation

	// pieces and ends hold the word pieces of all rows between the two
	// passes of EncodeBatch.
	pieces []int32
	ends   []int
}

// Row returns the tensors' slices for row i.
func (b *Batch) Row(i int) (ids, mask, typeIDs []int64) {
	lo, hi := i*b.SeqLen, (i+1)*b.SeqLen
	return b.IDs[lo:hi:hi], b.AttentionMask[lo:hi:hi], b.TypeIDs[lo:hi:hi]
}

// EncodeBatch encodes texts as Encode does, into dst (allocated when nil)
// padded to the longest row, and returns dst. Padding to the longest row
// rather than to maxLen is what sentence-transformers does; with an
// attention mask the model output does not depend on it.
func (t *Tokenizer) EncodeBatch(dst *Batch, texts []string, maxLen int) *Batch {
	if dst == nil {
		dst = new(Batch)
	}
	b := dst
	b.Size = len(texts)
	b.Lens = resize(b.Lens, len(texts))
	b.Untruncated = resize(b.Untruncated, len(texts))
	b.Truncated = resize(b.Truncated, len(texts))
	b.ends = resize(b.ends, len(texts))

	sc := t.getScratch()
	defer t.putScratch(sc)
	b.pieces = b.pieces[:0]
	b.SeqLen = 0
	special := len(t.prefix) + len(t.suffix)
	for i, text := range texts {
		start := len(b.pieces)
		b.pieces = t.appendPieces(b.pieces, text, sc)
		n := len(b.pieces) - start
		keep, ids := t.fit(n, maxLen)
		b.pieces = b.pieces[:start+keep]
		b.ends[i] = len(b.pieces)
		b.Lens[i] = ids
		b.Untruncated[i] = n + special
		b.Truncated[i] = keep < n
		b.SeqLen = max(b.SeqLen, ids)
	}

	size := b.Size * b.SeqLen
	b.IDs = resize(b.IDs, size)
	b.AttentionMask = resize(b.AttentionMask, size)
	b.TypeIDs = resize(b.TypeIDs, size)
	start := 0
	for i := range texts {
		ids, mask, types := b.Row(i)
		n := b.Lens[i]
		t.writeRow(ids[:n], types[:n], mask[:n], b.pieces[start:b.ends[i]])
		for j := n; j < b.SeqLen; j++ {
			ids[j], mask[j], types[j] = t.padID, 0, t.padType
		}
		start = b.ends[i]
	}
	return b
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
