package train

import (
	"context"
	"math"
	"runtime"
	"slices"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Corpus is the tokenized training split: for each paper the distinct
// table rows of its ids with their counts, and its category.
type Corpus struct {
	// Map maps token ids to table rows (0: dropped).
	Map []int32
	// Tokens[r] is the token id of row r (Tokens[0] = -1).
	Tokens []int32
	// DF[r] is the number of papers containing row r's token.
	DF []int32
	// Docs is the number of papers.
	Docs int
	off  []int // paper i's entries are [off[i], off[i+1])
	rows []int32
	cnt  []float32
	cat  []int32
	// Categories are the category names, by index.
	Categories []string
	// ByCat lists the papers of each category.
	ByCat [][]int32
}

// doc returns paper i's rows and counts.
func (c *Corpus) doc(i int) ([]int32, []float32) {
	lo, hi := c.off[i], c.off[i+1]
	return c.rows[lo:hi:hi], c.cnt[lo:hi:hi]
}

// NumRows is the table size including the zero row.
func (c *Corpus) NumRows() int { return len(c.Tokens) }

// BuildCorpus tokenizes papers with tok (text rule and truncation from
// cfg), keeps the tokens seen in at least cfg.MinDF papers, and maps
// every paper to rows.
func BuildCorpus(ctx context.Context, papers []dataset.Paper, tok *tokenizer.Tokenizer, cfg Config, popts ...progress.Option) (*Corpus, error) {
	n := len(papers)
	ids := make([][]int32, n)
	bar := progress.New("tokenize", int64(n), append([]progress.Option{progress.WithUnit("papers")}, popts...)...)
	threads := runtime.GOMAXPROCS(0)
	vecmath.ParallelFor(n, threads, func(lo, hi int) {
		var enc tokenizer.Encoding
		reported := 0
		for i := lo; i < hi; i++ {
			tok.EncodeTo(&enc, cfg.Text.Text(&papers[i]), cfg.MaxSeqLen)
			s := make([]int32, len(enc.IDs))
			for j, id := range enc.IDs {
				s[j] = int32(id)
			}
			slices.Sort(s)
			ids[i] = s
			if done := i - lo + 1; done-reported == 512 || i == hi-1 {
				bar.Add(int64(done - reported))
				reported = done
				if ctx.Err() != nil {
					return
				}
			}
		}
	})
	bar.Finish()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vocab := tok.VocabSize()
	df := make([]int32, vocab)
	for _, s := range ids {
		for j, id := range s {
			if j == 0 || s[j-1] != id {
				df[id]++
			}
		}
	}
	c := &Corpus{Map: make([]int32, vocab), Tokens: []int32{-1}, DF: []int32{0}, Docs: n}
	for id, d := range df {
		if int(d) >= cfg.MinDF && d > 0 {
			c.Map[id] = int32(len(c.Tokens))
			c.Tokens = append(c.Tokens, int32(id))
			c.DF = append(c.DF, d)
		}
	}
	catIndex := map[string]int32{}
	c.off = make([]int, 0, n+1)
	c.off = append(c.off, 0)
	c.cat = make([]int32, n)
	for i, s := range ids {
		for j := 0; j < len(s); {
			k := j
			for k < len(s) && s[k] == s[j] {
				k++
			}
			if r := c.Map[s[j]]; r != 0 {
				c.rows = append(c.rows, r)
				c.cnt = append(c.cnt, float32(k-j))
			}
			j = k
		}
		c.off = append(c.off, len(c.rows))
		name := papers[i].PrimaryCategory
		ci, ok := catIndex[name]
		if !ok {
			ci = int32(len(c.Categories))
			catIndex[name] = ci
			c.Categories = append(c.Categories, name)
			c.ByCat = append(c.ByCat, nil)
		}
		c.cat[i] = ci
		c.ByCat[ci] = append(c.ByCat[ci], int32(i))
	}
	return c, nil
}

// IDF returns the smoothed inverse document frequency ln(1 + N/df) of
// every row (0 for the zero row).
func (c *Corpus) IDF() []float64 {
	out := make([]float64, len(c.DF))
	for r := 1; r < len(c.DF); r++ {
		out[r] = math.Log(1 + float64(c.Docs)/float64(c.DF[r]))
	}
	return out
}
