// Package pooling turns a model's token embeddings into one vector per text
// the way sentence-transformers' Pooling and Normalize modules do.
//
// Token embeddings arrive as ONNX Runtime returns them: one flat float32
// slice laid out [batch][seq][dim], rows padded to the batch's longest text,
// with the int64 attention mask [batch][seq] that tells real tokens (1) from
// padding (0). Padding never contributes, so a text pools to the same vector
// alone or in any batch.
//
// The loops run over flat slices with no allocation; the caller owns every
// buffer.
package pooling

import (
	"fmt"
	"math"
)

// Mode is a pooling strategy.
type Mode int

const (
	// Mean averages the token embeddings under the attention mask
	// (pooling_mode_mean_tokens).
	Mean Mode = iota + 1
	// CLS takes the first token's embedding (pooling_mode_cls_token).
	CLS
	// Max takes the element-wise maximum over the token embeddings under
	// the attention mask (pooling_mode_max_tokens).
	Max
)

func (m Mode) String() string {
	switch m {
	case Mean:
		return "mean"
	case CLS:
		return "cls"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Batch pools every row of a batch: dst[i] (len dim) receives row i of
// hidden ([rows][seq][dim]) pooled under row i of mask ([rows][seq]).
func (m Mode) Batch(dst [][]float32, hidden []float32, mask []int64, seq, dim int) {
	rows := len(dst)
	if len(hidden) < rows*seq*dim || len(mask) < rows*seq {
		panic(fmt.Sprintf("pooling: %d rows of %d×%d need %d values and %d mask entries, got %d and %d",
			rows, seq, dim, rows*seq*dim, rows*seq, len(hidden), len(mask)))
	}
	for i, v := range dst {
		h := hidden[i*seq*dim : (i+1)*seq*dim]
		mk := mask[i*seq : (i+1)*seq]
		switch m {
		case Mean:
			MeanRow(v, h, mk)
		case CLS:
			CLSRow(v, h)
		case Max:
			MaxRow(v, h, mk)
		default:
			panic(fmt.Sprintf("pooling: unknown mode %d", int(m)))
		}
	}
}

// MeanRow writes to dst the mean of the rows of hidden ([seq][len(dst)])
// whose mask entry is not zero. With no such row, dst is all zeros, as
// sentence-transformers' clamped division gives.
func MeanRow(dst, hidden []float32, mask []int64) {
	dim := len(dst)
	clear(dst)
	n := 0
	for t, m := range mask {
		if m == 0 {
			continue
		}
		n++
		h := hidden[t*dim : t*dim+dim]
		h = h[:len(dst)] // lets the compiler drop the bounds checks below
		for j, x := range h {
			dst[j] += x
		}
	}
	if n == 0 {
		return
	}
	count := float32(n)
	for j := range dst {
		dst[j] /= count
	}
}

// CLSRow writes the first token's embedding to dst.
func CLSRow(dst, hidden []float32) {
	copy(dst, hidden[:len(dst)])
}

// MaxRow writes to dst the element-wise maximum of the rows of hidden whose
// mask entry is not zero. With no such row every component is -1e9, the
// value sentence-transformers gives masked positions.
func MaxRow(dst, hidden []float32, mask []int64) {
	dim := len(dst)
	for j := range dst {
		dst[j] = -1e9
	}
	for t, m := range mask {
		if m == 0 {
			continue
		}
		h := hidden[t*dim : t*dim+dim]
		h = h[:len(dst)]
		for j, x := range h {
			if x > dst[j] {
				dst[j] = x
			}
		}
	}
}

// Normalize scales v to unit L2 length as torch.nn.functional.normalize
// does: v / max(‖v‖, 1e-12). The norm is accumulated in float64.
func Normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	norm := max(math.Sqrt(ss), 1e-12)
	for j, x := range v {
		v[j] = float32(float64(x) / norm)
	}
}
