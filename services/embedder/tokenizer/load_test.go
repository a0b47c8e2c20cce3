package tokenizer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hfTokenizerJSON returns a tokenizer.json for the test vocabulary, shaped
// like the one HF writes for all-MiniLM-L6-v2.
func hfTokenizerJSON(tb testing.TB) map[string]any {
	tb.Helper()
	vocab := smallVocab(tb)
	special := func(tok string) map[string]any {
		return map[string]any{"id": vocab[tok], "content": tok, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}
	}
	return map[string]any{
		"version":    "1.0",
		"truncation": map[string]any{"max_length": 128, "strategy": "LongestFirst", "stride": 0},
		"padding": map[string]any{"strategy": map[string]any{"Fixed": 128}, "direction": "Right",
			"pad_id": vocab["[PAD]"], "pad_type_id": 0, "pad_token": "[PAD]"},
		"added_tokens": []any{special("[PAD]"), special("[UNK]"), special("[CLS]"), special("[SEP]"), special("[MASK]")},
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
			},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []any{vocab["[CLS]"]}, "tokens": []any{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []any{vocab["[SEP]"]}, "tokens": []any{"[SEP]"}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
}

func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestLoadersAgree checks that tokenizer.json and vocab.txt with
// tokenizer_config.json describing the same tokenizer encode alike.
func TestLoadersAgree(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), hfTokenizerJSON(t))
	fromJSON, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fromVocab := loadSmall(t)
	if fromJSON.MaxLen() != 128 || fromVocab.MaxLen() != 512 {
		t.Errorf("MaxLen = %d and %d, want 128 (truncation) and 512 (model_max_length)", fromJSON.MaxLen(), fromVocab.MaxLen())
	}
	if fromJSON.VocabSize() != fromVocab.VocabSize() || fromJSON.PadID() != fromVocab.PadID() {
		t.Errorf("VocabSize %d/%d, PadID %d/%d differ", fromJSON.VocabSize(), fromVocab.VocabSize(), fromJSON.PadID(), fromVocab.PadID())
	}
	for _, c := range encodeCases {
		a, b := fromJSON.Encode(c.text, 0), fromVocab.Encode(c.text, 0)
		if !slices.Equal(a.IDs, b.IDs) {
			t.Errorf("%s: tokenizer.json gives %v, vocab.txt %v", c.name, a.IDs, b.IDs)
		}
	}
}

func TestLoadBertProcessing(t *testing.T) {
	dir := t.TempDir()
	j := hfTokenizerJSON(t)
	v := smallVocab(t)
	j["post_processor"] = map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", v["[SEP]"]}, "cls": []any{"[CLS]", v["[CLS]"]}}
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), j)
	tok, err := LoadJSON(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("hello", 0).IDs, []int64{v["[CLS]"], v["hello"], v["[SEP]"]}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
}

// TestNormalizedAddedToken checks an added token that HF matches after
// normalisation, by its normalised content.
func TestNormalizedAddedToken(t *testing.T) {
	dir := t.TempDir()
	j := hfTokenizerJSON(t)
	v := smallVocab(t)
	j["added_tokens"] = append(j["added_tokens"].([]any), map[string]any{"id": 200, "content": "Hé-Llo",
		"single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false})
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), j)
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{v["[CLS]"], v["world"], 200, v["world"], v["[SEP]"]}
	if got := tok.Encode("worldHE-LLOworld", 0).IDs; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if s, ok := tok.Token(200); !ok || s != "Hé-Llo" {
		t.Errorf("Token(200) = %q, %v", s, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	vocabTxt, err := os.ReadFile(filepath.Join(smallDir, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		json     func(map[string]any) // edits tokenizer.json; nil: no tokenizer.json
		files    map[string]string    // other files
		want     string               // in the error message
		notExist bool                 // errors.Is(err, fs.ErrNotExist)
	}{
		{name: "empty directory", want: "has neither tokenizer.json nor vocab.txt", notExist: true},
		{name: "invalid tokenizer.json", files: map[string]string{"tokenizer.json": "{"}, want: "tokenizer.json: unexpected end of JSON input"},
		{name: "BPE model", json: func(j map[string]any) { j["model"].(map[string]any)["type"] = "BPE" }, want: `model type "BPE" is not supported`},
		{name: "empty vocabulary", json: func(j map[string]any) { j["model"].(map[string]any)["vocab"] = map[string]any{} }, want: "empty vocabulary"},
		{name: "unknown normalizer", json: func(j map[string]any) { j["normalizer"] = map[string]any{"type": "NFKC"} }, want: `normalizer type "NFKC"`},
		{name: "no pre-tokenizer", json: func(j map[string]any) { j["pre_tokenizer"] = nil }, want: "pre_tokenizer is not BertPreTokenizer"},
		{name: "unk not in vocabulary", json: func(j map[string]any) { j["model"].(map[string]any)["unk_token"] = "<unk>" }, want: `unknown token "<unk>" is not in the vocabulary`},
		{name: "lstrip added token", json: func(j map[string]any) {
			j["added_tokens"].([]any)[4].(map[string]any)["lstrip"] = true
		}, want: `added token "[MASK]": single_word, lstrip and rstrip are not supported`},
		{name: "left truncation", json: func(j map[string]any) { j["truncation"].(map[string]any)["direction"] = "Left" }, want: `truncation direction "Left"`},
		{name: "template without sequence", json: func(j map[string]any) {
			pp := j["post_processor"].(map[string]any)
			pp["single"] = pp["single"].([]any)[:1]
		}, want: "post_processor: single template has no sequence"},
		{name: "template with unknown special", json: func(j map[string]any) {
			delete(j["post_processor"].(map[string]any)["special_tokens"].(map[string]any), "[SEP]")
		}, want: `special token "[SEP]" is not in special_tokens`},
		{name: "RoBERTa post-processor", json: func(j map[string]any) { j["post_processor"] = map[string]any{"type": "RobertaProcessing"} }, want: `type "RobertaProcessing" is not supported`},
		{name: "empty vocab.txt", files: map[string]string{"vocab.txt": ""}, want: "vocab.txt: empty vocabulary"},
		{name: "invalid tokenizer_config.json", files: map[string]string{"vocab.txt": string(vocabTxt), "tokenizer_config.json": "[1]"},
			want: "tokenizer_config.json: json: cannot unmarshal array"},
		{name: "bad special token in config", files: map[string]string{"vocab.txt": string(vocabTxt), "tokenizer_config.json": `{"cls_token": 5}`},
			want: "special token is neither a string nor an object"},
		{name: "cls not in vocab.txt", files: map[string]string{"vocab.txt": string(vocabTxt), "tokenizer_config.json": `{"cls_token": "<s>"}`},
			want: `tokenizer_config.json: cls token "<s>" is not in the vocabulary`},
		{name: "no basic tokenization", files: map[string]string{"vocab.txt": string(vocabTxt), "tokenizer_config.json": `{"do_basic_tokenize": false}`},
			want: "do_basic_tokenize false is not supported"},
		{name: "unk missing from vocab.txt", files: map[string]string{"vocab.txt": "[CLS]\n[SEP]\nhello\n"}, want: `vocab.txt: unknown token "[UNK]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.json != nil {
				j := hfTokenizerJSON(t)
				tt.json(j)
				writeJSON(t, filepath.Join(dir, "tokenizer.json"), j)
			}
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Load error %q, want it to name %s and contain %q", err, dir, tt.want)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
			}
		})
	}
}

func TestLoadVocabDefaults(t *testing.T) {
	// Without tokenizer_config.json the BertTokenizer defaults apply:
	// lower-casing, accent stripping and the usual special tokens.
	tok, err := LoadVocab(filepath.Join(smallDir, "vocab.txt"), "")
	if err != nil {
		t.Fatal(err)
	}
	v := smallVocab(t)
	want := []int64{v["[CLS]"], v["cafe"], v["[MASK]"], v["[SEP]"]}
	if got := tok.Encode("CAFÉ[MASK]", 0).IDs; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if tok.MaxLen() != 0 {
		t.Errorf("MaxLen = %d, want 0 without a configuration", tok.MaxLen())
	}
}

func TestLowercase(t *testing.T) {
	for _, lower := range []bool{true, false} {
		dir := t.TempDir()
		f := hfTokenizerJSON(t)
		f["normalizer"].(map[string]any)["lowercase"] = lower
		writeJSON(t, filepath.Join(dir, "tokenizer.json"), f)
		tok, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Lowercase() != lower {
			t.Errorf("normalizer lowercase %v: Lowercase() = %v", lower, tok.Lowercase())
		}
	}
	if !loadSmall(t).Lowercase() {
		t.Error("vocab.txt with do_lower_case true: Lowercase() = false")
	}
}
