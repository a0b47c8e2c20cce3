package tokenizer

import (
	"slices"
	"sync"
	"testing"
)

// TestConcurrentUse encodes from several goroutines at once, singly and in
// batches, and checks every result against a sequential run. Run it with
// -race: it is how the shared scratch pool is checked.
func TestConcurrentUse(t *testing.T) {
	tok := loadSmall(t)
	texts := make([]string, len(encodeCases))
	want := make([]Encoding, len(encodeCases))
	for i, c := range encodeCases {
		texts[i] = c.text
		want[i] = tok.Encode(c.text, 16)
	}

	const goroutines, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			var e Encoding
			var b *Batch
			for r := range rounds {
				for i, text := range texts {
					tok.EncodeTo(&e, text, 16)
					if !slices.Equal(e.IDs, want[i].IDs) || e.Untruncated != want[i].Untruncated {
						errs <- encodeCases[i].name
						return
					}
				}
				// Batches of different sizes and offsets per goroutine.
				lo := (g + r) % len(texts)
				b = tok.EncodeBatch(b, texts[lo:], 16)
				for i := range b.Size {
					ids, _, _ := b.Row(i)
					if !slices.Equal(ids[:b.Lens[i]], want[lo+i].IDs) {
						errs <- "batch: " + encodeCases[lo+i].name
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("concurrent encoding of %q differs from sequential", name)
	}
}
