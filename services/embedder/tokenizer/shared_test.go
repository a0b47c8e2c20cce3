package tokenizer

import (
	"path/filepath"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/testshared"
)

// Files from the shared directory that sits beside the checkout (see the
// project's shared/README.md).
const (
	sharedModel  = "models/all-MiniLM-L6-v2-tokenizer"
	sharedGolden = "testdata/tokenizer-golden.jsonl.gz"
)

// sharedDir returns the shared directory, skipping the test when there is
// none, as on a user's machine.
func sharedDir(tb testing.TB) string {
	tb.Helper()
	return testshared.Dir(tb, sharedGolden)
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
	return testshared.ReadJSONLines[goldenLine](tb, filepath.Join(dir, sharedGolden))
}
