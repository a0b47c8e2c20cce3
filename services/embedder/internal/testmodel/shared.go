package testmodel

import (
	"os"
	"path/filepath"
	"testing"
)

// Shared files the embedder's tests use, relative to the shared directory
// (see shared/README.md beside the repository).
const (
	SharedModel  = "models/minilm-l6-random"
	SharedGolden = "testdata/embed-golden.jsonl.gz"
)

// SharedDir returns the shared directory: $ARXIVSEARCH_SHARED, or the
// "shared" directory beside the repository found by walking up from the
// test's working directory. It skips the test when there is none, as on a
// user's machine.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("ARXIVSEARCH_SHARED"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, SharedModel, "model.onnx")); err != nil {
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
		if _, err := os.Stat(filepath.Join(candidate, SharedModel, "model.onnx")); err == nil {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("shared test data not found: no shared/%s beside the repository and ARXIVSEARCH_SHARED is unset", SharedModel)
		}
		dir = parent
	}
}
