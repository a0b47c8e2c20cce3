package tokenizer

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Files from the shared directory that sits beside the checkout (see the
// project's shared/README.md).
const (
	sharedModel  = "models/all-MiniLM-L6-v2-tokenizer"
	sharedGolden = "testdata/tokenizer-golden.jsonl.gz"
)

// sharedDir returns the shared directory: $ARXIVSEARCH_SHARED, or the
// "shared" directory beside the repository found by walking up from the
// package directory. It skips the test when there is none, as on a user's
// machine.
func sharedDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("ARXIVSEARCH_SHARED"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, sharedGolden)); err != nil {
			tb.Fatalf("ARXIVSEARCH_SHARED=%s: %v", dir, err)
		}
		return dir
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared")
		if _, err := os.Stat(filepath.Join(candidate, sharedGolden)); err == nil {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("shared test data not found: no shared/%s beside the repository and ARXIVSEARCH_SHARED is unset", sharedGolden)
		}
		dir = parent
	}
}

// goldenLine is one reference encoding made by HF tokenizers.
type goldenLine struct {
	ID          string  `json:"id"`
	Note        string  `json:"note"`
	Text        string  `json:"text"`
	IDs256      []int64 `json:"input_ids_256"`
	IDs512      []int64 `json:"input_ids_512"`
	Untruncated int     `json:"n_ids_untruncated"`
}

func readGolden(tb testing.TB, dir string) []goldenLine {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, sharedGolden))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var lines []goldenLine
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l goldenLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			tb.Fatalf("golden line %d: %v", len(lines)+1, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}
