package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// smallDir holds a hand-made vocabulary of a couple of hundred entries, all
// taken from the all-MiniLM-L6-v2 vocabulary, and a tokenizer_config.json.
const smallDir = "testdata/bert-small"

func loadSmall(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := Load(smallDir)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// smallVocab reads the test vocabulary independently of the package, so
// that expectations written as tokens become ids without trusting the code
// under test.
func smallVocab(tb testing.TB) map[string]int64 {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(smallDir, "vocab.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	vocab := make(map[string]int64)
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		vocab[line] = int64(i)
	}
	return vocab
}

// encodeCase is a text and the word pieces HF tokenizers makes of it,
// without [CLS] and [SEP]. The expectations were worked out by hand from
// the rules in the package documentation and the test vocabulary; every
// case also passes against the full vocabulary (TestCasesFullVocab), and
// the texts marked "golden" are hard cases of the shared golden file.
type encodeCase struct {
	name string
	text string
	want []string
}

var encodeCases = []encodeCase{
	// Accents: NFD, then nonspacing marks go.
	{"accents stripped (golden)", "Schrödinger café naïve", []string{"sc", "##hr", "##od", "##inger", "cafe", "naive"}},
	{"letters without decomposition (golden)", "Ångström Øresund Łódź Ærø Straße",
		[]string{"ang", "##strom", "ø", "##res", "##und", "łodz", "æ", "##r", "##ø", "st", "##raße"}},
	{"combining acute, decomposed and precomposed", "cafe\u0301 vs caf\u00e9", []string{"cafe", "vs", "cafe"}},
	{"100 accented chars count as 100", strings.Repeat("á", 100), aaa100},
	{"not-equal decomposes to equals", "x ≠ 2", []string{"x", "=", "2"}},
	{"compatibility characters are kept", "ﬁnance", []string{"ﬁ", "##nan", "##ce"}},

	// Lower-casing is per character, as Rust's char::to_lowercase.
	{"greek capital sigma is never final", "ΟΔΟΣ Σ", []string{"ο", "##δ", "##ο", "##σ", "σ"}},
	{"dotted capital I", "İstanbul", []string{"istanbul"}},
	{"kelvin, ohm and angstrom signs (golden)", "T = 300 \u212a, R = 50 \u2126, d = 1 \u212b",
		[]string{"t", "=", "300", "k", ",", "r", "=", "50", "ω", ",", "d", "=", "1", "a"}},
	{"apostrophe is punctuation", "McDonald's", []string{"mcdonald", "'", "s"}},

	// Chinese characters get spaces around them; other CJK does not.
	{"mixed latin and CJK (golden)", "BERT模型works在arXiv上",
		[]string{"bert", "[UNK]", "[UNK]", "works", "[UNK]", "ar", "##xi", "##v", "上"}},
	{"fullwidth punctuation", "中文，标点。", []string{"中", "文", "，", "[UNK]", "[UNK]", "。"}},
	{"HF's ranges skip U+2B820-U+2B91F (golden)", "a\U0002B820b", []string{"[UNK]"}},
	{"hangul decomposes to jamo", "한국어", []string{"ᄒ", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ", "##ᆨ", "##ᄋ", "##ᅥ"}},

	// Punctuation: ASCII symbols too, every character a word of its own.
	{"code", "def f(x): return x**2", []string{"def", "f", "(", "x", ")", ":", "return", "x", "*", "*", "2"}},
	{"latex", `$\alpha$`, []string{"$", `\`, "alpha", "$"}},
	{"unicode dashes and ellipsis", "hyphen\u2010minus a\u2013d\u2014x\u2026",
		[]string{"h", "##yp", "##hen", "‐", "minus", "a", "–", "d", "—", "x", "…"}},
	{"curly quotes", "“resume”", []string{"“", "resume", "”"}},

	// Whitespace is Rust's char::is_whitespace.
	{"tabs and newlines (golden)", "tabs\tand\nnewlines\r\nand\rreturns",
		[]string{"tab", "##s", "and", "new", "##lines", "and", "returns"}},
	{"line and paragraph separators (golden)", "line\u2028separator para\u2029separator",
		[]string{"line", "sep", "##arat", "##or", "para", "sep", "##arat", "##or"}},
	{"no-break space (golden)", "non\u00a0breaking\u00a0space and 10\u00a0km",
		[]string{"non", "breaking", "space", "and", "10", "km"}},
	{"ogham space mark", "ogham\u1680space", []string{"og", "##ham", "space"}},

	// clean_text deletes Cc, Cf and Co characters, joining their
	// neighbours, before whitespace could split them.
	{"next line is a control (golden)", "next line\u0085char", []string{"next", "line", "##cha", "##r"}},
	{"vertical tab and form feed are controls (golden)", "vertical\vtab form\ffeed",
		[]string{"vertical", "##ta", "##b", "form", "##fe", "##ed"}},
	{"null byte (golden)", "null\x00byte", []string{"null", "##by", "##te"}},
	{"bell and escape (golden)", "bell\a escape\x1b[31mred\x1b[0m",
		[]string{"bell", "escape", "[", "31", "##m", "##red", "[", "0", "##m"}},
	{"DEL", "DEL\x7fchar", []string{"del", "##cha", "##r"}},
	{"C1 controls (golden)", "C1\u0080 \u0093quoted\u0094 \u009f", []string{"c1", "quoted"}},
	{"zero width space (golden)", "zero\u200bwidth\u200bspace", []string{"zero", "##wi", "##dt", "##hs", "##pace"}},
	{"byte order mark (golden)", "\ufeffBOM at start and in\ufeffside", []string{"bo", "##m", "at", "start", "and", "inside"}},
	{"soft hyphen (golden)", "hyphen\u00adation soft\u00adhyphen",
		[]string{"h", "##yp", "##hen", "##ation", "soft", "##hy", "##ph", "##en"}},
	{"mongolian vowel separator is a format char", "mongolian\u180evowel", []string{"mongolian", "##vo", "##we", "##l"}},
	{"interlinear annotation", "a\ufff9b\ufffac\ufffbd", []string{"abc", "##d"}},
	{"replacement character (golden)", "replacement \ufffd char and glued\ufffdword",
		[]string{"replacement", "char", "and", "glued", "##word"}},
	{"invalid UTF-8 is a replacement character", "glued\xffword", []string{"glued", "##word"}},
	{"private use (golden)", "private \ue000 use\uf8ff and \U000f0000", []string{"private", "use", "and"}},
	{"unassigned code points are kept", "unassigned \u0378 and \uffff", []string{"una", "##ssi", "##gned", "[UNK]", "and", "[UNK]"}},

	// Unicode 8.0 character classes.
	{"punctuation added after Unicode 8 (golden)", "a\u2e43b", []string{"[UNK]"}},
	{"format char added after Unicode 8 (golden)", "a\u08e2b", []string{"[UNK]"}},
	{"combining mark added after Unicode 8 (golden)", "a\u1df6b", []string{"[UNK]"}},

	// Nothing left: [CLS] [SEP].
	{"empty", "", nil},
	{"only spaces", "     ", nil},
	{"only zero width spaces", "\u200b\u200b\u200b", nil},
	{"only controls", "\x00\x01\x02\x7f", nil},
	{"only combining marks", "\u0327\u0301\u0308", nil},
	{"only whitespace controls", "\n\t\r\n", nil},

	// Special tokens written in the text are matched before normalisation.
	{"literal [SEP] (golden)", "hello [SEP] world", []string{"hello", "[SEP]", "world"}},
	{"[MASK] glued to words (golden)", "prefix[MASK]suffix", []string{"prefix", "[MASK]", "suffix"}},
	{"glued special literals", "[PAD][UNK][CLS]", []string{"[PAD]", "[UNK]", "[CLS]"}},
	{"lower-case literals are not special (golden)", "[cls] [mask] [sep]",
		[]string{"[", "cl", "##s", "]", "[", "mask", "]", "[", "sep", "]"}},

	// WordPiece.
	{"100-char word is split (golden)", strings.Repeat("a", 100), aaa100},
	{"101-char word is [UNK] (golden)", strings.Repeat("a", 101), []string{"[UNK]"}},
	{"101 accented chars are [UNK] (golden)", strings.Repeat("é", 101), []string{"[UNK]"}},
	{"astral letter has no piece", "𝑥", []string{"[UNK]"}},
	{"a word not covered to its end is one [UNK]", "works😀world", []string{"[UNK]"}},
}

// aaa100 is the greedy split of a hundred a's: aaa, then ##aa while two
// are left, then ##a.
var aaa100 = append(append([]string{"aaa"}, slices.Repeat([]string{"##aa"}, 48)...), "##a")

func TestEncode(t *testing.T) {
	tok := loadSmall(t)
	vocab := smallVocab(t)
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			want := []int64{vocab["[CLS]"]}
			for _, piece := range c.want {
				id, ok := vocab[piece]
				if !ok {
					t.Fatalf("test vocabulary lacks %q", piece)
				}
				want = append(want, id)
			}
			want = append(want, vocab["[SEP]"])

			e := tok.Encode(c.text, 0)
			if !slices.Equal(e.IDs, want) {
				t.Fatalf("Encode(%q)\n got %v (%s)\nwant %v (%s)", c.text, e.IDs, tokens(tok, e.IDs), want, tokens(tok, want))
			}
			if e.Len() != len(want) || e.Untruncated != len(want) || e.Truncated {
				t.Errorf("Len %d, Untruncated %d, Truncated %v; want %d, %d, false", e.Len(), e.Untruncated, e.Truncated, len(want), len(want))
			}
			if slices.ContainsFunc(e.TypeIDs, func(v int64) bool { return v != 0 }) || len(e.TypeIDs) != len(want) {
				t.Errorf("TypeIDs = %v, want %d zeros", e.TypeIDs, len(want))
			}
			if slices.ContainsFunc(e.AttentionMask, func(v int64) bool { return v != 1 }) || len(e.AttentionMask) != len(want) {
				t.Errorf("AttentionMask = %v, want %d ones", e.AttentionMask, len(want))
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	tok := loadSmall(t)
	v := smallVocab(t)
	cls, sep, word, hello, world := v["[CLS]"], v["[SEP]"], v["word"], v["hello"], v["world"]
	five := "word word word word word"
	tests := []struct {
		name      string
		text      string
		maxLen    int
		want      []int64
		truncated bool
		untrunc   int
	}{
		{"cut keeps [SEP]", five, 5, []int64{cls, word, word, word, sep}, true, 7},
		{"exact fit", five, 7, []int64{cls, word, word, word, word, word, sep}, false, 7},
		{"one short", five, 6, []int64{cls, word, word, word, word, sep}, true, 7},
		{"no limit", five, 0, []int64{cls, word, word, word, word, word, sep}, false, 7},
		{"negative is no limit", five, -1, []int64{cls, word, word, word, word, word, sep}, false, 7},
		{"room for specials only", five, 2, []int64{cls, sep}, true, 7},
		{"too small is raised to the specials", five, 1, []int64{cls, sep}, true, 7},
		{"literal [SEP] is a piece", "hello [SEP] world", 4, []int64{cls, hello, sep, sep}, true, 5},
		{"empty text", "", 2, []int64{cls, sep}, false, 2},
		{"long word is one [UNK] before truncation", strings.Repeat("a", 101) + " world", 3, []int64{cls, v["[UNK]"], sep}, true, 4},
		{"world after the cut", "hello world", 3, []int64{cls, hello, sep}, true, 4},
		{"world fits", "hello world", 4, []int64{cls, hello, world, sep}, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tok.Encode(tt.text, tt.maxLen)
			if !slices.Equal(e.IDs, tt.want) || e.Truncated != tt.truncated || e.Untruncated != tt.untrunc {
				t.Errorf("Encode(%q, %d) = %v truncated %v untruncated %d; want %v, %v, %d",
					tt.text, tt.maxLen, e.IDs, e.Truncated, e.Untruncated, tt.want, tt.truncated, tt.untrunc)
			}
		})
	}
}

func TestEncodeToReuses(t *testing.T) {
	tok := loadSmall(t)
	var e Encoding
	tok.EncodeTo(&e, "hello world hello world", 0)
	first := &e.IDs[:1][0]
	tok.EncodeTo(&e, "hello world", 0)
	if &e.IDs[:1][0] != first {
		t.Error("EncodeTo reallocated although the old slices were large enough")
	}
	if want := tok.Encode("hello world", 0); !slices.Equal(e.IDs, want.IDs) || e.Untruncated != want.Untruncated {
		t.Errorf("EncodeTo after reuse = %v, want %v", e.IDs, want.IDs)
	}
}

func TestEncodeBatch(t *testing.T) {
	tok := loadSmall(t)
	texts := []string{"hello world", "", "word word word word word", "[MASK]"}
	const maxLen = 5
	b := tok.EncodeBatch(nil, texts, maxLen)
	if b.Size != len(texts) || b.SeqLen != maxLen {
		t.Fatalf("Size %d SeqLen %d, want %d %d", b.Size, b.SeqLen, len(texts), maxLen)
	}
	for i, text := range texts {
		e := tok.Encode(text, maxLen)
		ids, mask, types := b.Row(i)
		n := b.Lens[i]
		if n != e.Len() || !slices.Equal(ids[:n], e.IDs) || b.Untruncated[i] != e.Untruncated || b.Truncated[i] != e.Truncated {
			t.Errorf("row %d = %v (len %d), want %v", i, ids, n, e.IDs)
		}
		for j := range ids {
			wantMask, wantID := int64(1), ids[j]
			if j >= n {
				wantMask, wantID = 0, tok.PadID()
			}
			if mask[j] != wantMask || ids[j] != wantID || types[j] != 0 {
				t.Errorf("row %d position %d: id %d mask %d type %d, want id %d mask %d type 0", i, j, ids[j], mask[j], types[j], wantID, wantMask)
			}
		}
	}
	// Reuse with a smaller batch must not leak the old rows.
	b = tok.EncodeBatch(b, texts[:1], maxLen)
	if b.Size != 1 || b.SeqLen != 4 || len(b.IDs) != 4 {
		t.Errorf("reused batch: Size %d SeqLen %d len(IDs) %d, want 1 4 4", b.Size, b.SeqLen, len(b.IDs))
	}
	b = tok.EncodeBatch(b, nil, maxLen)
	if b.Size != 0 || b.SeqLen != 0 || len(b.IDs) != 0 {
		t.Errorf("empty batch: Size %d SeqLen %d len(IDs) %d", b.Size, b.SeqLen, len(b.IDs))
	}
}

// TestCasesFullVocab runs the in-repo cases against the real vocabulary:
// the test vocabulary is a subset of it holding every piece the real one
// uses for these texts, so greedy longest-match must give the same pieces.
// This ties the hand-written expectations to HF's behaviour.
func TestCasesFullVocab(t *testing.T) {
	tok, err := Load(filepath.Join(sharedDir(t), sharedModel))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range encodeCases {
		e := tok.Encode(c.text, 0)
		got := strings.Fields(tokens(tok, e.IDs[1:e.Len()-1]))
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: full vocabulary gives %q, case expects %q", c.name, got, c.want)
		}
	}
}
