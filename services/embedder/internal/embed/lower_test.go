package embed

import "testing"

// TestPyLower checks against what Python 3's str.lower returns.
func TestPyLower(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hello World", "hello world"},
		{"İstanbul", "i\u0307stanbul"},
		{"ΟΔΟΣ", "οδος"},             // final sigma
		{"ΟΔΟΣ ΣΟΦΙΑ", "οδος σοφια"}, // word-initial sigma stays σ
		{"Σ", "σ"},                     // nothing cased before
		{"ΑΣ.Β", "ασ.β"},               // past the case-ignorable ".", a cased letter follows
		{"ΑΣ'", "ας'"},                 // case-ignorable after, then the end
		{"A\u0301Σ", "a\u0301ς"},       // combining mark before is case-ignorable
		{"[CLS] ÉCOLE", "[cls] école"}, // Python lowers special-token literals too
		{"ǅ", "ǆ"},                     // titlecase digraph
		{"MIXED ǅΣ", "mixed ǆς"},
	}
	for _, tc := range tests {
		if got := pyLower(tc.in); got != tc.want {
			t.Errorf("pyLower(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
