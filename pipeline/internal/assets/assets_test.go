package assets

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/testshared"
)

func TestTokenizer(t *testing.T) {
	tok, err := LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 30522 {
		t.Errorf("vocabulary of %d tokens, want BERT uncased's 30522", tok.VocabSize())
	}
	// BERT uncased: lower case, [CLS]=101, [SEP]=102.
	ids := tok.Encode("Hello", 0).IDs
	if len(ids) != 3 || ids[0] != 101 || ids[2] != 102 {
		t.Errorf("Encode(Hello) = %v", ids)
	}
	dir := t.TempDir()
	if err := WriteTokenizer(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "NOTICE.tokenizer"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	embedded, err := VocabSHA256("")
	if err != nil {
		t.Fatal(err)
	}
	written, err := VocabSHA256(dir)
	if err != nil || written != embedded {
		t.Errorf("hash of the written files %s, embedded %s (%v)", written, embedded, err)
	}
	if _, err := VocabSHA256(t.TempDir()); err == nil {
		t.Error("hash of an empty directory succeeded")
	}
}

// TestSameAsSharedTokenizer checks that the shipped tokenizer files are
// byte-identical to the shared copy of all-MiniLM-L6-v2's.
func TestSameAsSharedTokenizer(t *testing.T) {
	const model = "models/all-MiniLM-L6-v2-tokenizer"
	dir := filepath.Join(testshared.Dir(t, model), model)
	for _, f := range TokenizerFiles {
		if f == "NOTICE" {
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := files.ReadFile("tokenizer/" + f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the shared copy (%v)", f, err)
		}
	}
}
