package tokenizer

import "testing"

func TestNormalize(t *testing.T) {
	type flags struct{ clean, chinese, strip, lower bool }
	bert := flags{true, true, true, true}
	tests := []struct {
		name string
		f    flags
		in   string
		want string
	}{
		{"bert", bert, "Héllo\tWörld\r\n", "hello world  "},
		{"controls go, whitespace becomes a space", bert, "a\x00b\u200bc\u2028d\u00a0e\u0085f", "abc d ef"},
		{"chinese chars are spaced", bert, "中文x", " 中  文 x"},
		{"CJK compatibility ideograph is spaced, then decomposed", bert, "\uf900", " \u8c48 "},
		{"hangul decomposes", bert, "한", "\u1112\u1161\u11ab"},
		{"marks are reordered by combining class", bert, "x\U0001D16D\U0001D165", "x\U0001D165\U0001D16D"},
		{"marks are reordered across a removed mark", bert, "x\U0001D16D\u0301\U0001D165", "x\U0001D165\U0001D16D"},
		{"reordering stops at a starter", bert, "x\U0001D16Dy\U0001D165", "x\U0001D16Dy\U0001D165"},
		{"reordering stops at a space", bert, "x\U0001D16D\t\U0001D165", "x\U0001D16D \U0001D165"},
		{"reordering spans a deleted ASCII control", bert, "x\U0001D16D\x00\U0001D165", "x\U0001D165\U0001D16D"},
		{"reordering spans a deleted format character", bert, "x\U0001D16D\u200b\U0001D165", "x\U0001D165\U0001D16D"},
		{"without cleaning a control is a starter", flags{false, true, true, true}, "x\U0001D16D\x00\U0001D165", "x\U0001D16D\x00\U0001D165"},
		{"capital I with dot, stripped", bert, "İ", "i"},
		{"capital sigma", bert, "Σ", "σ"},
		{"no decomposition of compatibility characters", bert, "ﬁ²Ⅻ", "ﬁ²ⅻ"},

		{"lowercase without stripping keeps accents", flags{true, true, false, true}, "Café", "café"},
		{"capital I with dot, lower-cased only", flags{true, true, false, true}, "İ", "i\u0307"},
		{"hangul is not decomposed without stripping", flags{true, true, false, true}, "한", "한"},
		{"stripping without lower-casing", flags{true, true, true, false}, "Café", "Cafe"},
		{"no chinese handling", flags{true, false, true, true}, "中文", "中文"},
		{"no cleaning", flags{false, true, true, true}, "a\x00b\u200bc\td", "a\x00b\u200bc\td"},
		{"no cleaning, invalid UTF-8 becomes U+FFFD", flags{false, false, false, false}, "a\xffb", "a\ufffdb"},
		{"nothing", flags{}, "Héllo 中", "Héllo 中"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNormalizer(tt.f.clean, tt.f.chinese, tt.f.strip, tt.f.lower)
			got, _ := n.appendNormalized(nil, tt.in, nil)
			if string(got) != tt.want {
				t.Errorf("normalize(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
		})
	}
}
