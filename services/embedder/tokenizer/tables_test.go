package tokenizer

import (
	"testing"
	"unicode"

	"golang.org/x/text/unicode/rangetable"
)

// TestTables checks that tables.go is what gen_tables.go makes from the
// Unicode tables of this Go toolchain, so an edit by hand or a change in
// Go's tables for old characters is noticed.
func TestTables(t *testing.T) {
	assigned := rangetable.Assigned("8.0.0")
	tests := []struct {
		name      string
		generated *unicode.RangeTable
		category  *unicode.RangeTable
	}{
		{"punctuation8", punctuation8, unicode.P},
		{"format8", format8, unicode.Cf},
		{"nonspacing8", nonspacing8, unicode.Mn},
	}
	for _, tt := range tests {
		for r := rune(0); r <= unicode.MaxRune; r++ {
			want := unicode.Is(tt.category, r) && unicode.Is(assigned, r)
			if got := unicode.Is(tt.generated, r); got != want {
				t.Errorf("%s has %U: %v, want %v; run go generate", tt.name, r, got, want)
				break
			}
		}
	}
	// Characters the golden file tests: assigned after Unicode 8.0, so HF
	// does not know their categories.
	if isPunctuation('\u2e43') || isControl('\u08e2') || isNonspacingMark('\u1df6') {
		t.Error("characters assigned after Unicode 8.0 are classified")
	}
	if !isPunctuation('\u2e42') || !isControl('\u200b') || !isNonspacingMark('\u0301') {
		t.Error("characters assigned by Unicode 8.0 are not classified")
	}
}
