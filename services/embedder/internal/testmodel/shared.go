package testmodel

import (
	"path/filepath"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/testshared"
)

// Shared files the embedder's tests use, relative to the shared directory
// (see shared/README.md beside the repository).
const (
	SharedModel  = "models/minilm-l6-random"
	SharedGolden = "testdata/embed-golden.jsonl.gz"
)

// SharedDir returns the shared directory holding the MiniLM-shaped model,
// skipping the test when there is none (see platform/testshared).
func SharedDir(tb testing.TB) string {
	tb.Helper()
	return testshared.Dir(tb, filepath.Join(SharedModel, "model.onnx"))
}
