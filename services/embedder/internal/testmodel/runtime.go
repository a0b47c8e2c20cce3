package testmodel

import (
	"os"
	"testing"
)

// Library returns the ONNX Runtime shared library named by
// $ONNXRUNTIME_LIB (the Makefile exports it), or skips the test with a
// message saying how to get one.
func Library(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv("ONNXRUNTIME_LIB")
	if path == "" {
		tb.Skip("ONNXRUNTIME_LIB is unset: run the tests through make test, or run make setup and export ONNXRUNTIME_LIB=$PWD/third_party/onnxruntime/1.24.1/libonnxruntime.so.1")
	}
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("ONNXRUNTIME_LIB=%s: %v (make setup installs the library)", path, err)
	}
	return path
}
