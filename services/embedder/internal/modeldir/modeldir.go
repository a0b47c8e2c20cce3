// Package modeldir reads a sentence-transformers model directory as
// exported for ONNX Runtime: the ONNX graph, the tokenizer, and the
// sentence-transformers configuration that says how long texts may be and
// how token embeddings become one vector.
//
//	onnx/model.onnx or model.onnx   the graph
//	tokenizer.json or vocab.txt     the tokenizer (with tokenizer_config.json)
//	sentence_bert_config.json       max_seq_length, do_lower_case
//	modules.json                    Transformer, Pooling, Normalize modules
//	<pooling path>/config.json      the pooling mode
//	config.json                     max_position_embeddings
//
// A directory that does not fit is rejected with an error naming the file
// and the problem, rather than served with vectors that would differ from
// what sentence-transformers computes.
package modeldir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Options override what the directory says.
type Options struct {
	// ONNXFile is the model's path relative to the directory; default
	// onnx/model.onnx, else model.onnx (where sentence-transformers looks).
	ONNXFile string
	// Name replaces the name derived from the directory.
	Name string
	// MaxSeqLen, when positive, replaces max_seq_length; MaxSeqLenSource
	// says where it came from (e.g. "flag -max-seq-length").
	MaxSeqLen       int
	MaxSeqLenSource string
}

// Model is a model directory's description.
type Model struct {
	Dir  string // absolute
	Name string
	// ONNXPath is the graph file.
	ONNXPath  string
	Tokenizer *tokenizer.Tokenizer
	// MaxSeqLen is the most tokens per text, special tokens included, and
	// MaxSeqLenSource where that number came from.
	MaxSeqLen       int
	MaxSeqLenSource string
	// MaxPositions is config.json's max_position_embeddings, 0 if unknown.
	MaxPositions int
	// LowerCase is sentence_bert_config.json's do_lower_case: texts are
	// lowercased (as Python's str.lower) before tokenization.
	LowerCase bool
	// Pooling is the pooling module's mode and PoolingSource the file it
	// came from.
	Pooling       pooling.Mode
	PoolingSource string
	// Dim is the pooling config's word_embedding_dimension, 0 if unknown.
	Dim int
	// Normalize says a Normalize module follows pooling.
	Normalize bool
	// AfterPooling lists the modules after pooling other than a final
	// Normalize (e.g. Dense): an ONNX graph that outputs token embeddings
	// lacks them.
	AfterPooling []string
}

// Load reads the model directory dir.
func Load(dir string, opts Options) (*Model, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("model directory %s is not a directory", abs)
	}
	m := &Model{Dir: abs, Name: opts.Name}
	if m.Name == "" {
		m.Name = nameOf(abs)
	}
	if m.ONNXPath, err = findONNX(abs, opts.ONNXFile); err != nil {
		return nil, err
	}
	if m.Tokenizer, err = tokenizer.Load(abs); err != nil {
		return nil, fmt.Errorf("model directory %s: %w", abs, err)
	}
	if err := m.readModules(); err != nil {
		return nil, err
	}
	if err := m.readMaxSeqLen(opts); err != nil {
		return nil, err
	}
	return m, nil
}

func findONNX(dir, rel string) (string, error) {
	candidates := []string{"onnx/model.onnx", "model.onnx"}
	if rel != "" {
		candidates = []string{rel}
	}
	for _, c := range candidates {
		path := filepath.Join(dir, filepath.FromSlash(c))
		switch st, err := os.Stat(path); {
		case err == nil && st.Mode().IsRegular():
			return path, nil
		case err == nil:
			return "", fmt.Errorf("model directory %s: %s is not a regular file", dir, c)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("model directory %s: %w", dir, err)
		}
	}
	return "", fmt.Errorf("model directory %s has no ONNX model: %s not found", dir, strings.Join(candidates, " nor "))
}

// hubSnapshot matches the directory of a model in a Hugging Face style
// cache: huggingface_hub's models--org--name/snapshots/<commit>, or this
// project's org--name/<commit>.
var hubSnapshot = regexp.MustCompile(`(?:^|/)(?:models--)?([^/]+?)--([^/]+)/(?:snapshots/)?[0-9a-f]{40}$`)

// nameOf names a model after its directory: "org/name" for a snapshot in a
// hub cache, otherwise the directory's base name.
func nameOf(dir string) string {
	if m := hubSnapshot.FindStringSubmatch(filepath.ToSlash(dir)); m != nil {
		return m[1] + "/" + m[2]
	}
	return filepath.Base(dir)
}

// readJSON decodes the directory's file rel into v; it reports whether
// the file exists.
func (m *Model) readJSON(rel string, v any) (bool, error) {
	data, err := os.ReadFile(filepath.Join(m.Dir, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("model directory %s: %w", m.Dir, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("model directory %s: %s: %w", m.Dir, rel, err)
	}
	return true, nil
}

type module struct {
	Idx  int    `json:"idx"`
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

// readModules reads modules.json and the pooling module's config. Without
// modules.json, sentence-transformers wraps a plain transformer with mean
// pooling and no normalization, and so does this.
func (m *Model) readModules() error {
	var mods []module
	ok, err := m.readJSON("modules.json", &mods)
	if err != nil {
		return err
	}
	if !ok {
		m.Pooling, m.PoolingSource = pooling.Mean, "default (no modules.json: sentence-transformers mean-pools)"
		return nil
	}
	slices.SortStableFunc(mods, func(a, b module) int { return a.Idx - b.Idx })
	pooled := false
	for i, mod := range mods {
		kind := mod.Type[strings.LastIndex(mod.Type, ".")+1:]
		switch {
		case kind == "Transformer" && i == 0:
		case kind == "Transformer":
			return fmt.Errorf("model directory %s: modules.json: the Transformer module must come first, found it at position %d", m.Dir, i)
		case i == 0:
			return fmt.Errorf("model directory %s: modules.json: the first module is %s, want sentence_transformers.models.Transformer", m.Dir, mod.Type)
		case kind == "Pooling" && !pooled:
			if err := m.readPooling(mod.Path); err != nil {
				return err
			}
			pooled = true
		case kind == "Normalize" && pooled && i == len(mods)-1:
			m.Normalize = true
		case pooled:
			m.AfterPooling = append(m.AfterPooling, fmt.Sprintf("%s (path %q)", mod.Type, mod.Path))
		default:
			return fmt.Errorf("model directory %s: modules.json: module %s comes before any Pooling module; only Transformer, Pooling, then Normalize are supported", m.Dir, mod.Type)
		}
	}
	if len(mods) == 0 {
		return fmt.Errorf("model directory %s: modules.json lists no modules", m.Dir)
	}
	if !pooled {
		return fmt.Errorf("model directory %s: modules.json has no sentence_transformers.models.Pooling module, so the model makes no sentence embedding", m.Dir)
	}
	return nil
}

// poolingConfig is a Pooling module's config.json.
type poolingConfig struct {
	Dim          int  `json:"word_embedding_dimension"`
	CLS          bool `json:"pooling_mode_cls_token"`
	Mean         bool `json:"pooling_mode_mean_tokens"`
	Max          bool `json:"pooling_mode_max_tokens"`
	MeanSqrtLen  bool `json:"pooling_mode_mean_sqrt_len_tokens"`
	WeightedMean bool `json:"pooling_mode_weightedmean_tokens"`
	LastToken    bool `json:"pooling_mode_lasttoken"`
}

func (m *Model) readPooling(dir string) error {
	rel := "config.json"
	if dir != "" {
		rel = strings.TrimSuffix(filepath.ToSlash(dir), "/") + "/config.json"
	}
	var c poolingConfig
	ok, err := m.readJSON(rel, &c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("model directory %s: %s is missing (modules.json names %q as the Pooling module's path)", m.Dir, rel, dir)
	}
	var modes []string
	for _, mode := range []struct {
		on   bool
		name string
	}{
		{c.CLS, "cls_token"}, {c.Max, "max_tokens"}, {c.Mean, "mean_tokens"},
		{c.MeanSqrtLen, "mean_sqrt_len_tokens"}, {c.WeightedMean, "weightedmean_tokens"}, {c.LastToken, "lasttoken"},
	} {
		if mode.on {
			modes = append(modes, "pooling_mode_"+mode.name)
		}
	}
	switch {
	case len(modes) == 0:
		return fmt.Errorf("model directory %s: %s enables no pooling mode", m.Dir, rel)
	case len(modes) > 1:
		return fmt.Errorf("model directory %s: %s enables %s together; combined modes (concatenated vectors) are not supported", m.Dir, rel, strings.Join(modes, " and "))
	case c.CLS:
		m.Pooling = pooling.CLS
	case c.Mean:
		m.Pooling = pooling.Mean
	case c.Max:
		m.Pooling = pooling.Max
	default:
		return fmt.Errorf("model directory %s: %s: %s is not supported; supported modes are mean, cls and max", m.Dir, rel, modes[0])
	}
	if c.Dim < 0 {
		return fmt.Errorf("model directory %s: %s: word_embedding_dimension %d is negative", m.Dir, rel, c.Dim)
	}
	m.Dim, m.PoolingSource = c.Dim, rel
	return nil
}

// readMaxSeqLen settles max_seq_length the way sentence-transformers does:
// sentence_bert_config.json's max_seq_length, else the smaller of the
// tokenizer's model_max_length and the model's max_position_embeddings;
// an override from opts wins over both.
func (m *Model) readMaxSeqLen(opts Options) error {
	var model struct {
		MaxPositions int `json:"max_position_embeddings"`
	}
	if _, err := m.readJSON("config.json", &model); err != nil {
		return err
	}
	m.MaxPositions = max(model.MaxPositions, 0)

	var st struct {
		MaxSeqLen *int `json:"max_seq_length"`
		LowerCase bool `json:"do_lower_case"`
	}
	if _, err := m.readJSON("sentence_bert_config.json", &st); err != nil {
		return err
	}
	m.LowerCase = st.LowerCase

	switch {
	case opts.MaxSeqLen > 0:
		m.MaxSeqLen, m.MaxSeqLenSource = opts.MaxSeqLen, opts.MaxSeqLenSource
		if m.MaxSeqLenSource == "" {
			m.MaxSeqLenSource = "override"
		}
	case st.MaxSeqLen != nil:
		m.MaxSeqLen, m.MaxSeqLenSource = *st.MaxSeqLen, "sentence_bert_config.json"
	default:
		var tc struct {
			ModelMaxLength float64 `json:"model_max_length"`
		}
		if _, err := m.readJSON("tokenizer_config.json", &tc); err != nil {
			return err
		}
		// transformers writes a huge sentinel (1e30) for "no limit".
		if tc.ModelMaxLength > 0 && tc.ModelMaxLength < 1<<31 {
			m.MaxSeqLen, m.MaxSeqLenSource = int(tc.ModelMaxLength), "tokenizer_config.json model_max_length"
		}
		if m.MaxPositions > 0 && (m.MaxSeqLen == 0 || m.MaxPositions < m.MaxSeqLen) {
			m.MaxSeqLen, m.MaxSeqLenSource = m.MaxPositions, "config.json max_position_embeddings"
		}
		if m.MaxSeqLen == 0 {
			return fmt.Errorf("model directory %s: no max_seq_length: sentence_bert_config.json, tokenizer_config.json (model_max_length) and config.json (max_position_embeddings) give none; set one with an override", m.Dir)
		}
	}
	if m.MaxSeqLen < 2 {
		return fmt.Errorf("model directory %s: max_seq_length %d (from %s): want at least 2, room for [CLS] and [SEP]", m.Dir, m.MaxSeqLen, m.MaxSeqLenSource)
	}
	if m.MaxPositions > 0 && m.MaxSeqLen > m.MaxPositions {
		return fmt.Errorf("model directory %s: max_seq_length %d (from %s) exceeds config.json max_position_embeddings %d", m.Dir, m.MaxSeqLen, m.MaxSeqLenSource, m.MaxPositions)
	}
	return nil
}

// FileSHA256 returns the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
