package paper

import (
	"errors"
	"testing"
)

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "2503.01234", want: "2503.01234"},
		{in: "2503.01234v2", want: "2503.01234"},
		{in: "  arXiv:2503.01234v12 ", want: "2503.01234"},
		{in: "ARXIV:0704.0001", want: "0704.0001"},
		{in: "1412.9999", want: "1412.9999"},
		{in: "hep-th/9901001", want: "hep-th/9901001"},
		{in: "hep-th/9901001v3", want: "hep-th/9901001"},
		{in: "HEP-TH/9901001", want: "hep-th/9901001"},
		{in: "math.GT/0309136", want: "math.GT/0309136"},
		{in: "math.gt/0309136v1", want: "math.GT/0309136"},
		{in: "cond-mat.str-el/0101001", wantErr: true}, // subject classes are two letters
		{in: "q-bio/0401001", want: "q-bio/0401001"},
		{in: "", wantErr: true},
		{in: "2513.01234", wantErr: true},    // month 13
		{in: "2500.01234", wantErr: true},    // month 00
		{in: "2503.123", wantErr: true},      // too few digits
		{in: "2503.123456", wantErr: true},   // too many digits
		{in: "2503.01234v", wantErr: true},   // version without number
		{in: "hep-th/990100", wantErr: true}, // six digits
		{in: "hep-th/9913001", wantErr: true},
		{in: "hep th/9901001", wantErr: true},
		{in: "../etc/passwd", wantErr: true},
		{in: "2503.01234/similar", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeID(tt.in)
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrInvalidID) {
					t.Errorf("NormalizeID(%q) = %q, %v; want an ErrInvalidID error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizeID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			// Normalizing is idempotent.
			if again, err := NormalizeID(got); err != nil || again != got {
				t.Errorf("NormalizeID(%q) = %q, %v; not idempotent", got, again, err)
			}
		})
	}
}

func TestIsOldStyleArchive(t *testing.T) {
	for s, want := range map[string]bool{
		"hep-th": true, "math": true, "math.GT": true, "q-bio": true, "cond-mat": true,
		"2503.01234": false, "": false, "hep th": false, "similar": true,
	} {
		if got := IsOldStyleArchive(s); got != want {
			t.Errorf("IsOldStyleArchive(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestURLs(t *testing.T) {
	if got := AbsURL("hep-th/9901001"); got != "https://arxiv.org/abs/hep-th/9901001" {
		t.Errorf("AbsURL = %q", got)
	}
	if got := PDFURL("2503.01234"); got != "https://arxiv.org/pdf/2503.01234" {
		t.Errorf("PDFURL = %q", got)
	}
}

func TestEmbeddingText(t *testing.T) {
	tests := []struct {
		name, title, abstract, want string
	}{
		{"both", "Attention Is All You Need", "We propose the Transformer.", "Attention Is All You Need We propose the Transformer."},
		{"line breaks collapse", "  Set-Rationalizable\n Choice ", "A common assumption\nin modern\n\ntheory.", "Set-Rationalizable Choice A common assumption in modern theory."},
		{"no title", "", " Only an abstract. ", "Only an abstract."},
		{"no abstract", "Only a title", "\n", "Only a title"},
		{"nothing", " ", "", ""},
		{"latex and entities kept", "The $\\alpha$ condition", "Uses \\emph{sets} &amp; more.", "The $\\alpha$ condition Uses \\emph{sets} &amp; more."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EmbeddingText(tt.title, tt.abstract)
			if got != tt.want {
				t.Errorf("EmbeddingText(%q, %q) = %q, want %q", tt.title, tt.abstract, got, tt.want)
			}
			// On cleaned fields it is title + " " + abstract, the
			// pipeline's rule.
			ct, ca := CleanText(tt.title), CleanText(tt.abstract)
			if ct != "" && ca != "" && EmbeddingText(ct, ca) != ct+" "+ca {
				t.Errorf("EmbeddingText of cleaned fields is not title + \" \" + abstract")
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  two\n lines\t here ", "two lines here"},
		{"&#34;quoted&#34; &amp; &lt;b&gt; &apos;x&#x27;", `"quoted" & <b> 'x'`},
		{"LaTeX a & b, &= and &nbsp; stay", "LaTeX a & b, &= and &nbsp; stay"},
		{"decoded once: &amp;lt;", "decoded once: &lt;"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CleanText(tt.in); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
