package tokenizer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGolden compares every reference encoding made by HF tokenizers, at
// both lengths the project uses, with this package's, for each way of
// loading the tokenizer and for batch encoding.
func TestGolden(t *testing.T) {
	dir := sharedDir(t)
	lines := readGolden(t, dir)
	if len(lines) == 0 {
		t.Fatal("golden file is empty")
	}
	model := filepath.Join(dir, sharedModel)
	loaders := []struct {
		name string
		load func() (*Tokenizer, error)
	}{
		{"tokenizer.json", func() (*Tokenizer, error) { return Load(model) }},
		{"vocab.txt", func() (*Tokenizer, error) {
			return LoadVocab(filepath.Join(model, "vocab.txt"), filepath.Join(model, "tokenizer_config.json"))
		}},
	}
	for _, l := range loaders {
		t.Run(l.name, func(t *testing.T) {
			tok, err := l.load()
			if err != nil {
				t.Fatal(err)
			}
			for _, maxLen := range []int{256, 512} {
				t.Run(fmt.Sprint(maxLen), func(t *testing.T) {
					checkGolden(t, tok, lines, maxLen)
				})
			}
		})
	}
}

func checkGolden(t *testing.T, tok *Tokenizer, lines []goldenLine, maxLen int) {
	const maxReports = 10
	want := func(l goldenLine) []int64 {
		if maxLen == 256 {
			return l.IDs256
		}
		return l.IDs512
	}
	report := func(l goldenLine, what string, got []int64) {
		t.Errorf("%s (%s) %s\ntext: %q\nwant: %v\n      %s\ngot:  %v\n      %s",
			l.ID, l.Note, what, l.Text, want(l), tokens(tok, want(l)), got, tokens(tok, got))
	}

	mismatches := 0
	for _, l := range lines {
		e := tok.Encode(l.Text, maxLen)
		ok := slices.Equal(e.IDs, want(l)) &&
			e.Untruncated == l.Untruncated &&
			e.Truncated == (l.Untruncated > maxLen)
		if !ok {
			mismatches++
			if mismatches <= maxReports {
				report(l, fmt.Sprintf("untruncated %d want %d, truncated %v", e.Untruncated, l.Untruncated, e.Truncated), e.IDs)
			}
		}
	}
	t.Logf("maxLen %d: %d/%d golden lines identical", maxLen, len(lines)-mismatches, len(lines))

	// The batch path must agree with Encode row for row.
	var b *Batch
	const batchSize = 64
	for lo := 0; lo < len(lines); lo += batchSize {
		chunk := lines[lo:min(lo+batchSize, len(lines))]
		texts := make([]string, len(chunk))
		for i, l := range chunk {
			texts[i] = l.Text
		}
		b = tok.EncodeBatch(b, texts, maxLen)
		for i, l := range chunk {
			ids, mask, _ := b.Row(i)
			n := b.Lens[i]
			if !slices.Equal(ids[:n], want(l)) || b.Untruncated[i] != l.Untruncated || slices.Contains(mask[:n], 0) || slices.Contains(mask[n:], 1) {
				mismatches++
				if mismatches <= maxReports {
					report(l, "in a batch", ids[:n])
				}
			}
		}
	}
}

// tokens renders ids as vocabulary entries, for failure messages.
func tokens(tok *Tokenizer, ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i], _ = tok.Token(id)
	}
	return strings.Join(s, " ")
}
