package hub

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// sharedModel is a real sentence-transformers directory (an ONNX model with
// the all-MiniLM-L6-v2 shapes and random weights, and the model's
// tokenizer and configuration files) in the shared directory beside the
// checkout (see the project's shared/README.md).
const sharedModel = "models/minilm-l6-random"

// sharedModelDir returns the shared model directory: under
// $ARXIVSEARCH_SHARED, or under the "shared" directory beside the
// repository, found by walking up from the package directory. It skips the
// test when there is none, as on a user's machine.
func sharedModelDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("ARXIVSEARCH_SHARED"); dir != "" {
		p := filepath.Join(dir, sharedModel)
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("ARXIVSEARCH_SHARED=%s: %v", dir, err)
		}
		return p
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", sharedModel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("shared test data not found: no shared/%s beside the repository and ARXIVSEARCH_SHARED is unset", sharedModel)
		}
		dir = parent
	}
}

// TestSharedModel serves a real model directory through the fake hub, its
// ONNX model as an LFS file behind a redirect, and checks that the download
// is byte-identical.
func TestSharedModel(t *testing.T) {
	src := sharedModelDir(t)
	files := map[string]*fakeFile{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		name := filepath.ToSlash(rel)
		files[name] = &fakeFile{data: data, lfs: path.Ext(name) == ".onnx"}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files["README.md"] = &fakeFile{data: []byte("# minilm-l6-random\n")}
	h := newFakeHub(t)
	h.addRepo("arxivsearch/minilm-l6-random", files)

	s, err := download(t.Context(), "arxivsearch/minilm-l6-random", h.options(t), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if s.ONNXFile != "model.onnx" {
		t.Errorf("ONNX model %q, want model.onnx", s.ONNXFile)
	}
	got := snapshotFiles(t, s.Dir)
	for _, name := range sortedKeys(files) {
		if name == "README.md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s not downloaded: %v", name, err)
			continue
		}
		if !bytes.Equal(b, files[name].data) {
			t.Errorf("%s differs from the original", name)
		}
	}
	if len(got) != len(files)-1 {
		t.Errorf("downloaded %q, want the %d model files", got, len(files)-1)
	}
}
