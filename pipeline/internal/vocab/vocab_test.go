package vocab

import (
	"context"
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

func TestSplitWordsAndWrite(t *testing.T) {
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"Multimodal LLMs on multimodal benchmarks.", // multimodal: df 1 (twice in one text)
		"multimodal data for llms",
		"LLMs again, and the [CLS] token",
		"plain words only",
	}
	words, err := SplitWords(context.Background(), tok, texts, 2, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, w := range words {
		got[w.Text] = w.DF
	}
	if got["llms"] != 3 || got["multimodal"] != 2 || len(got) != 2 {
		t.Fatalf("words %v, want llms:3 multimodal:2", words)
	}
	if words[0].Text != "llms" {
		t.Errorf("order %v", words)
	}
	if few, _ := SplitWords(context.Background(), tok, texts, 2, 1, 1); len(few) != 1 {
		t.Errorf("n=1 gave %v", few)
	}

	base := t.TempDir()
	if err := assets.WriteTokenizer(base); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := Write(base, out, words, "notice"); err != nil {
		t.Fatal(err)
	}
	ext, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ext.VocabSize() != tok.VocabSize()+2 {
		t.Errorf("vocabulary %d, want %d", ext.VocabSize(), tok.VocabSize()+2)
	}
	e := ext.Encode("Multimodal LLMs", 0).IDs
	if len(e) != 4 || e[1] != int64(tok.VocabSize()+1) || e[2] != int64(tok.VocabSize()) {
		t.Errorf("extended encoding %v", e)
	}
	// Every other text tokenizes as before.
	for _, s := range []string{"plain words only", "graph neural networks", "Schrödinger's café"} {
		if a, b := tok.Encode(s, 0).IDs, ext.Encode(s, 0).IDs; !slices.Equal(a, b) {
			t.Errorf("%q: %v became %v", s, a, b)
		}
	}
	if err := Write(base, t.TempDir(), []Word{{"graph", 1}}, ""); err == nil {
		t.Error("adding a word already in the vocabulary succeeded")
	}
}
