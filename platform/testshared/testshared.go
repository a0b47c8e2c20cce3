// Package testshared finds the project's shared directory (data and
// models kept beside the checkout, see shared/README.md) for tests, which
// skip with a message when it is absent, as on a user's machine.
package testshared

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared directory holding rel (a path inside it):
// $ARXIVSEARCH_SHARED, or the first "shared" directory found walking up
// from the test's working directory. It skips the test when there is
// none.
func Dir(tb testing.TB, rel string) string {
	tb.Helper()
	if dir := os.Getenv("ARXIVSEARCH_SHARED"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
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
		if _, err := os.Stat(filepath.Join(candidate, rel)); err == nil {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("shared test data not found: no shared/%s beside the repository and ARXIVSEARCH_SHARED is unset", rel)
		}
		dir = parent
	}
}

// ReadJSONLines decodes every line of a gzipped JSON-lines file, such as
// the shared golden files, failing the test on the first bad line.
func ReadJSONLines[T any](tb testing.TB, path string) []T {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var out []T
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return out
}
