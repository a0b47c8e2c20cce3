// Package vocab learns vocabulary from the corpus: it finds the words the
// BERT uncased WordPiece vocabulary splits into several pieces that are
// frequent in the training papers, and writes a tokenizer directory whose
// vocabulary has them as whole-word tokens after the original ids. Every
// other word tokenizes exactly as before.
package vocab

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Word is a candidate token and the number of texts it occurs in.
type Word struct {
	Text string
	DF   int
}

// maxWordChars is WordPiece's limit: longer words become [UNK].
const maxWordChars = 100

// SplitWords counts, over texts, the document frequency of every word
// that tok splits into two or more word pieces (the word is the
// concatenation of its pieces, so it is already normalized the way the
// tokenizer normalizes), and returns those with df >= minDF, most
// frequent first (ties by text), at most n of them.
func SplitWords(ctx context.Context, tok *tokenizer.Tokenizer, texts []string, minDF, n, threads int, popts ...progress.Option) ([]Word, error) {
	bar := progress.New("count words", int64(len(texts)), append([]progress.Option{progress.WithUnit("texts")}, popts...)...)
	defer bar.Finish()
	var mu sync.Mutex
	total := map[string]int{}
	vecmath.ParallelFor(len(texts), max(threads, 1), func(lo, hi int) {
		df := map[string]int{}
		var enc tokenizer.Encoding
		seen := map[string]bool{}
		var pieces []string
		for i := lo; i < hi && ctx.Err() == nil; i++ {
			tok.EncodeTo(&enc, texts[i], 0)
			clear(seen)
			flush := func() {
				if len(pieces) > 1 {
					w := strings.Join(pieces, "")
					if !seen[w] && len(w) <= maxWordChars {
						seen[w] = true
						df[w]++
					}
				}
				pieces = pieces[:0]
			}
			for _, id := range enc.IDs {
				s, _ := tok.Token(id)
				if rest, ok := strings.CutPrefix(s, "##"); ok && len(pieces) > 0 {
					pieces = append(pieces, rest)
					continue
				}
				flush()
				if !isSpecial(s) {
					pieces = append(pieces, s)
				}
			}
			flush()
			bar.Add(1)
		}
		mu.Lock()
		for w, c := range df {
			total[w] += c
		}
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Word
	for w, c := range total {
		if c >= minDF {
			out = append(out, Word{w, c})
		}
	}
	slices.SortFunc(out, func(a, b Word) int {
		if c := cmp.Compare(b.DF, a.DF); c != 0 {
			return c
		}
		return cmp.Compare(a.Text, b.Text)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// isSpecial reports a special token such as [CLS] or [UNK].
func isSpecial(s string) bool { return len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' }

// Write writes a tokenizer directory to outDir: the files of baseDir with
// words appended to the vocabulary (vocab.txt and tokenizer.json's
// WordPiece vocab, ids from the old size up) and a NOTICE.tokenizer that
// says so.
func Write(baseDir, outDir string, words []Word, notice string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	vocabTxt, err := os.ReadFile(filepath.Join(baseDir, "vocab.txt"))
	if err != nil {
		return fmt.Errorf("base tokenizer: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(vocabTxt), "\n"), "\n")
	known := make(map[string]bool, len(lines))
	for _, l := range lines {
		known[l] = true
	}
	next := len(lines)
	var b strings.Builder
	b.WriteString(strings.TrimRight(string(vocabTxt), "\n"))
	b.WriteString("\n")
	added := map[string]int{}
	for _, w := range words {
		if known[w.Text] || added[w.Text] != 0 {
			return fmt.Errorf("word %q is already in the vocabulary", w.Text)
		}
		added[w.Text] = next
		next++
		b.WriteString(w.Text)
		b.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(outDir, "vocab.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	tj, err := os.ReadFile(filepath.Join(baseDir, "tokenizer.json"))
	if err != nil {
		return fmt.Errorf("base tokenizer: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(tj, &top); err != nil {
		return fmt.Errorf("base tokenizer.json: %w", err)
	}
	var model map[string]json.RawMessage
	if err := json.Unmarshal(top["model"], &model); err != nil {
		return fmt.Errorf("base tokenizer.json model: %w", err)
	}
	var v map[string]int
	if err := json.Unmarshal(model["vocab"], &v); err != nil {
		return fmt.Errorf("base tokenizer.json vocab: %w", err)
	}
	if len(v) != len(lines) {
		return fmt.Errorf("base tokenizer: tokenizer.json has %d tokens, vocab.txt %d", len(v), len(lines))
	}
	for w, id := range added {
		v[w] = id
	}
	if model["vocab"], err = json.Marshal(v); err != nil {
		return err
	}
	if top["model"], err = json.Marshal(model); err != nil {
		return err
	}
	out, err := json.Marshal(top)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "tokenizer.json"), out, 0o644); err != nil {
		return err
	}
	for _, f := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		data, err := os.ReadFile(filepath.Join(baseDir, f))
		if err != nil {
			return fmt.Errorf("base tokenizer: %w", err)
		}
		if err := os.WriteFile(filepath.Join(outDir, f), data, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(outDir, "NOTICE.tokenizer"), []byte(notice), 0o644)
}
