package hub

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRepoID(t *testing.T) {
	tests := []struct {
		id        string
		org, name string // empty: invalid
	}{
		{"sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers", "all-MiniLM-L6-v2"},
		{"BAAI/bge-small-en-v1.5", "BAAI", "bge-small-en-v1.5"},
		{"intfloat/e5_small.v2", "intfloat", "e5_small.v2"},
		{"_org/_name_", "_org", "_name_"},
		{"a/" + strings.Repeat("b", 96), "a", strings.Repeat("b", 96)},
		{"a/" + strings.Repeat("b", 97), "", ""},
		{"bert-base-uncased", "", ""},
		{"", "", ""},
		{"/", "", ""},
		{"org/", "", ""},
		{"/name", "", ""},
		{"/etc/passwd", "", ""},
		{"org/name/extra", "", ""},
		{"../name", "", ""},
		{"org/..", "", ""},
		{"org/a..b", "", ""},
		{"org--x/name", "", ""},
		{"org/name.git", "", ""},
		{"org/-name", "", ""},
		{"org/name-", "", ""},
		{".org/name", "", ""},
		{"org/na me", "", ""},
		{`org\name`, "", ""},
		{"org/naïve", "", ""},
		{"https://huggingface.co/org/name", "", ""},
	}
	for _, tt := range tests {
		org, name, err := ParseRepoID(tt.id)
		if tt.org == "" {
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("ParseRepoID(%q) = %q, %q, %v; want ErrInvalidName", tt.id, org, name, err)
			}
			continue
		}
		if err != nil || org != tt.org || name != tt.name {
			t.Errorf("ParseRepoID(%q) = %q, %q, %v; want %q, %q", tt.id, org, name, err, tt.org, tt.name)
		}
	}
}

func TestCheckRelPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"model.onnx", true},
		{"onnx/model.onnx", true},
		{"1_Pooling/config.json", true},
		{"refs/pr/1", true},
		{"a file with spaces.json", true},
		{"..data", true},
		{"", false},
		{"..", false},
		{".", false},
		{"../../evil", false},
		{"onnx/../../evil", false},
		{"onnx/./model.onnx", false},
		{"/etc/passwd", false},
		{"onnx//model.onnx", false},
		{"onnx/", false},
		{`..\evil`, false},
		{"a\x00b", false},
		{strings.Repeat("a", 1025), false},
	}
	for _, tt := range tests {
		if err := checkRelPath(tt.path); (err == nil) != tt.ok {
			t.Errorf("checkRelPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}

func TestIsCommit(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("0a", 20): true,
		strings.Repeat("0A", 20): false,
		strings.Repeat("0a", 19): false,
		"main":                   false,
		strings.Repeat("g", 40):  false,
	} {
		if got := isCommit(s); got != want {
			t.Errorf("isCommit(%q) = %v", s, got)
		}
	}
}

// FuzzCheckRelPath checks that every name checkRelPath accepts stays inside
// the directory it is joined to.
func FuzzCheckRelPath(f *testing.F) {
	for _, s := range []string{"onnx/model.onnx", "../evil", "a/../../b", "/abs", "a//b", `a\..\b`, "...", "a/.../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkRelPath(p) != nil {
			return
		}
		if !filepath.IsLocal(filepath.FromSlash(p)) {
			t.Errorf("checkRelPath accepts %q, which is not local", p)
		}
		root := "/cache/snapshot"
		if joined := filepath.Join(root, filepath.FromSlash(p)); !strings.HasPrefix(joined, root+"/") {
			t.Errorf("checkRelPath accepts %q, which joins to %s", p, joined)
		}
	})
}
