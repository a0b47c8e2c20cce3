package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// noMaxLen is the bound above which transformers' model_max_length
// (int(1e30) when unset) means "no limit".
const noMaxLen = 1 << 20

// LoadVocab builds a tokenizer from a BERT vocab.txt (one token per line,
// the line number being the id) and a transformers tokenizer_config.json,
// whose do_lower_case, strip_accents and tokenize_chinese_chars set the
// normaliser and whose special tokens become added tokens. An empty
// configPath means transformers' BertTokenizer defaults.
func LoadVocab(vocabPath, configPath string) (*Tokenizer, error) {
	vocab, err := readVocab(vocabPath)
	if err != nil {
		return nil, err
	}
	cfg := bertConfig{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", configPath, err)
		}
	} else {
		configPath = vocabPath // for error messages
	}
	c, err := cfg.config(vocab)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", configPath, err)
	}
	t, err := newTokenizer(c)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabPath, err)
	}
	return t, nil
}

// readVocab reads vocab.txt as transformers does: the id is the line
// number, the line ending is dropped and a repeated token keeps its last id.
func readVocab(path string) (map[string]int32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vocab := make(map[string]int32)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	var id int32
	for sc.Scan() {
		vocab[strings.TrimSuffix(sc.Text(), "\r")] = id
		id++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", path)
	}
	return vocab, nil
}

// bertConfig is the part of tokenizer_config.json this package reads.
type bertConfig struct {
	DoLowerCase          *bool        `json:"do_lower_case"`
	StripAccents         *bool        `json:"strip_accents"`
	TokenizeChineseChars *bool        `json:"tokenize_chinese_chars"`
	DoBasicTokenize      *bool        `json:"do_basic_tokenize"`
	UnkToken             *configToken `json:"unk_token"`
	SepToken             *configToken `json:"sep_token"`
	PadToken             *configToken `json:"pad_token"`
	ClsToken             *configToken `json:"cls_token"`
	MaskToken            *configToken `json:"mask_token"`
	ModelMaxLength       json.Number  `json:"model_max_length"`
	AddedTokensDecoder   map[string]struct {
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens_decoder"`
}

// configToken is a special token in tokenizer_config.json: a string, or an
// object with the token in "content".
type configToken string

func (t *configToken) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*t = configToken(s)
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("special token is neither a string nor an object with content: %w", err)
	}
	*t = configToken(obj.Content)
	return nil
}

func (b *bertConfig) config(vocab map[string]int32) (config, error) {
	if b.DoBasicTokenize != nil && !*b.DoBasicTokenize {
		return config{}, errors.New("do_basic_tokenize false is not supported")
	}
	c := config{
		vocab:                   vocab,
		cleanText:               true,
		chineseChars:            orDefault(b.TokenizeChineseChars, true),
		lowercase:               orDefault(b.DoLowerCase, true),
		continuingSubwordPrefix: defaultPrefix,
		maxInputCharsPerWord:    defaultMaxChars,
	}
	c.stripAccents = orDefault(b.StripAccents, c.lowercase)
	if b.ModelMaxLength != "" {
		if n, err := b.ModelMaxLength.Float64(); err == nil && n > 0 && n <= noMaxLen {
			c.maxLen = int(n)
		}
	}
	special := func(t *configToken, def string) string {
		if t == nil {
			return def
		}
		return string(*t)
	}
	c.unkToken = special(b.UnkToken, "[UNK]")
	cls, sep := special(b.ClsToken, "[CLS]"), special(b.SepToken, "[SEP]")
	pad, mask := special(b.PadToken, "[PAD]"), special(b.MaskToken, "[MASK]")
	for _, tok := range []string{c.unkToken, cls, sep, pad, mask} {
		if id, ok := vocab[tok]; ok {
			c.added = append(c.added, addedTokenConfig{content: tok, id: id})
		}
	}
	// Sorted by id so that loading is deterministic.
	for _, key := range slices.Sorted(maps.Keys(b.AddedTokensDecoder)) {
		a := b.AddedTokensDecoder[key]
		id, err := strconv.ParseInt(key, 10, 32)
		if err != nil {
			return config{}, fmt.Errorf("added_tokens_decoder key %q is not an id: %w", key, err)
		}
		if a.SingleWord || a.LStrip || a.RStrip {
			return config{}, fmt.Errorf("added token %q: single_word, lstrip and rstrip are not supported", a.Content)
		}
		c.added = append(c.added, addedTokenConfig{content: a.Content, id: int32(id), normalized: a.Normalized})
	}
	clsID, ok := vocab[cls]
	if !ok {
		return config{}, fmt.Errorf("cls token %q is not in the vocabulary", cls)
	}
	sepID, ok := vocab[sep]
	if !ok {
		return config{}, fmt.Errorf("sep token %q is not in the vocabulary", sep)
	}
	c.prefix = []templateToken{{id: int64(clsID)}}
	c.suffix = []templateToken{{id: int64(sepID)}}
	if id, ok := vocab[pad]; ok {
		c.padID = int64(id)
	}
	return c, nil
}
