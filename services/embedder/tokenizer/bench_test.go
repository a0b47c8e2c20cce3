package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkEncode reports throughput in tokens per second: ids produced
// before truncation, which is the work done.
func BenchmarkEncode(b *testing.B) {
	b.Run("in-repo text/small vocab", func(b *testing.B) {
		benchEncode(b, loadSmall(b), []string{readBenchText(b)})
	})
	b.Run("in-repo text/full vocab", func(b *testing.B) {
		benchEncode(b, loadFull(b), []string{readBenchText(b)})
	})
	b.Run("abstracts", func(b *testing.B) {
		benchEncode(b, loadFull(b), goldenAbstracts(b))
	})
}

func benchEncode(b *testing.B, tok *Tokenizer, texts []string) {
	var e Encoding
	tokens, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		tok.EncodeTo(&e, texts[i%len(texts)], 256)
		tokens += e.Untruncated
		i++
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeBatch encodes batches of 32 abstracts into a reused Batch,
// the embedder's hot path.
func BenchmarkEncodeBatch(b *testing.B) {
	tok := loadFull(b)
	texts := goldenAbstracts(b)
	const size = 32
	var batch *Batch
	tokens, lo := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		if lo+size > len(texts) {
			lo = 0
		}
		batch = tok.EncodeBatch(batch, texts[lo:lo+size], 256)
		for _, n := range batch.Untruncated {
			tokens += n
		}
		lo += size
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

func readBenchText(b *testing.B) string {
	data, err := os.ReadFile("testdata/bench.txt")
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

func loadFull(b *testing.B) *Tokenizer {
	tok, err := Load(filepath.Join(sharedDir(b), sharedModel))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// goldenAbstracts returns the real title-and-abstract texts of the golden
// file, leaving out the hand-made hard cases.
func goldenAbstracts(b *testing.B) []string {
	var texts []string
	for _, l := range readGolden(b, sharedDir(b)) {
		if l.Note == "" {
			texts = append(texts, l.Text)
		}
	}
	return texts
}
