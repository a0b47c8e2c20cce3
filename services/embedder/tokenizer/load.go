package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Defaults shared by HF's WordPiece model and transformers' BERT
// tokenizer configuration.
const (
	defaultPrefix   = "##"
	defaultMaxChars = 100
)

// Load reads the tokenizer of a model directory. It prefers tokenizer.json,
// the file HF's fast tokenizer (and so sentence-transformers) runs from,
// and falls back to vocab.txt with tokenizer_config.json, built the way
// transformers converts a BertTokenizer to a fast one.
func Load(dir string) (*Tokenizer, error) {
	jsonPath := filepath.Join(dir, "tokenizer.json")
	switch _, err := os.Stat(jsonPath); {
	case err == nil:
		return LoadJSON(jsonPath)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vocabPath := filepath.Join(dir, "vocab.txt")
	switch _, err := os.Stat(vocabPath); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tokenizer: %s has neither tokenizer.json nor vocab.txt: %w", dir, err)
	case err != nil:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	configPath := filepath.Join(dir, "tokenizer_config.json")
	switch _, err := os.Stat(configPath); {
	case errors.Is(err, fs.ErrNotExist):
		configPath = ""
	case err != nil:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return LoadVocab(vocabPath, configPath)
}

// LoadJSON reads a Hugging Face tokenizer.json. It accepts the pipeline
// this package implements (BertNormalizer or none, BertPreTokenizer,
// WordPiece, TemplateProcessing or BertProcessing) and rejects anything
// else rather than tokenizing differently from HF.
func LoadJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	c, err := f.config()
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	t, err := newTokenizer(c)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// tokenizerFile is the part of tokenizer.json this package reads.
type tokenizerFile struct {
	Truncation *struct {
		MaxLength int    `json:"max_length"`
		Direction string `json:"direction"`
	} `json:"truncation"`
	Padding *struct {
		PadID     int64 `json:"pad_id"`
		PadTypeID int64 `json:"pad_type_id"`
	} `json:"padding"`
	AddedTokens []struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          *bool  `json:"clean_text"`
		HandleChineseChars *bool  `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          *bool  `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	PostProcessor *postProcessor `json:"post_processor"`
	Model         struct {
		Type                    string           `json:"type"`
		UnkToken                string           `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
		Vocab                   map[string]int32 `json:"vocab"`
	} `json:"model"`
}

type postProcessor struct {
	Type string `json:"type"`
	// TemplateProcessing.
	Single []struct {
		SpecialToken *templatePiece `json:"SpecialToken"`
		Sequence     *templatePiece `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int64 `json:"ids"`
	} `json:"special_tokens"`
	// BertProcessing: ["[SEP]", 102].
	Sep []any `json:"sep"`
	Cls []any `json:"cls"`
}

type templatePiece struct {
	ID     string `json:"id"`
	TypeID int64  `json:"type_id"`
}

func (f *tokenizerFile) config() (config, error) {
	m := f.Model
	if m.Type != "WordPiece" {
		return config{}, fmt.Errorf("model type %q is not supported, want WordPiece", m.Type)
	}
	if len(m.Vocab) == 0 {
		return config{}, errors.New("model has an empty vocabulary")
	}
	c := config{
		vocab:                   m.Vocab,
		unkToken:                m.UnkToken,
		continuingSubwordPrefix: defaultPrefix,
		maxInputCharsPerWord:    defaultMaxChars,
	}
	if m.ContinuingSubwordPrefix != nil {
		c.continuingSubwordPrefix = *m.ContinuingSubwordPrefix
	}
	if m.MaxInputCharsPerWord != nil {
		c.maxInputCharsPerWord = *m.MaxInputCharsPerWord
	}

	if n := f.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return config{}, fmt.Errorf("normalizer type %q is not supported, want BertNormalizer", n.Type)
		}
		c.cleanText = orDefault(n.CleanText, true)
		c.chineseChars = orDefault(n.HandleChineseChars, true)
		c.lowercase = orDefault(n.Lowercase, true)
		// strip_accents null means "as lowercase".
		c.stripAccents = orDefault(n.StripAccents, c.lowercase)
	}
	if p := f.PreTokenizer; p == nil || p.Type != "BertPreTokenizer" {
		return config{}, errors.New("pre_tokenizer is not BertPreTokenizer")
	}

	for _, a := range f.AddedTokens {
		if a.SingleWord || a.LStrip || a.RStrip {
			return config{}, fmt.Errorf("added token %q: single_word, lstrip and rstrip are not supported", a.Content)
		}
		c.added = append(c.added, addedTokenConfig{content: a.Content, id: a.ID, normalized: a.Normalized})
	}

	var err error
	if c.prefix, c.suffix, c.seqType, err = f.PostProcessor.template(); err != nil {
		return config{}, fmt.Errorf("post_processor: %w", err)
	}

	if tr := f.Truncation; tr != nil {
		if tr.Direction != "" && tr.Direction != "Right" {
			return config{}, fmt.Errorf("truncation direction %q is not supported, want Right", tr.Direction)
		}
		c.maxLen = tr.MaxLength
	}
	if p := f.Padding; p != nil {
		c.padID, c.padType = p.PadID, p.PadTypeID
	} else if id, ok := m.Vocab["[PAD]"]; ok {
		c.padID = int64(id)
	}
	return c, nil
}

// template returns the special tokens around a single sequence.
func (p *postProcessor) template() (prefix, suffix []templateToken, seqType int64, err error) {
	if p == nil {
		return nil, nil, 0, nil
	}
	switch p.Type {
	case "BertProcessing":
		cls, err := processingToken(p.Cls)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("cls: %w", err)
		}
		sep, err := processingToken(p.Sep)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("sep: %w", err)
		}
		return []templateToken{cls}, []templateToken{sep}, 0, nil
	case "TemplateProcessing":
		seen := false
		for _, piece := range p.Single {
			switch {
			case piece.Sequence != nil:
				if seen || piece.Sequence.ID != "A" {
					return nil, nil, 0, fmt.Errorf("single template must hold sequence A once, got %q", piece.Sequence.ID)
				}
				seen, seqType = true, piece.Sequence.TypeID
			case piece.SpecialToken != nil:
				s, ok := p.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return nil, nil, 0, fmt.Errorf("special token %q is not in special_tokens", piece.SpecialToken.ID)
				}
				for _, id := range s.IDs {
					tok := templateToken{id: id, typeID: piece.SpecialToken.TypeID}
					if seen {
						suffix = append(suffix, tok)
					} else {
						prefix = append(prefix, tok)
					}
				}
			default:
				return nil, nil, 0, errors.New("single template piece is neither SpecialToken nor Sequence")
			}
		}
		if !seen {
			return nil, nil, 0, errors.New("single template has no sequence")
		}
		return prefix, suffix, seqType, nil
	default:
		return nil, nil, 0, fmt.Errorf("type %q is not supported, want TemplateProcessing or BertProcessing", p.Type)
	}
}

// processingToken decodes BertProcessing's ["[CLS]", 101].
func processingToken(v []any) (templateToken, error) {
	if len(v) != 2 {
		return templateToken{}, fmt.Errorf("want [token, id], got %v", v)
	}
	id, ok := v[1].(float64)
	if !ok || id != float64(int64(id)) {
		return templateToken{}, fmt.Errorf("want [token, id], got %v", v)
	}
	return templateToken{id: int64(id)}, nil
}

func orDefault(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
