package dataset

import (
	"slices"
	"testing"
)

func TestParseCategories(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"cs.CL cs.AI", []string{"cs.CL", "cs.AI"}},
		{"  cs.CL   cs.AI  cs.CL ", []string{"cs.CL", "cs.AI"}},
		{"Machine Learning (cs.LG); Artificial Intelligence (cs.AI)", []string{"cs.LG", "cs.AI"}},
		{"Earth and Planetary Astrophysics (astro-ph.EP); Geophysics (physics.geo-ph)", []string{"astro-ph.EP", "physics.geo-ph"}},
		{"Condensed Matter (cond-mat)", []string{"cond-mat"}},
		{"cs.LG,stat.ML", []string{"cs.LG", "stat.ML"}},
		{"cs.LG; stat.ML", []string{"cs.LG", "stat.ML"}},
		{"", nil},
		{"   ", nil},
	}
	for _, tt := range tests {
		if got := ParseCategories(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseCategories(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitAuthors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Felix Brandt, Paul Harrenstein", []string{"Felix Brandt", "Paul Harrenstein"}},
		{"A. One, B. Two and C. Three", []string{"A. One", "B. Two", "C. Three"}},
		{"A. One, B. Two, and C. Three", []string{"A. One", "B. Two", "C. Three"}},
		{"A. One (MIT, USA), B. Two", []string{"A. One (MIT, USA)", "B. Two"}},
		{"Alexander Sandersson", []string{"Alexander Sandersson"}},
		{"A. One and\n  B. Two", []string{"A. One", "B. Two"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := SplitAuthors(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitAuthors(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2501.01234", "2501.01234"},
		{"2501.01234v3", "2501.01234"},
		{"arXiv:0910.3580v1", "0910.3580"},
		{" math/0601001v2 ", "math/0601001"},
		{"hep-th/9901001", "hep-th/9901001"},
		{"math.GT/0309136", "math.GT/0309136"},
		{"paper-17v2", "paper-17v2"}, // not an arXiv id: kept
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeID(tt.in); got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeSpace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"A common assumption\nin modern\n  theory ", "A common assumption in modern theory"},
		{"\t tabs\r\nand returns\n", "tabs and returns"},
		{"non\u00a0breaking", "non breaking"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := normalizeSpace(tt.in); got != tt.want {
			t.Errorf("normalizeSpace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTextRule(t *testing.T) {
	p := &Paper{Title: "T", Abstract: "A b"}
	if got := TitleAbstract.Text(p); got != "T A b" {
		t.Errorf("title+abstract = %q", got)
	}
	if got := AbstractOnly.Text(p); got != "A b" {
		t.Errorf("abstract = %q", got)
	}
	if _, err := ParseTextRule("title"); err == nil {
		t.Error("ParseTextRule(title) succeeded")
	}
}
