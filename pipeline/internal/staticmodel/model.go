// Package staticmodel is the static embedding model: a table of token
// vectors, pooled by the mean over all ids of the tokenized text
// ([CLS] and [SEP] included, exactly as the embedder pools the ONNX
// output over the attention mask) and L2-normalized, as in
// sentence-transformers' StaticEmbedding. Tokens the model does not keep
// map to row 0, which is all zeros.
package staticmodel

import (
	"context"
	"fmt"
	"runtime"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Model is a static embedding model ready to embed text in process.
type Model struct {
	Dim int
	// Rows is the table, len(Rows) = NumRows()*Dim; row 0 is zero.
	Rows []float32
	// Map maps a token id to its row (len = tokenizer vocabulary size).
	Map []int32
	// MaxSeqLen is the truncation length in ids, special tokens included.
	MaxSeqLen int
	Tok       *tokenizer.Tokenizer
	// Threads bounds the goroutines Embed uses (default GOMAXPROCS).
	Threads int
}

// NumRows is the number of table rows.
func (m *Model) NumRows() int { return len(m.Rows) / m.Dim }

// Validate checks the model's shapes.
func (m *Model) Validate() error {
	switch {
	case m.Dim <= 0:
		return fmt.Errorf("model dimension %d", m.Dim)
	case len(m.Rows) == 0 || len(m.Rows)%m.Dim != 0:
		return fmt.Errorf("table of %d values is not a whole number of %d-dim rows", len(m.Rows), m.Dim)
	case m.Tok != nil && len(m.Map) != m.Tok.VocabSize():
		return fmt.Errorf("token map has %d entries, the tokenizer %d", len(m.Map), m.Tok.VocabSize())
	}
	for _, v := range m.Rows[:m.Dim] {
		if v != 0 {
			return fmt.Errorf("row 0 (dropped tokens) is not zero")
		}
	}
	rows := int32(m.NumRows())
	for id, r := range m.Map {
		if r < 0 || r >= rows {
			return fmt.Errorf("token %d maps to row %d of %d", id, r, rows)
		}
	}
	return nil
}

// Row returns the vector of row r.
func (m *Model) Row(r int32) []float32 {
	return m.Rows[int(r)*m.Dim : (int(r)+1)*m.Dim : (int(r)+1)*m.Dim]
}

// EmbedIDs writes the embedding of one tokenized text (ids including the
// special tokens, no padding) into out (len Dim): the mean of the ids'
// rows, L2-normalized.
func (m *Model) EmbedIDs(ids []int64, out []float32) {
	clear(out)
	for _, id := range ids {
		r := int32(0)
		if id >= 0 && int(id) < len(m.Map) {
			r = m.Map[id]
		}
		if r != 0 {
			vecmath.Add(m.Row(r), out)
		}
	}
	if len(ids) > 0 {
		vecmath.Scale(1/float32(len(ids)), out)
	}
	vecmath.Normalize(out)
}

// Embed embeds texts (tokenized with the model's tokenizer and truncated
// to MaxSeqLen) in parallel.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if m.Tok == nil {
		return nil, fmt.Errorf("model has no tokenizer")
	}
	out := make([][]float32, len(texts))
	flat := make([]float32, len(texts)*m.Dim)
	threads := m.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	vecmath.ParallelFor(len(texts), threads, func(lo, hi int) {
		var enc tokenizer.Encoding
		for i := lo; i < hi; i++ {
			if i%256 == 0 && ctx.Err() != nil {
				return
			}
			m.Tok.EncodeTo(&enc, texts[i], m.MaxSeqLen)
			v := flat[i*m.Dim : (i+1)*m.Dim : (i+1)*m.Dim]
			m.EmbedIDs(enc.IDs, v)
			out[i] = v
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
