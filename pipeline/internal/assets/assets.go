// Package assets embeds the files the pipeline ships in its binary: the
// BERT uncased WordPiece tokenizer of all-MiniLM-L6-v2 (Apache-2.0, see
// tokenizer/NOTICE), which is the embedder's tokenizer, so that training
// and export need nothing outside the repository.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

//go:embed tokenizer
var files embed.FS

// TokenizerFiles are the tokenizer files a model directory carries.
var TokenizerFiles = []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "NOTICE"}

// WriteTokenizer copies the embedded tokenizer files into dir.
func WriteTokenizer(dir string) error {
	for _, name := range TokenizerFiles {
		b, err := files.ReadFile("tokenizer/" + name)
		if err != nil {
			return err
		}
		out := name
		if name == "NOTICE" {
			out = "NOTICE.tokenizer"
		}
		if err := os.WriteFile(filepath.Join(dir, out), b, 0o644); err != nil {
			return fmt.Errorf("write tokenizer file: %w", err)
		}
	}
	return nil
}

// CopyTokenizer copies the tokenizer files of srcDir (those of
// TokenizerFiles it has, NOTICE as NOTICE.tokenizer) into dstDir. It
// fails when srcDir has neither tokenizer.json nor vocab.txt.
func CopyTokenizer(srcDir, dstDir string) error {
	copied := 0
	for _, name := range append(slices.Clone(TokenizerFiles), "NOTICE.tokenizer") {
		b, err := os.ReadFile(filepath.Join(srcDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("copy tokenizer: %w", err)
		}
		out := name
		if name == "NOTICE" {
			out = "NOTICE.tokenizer"
		}
		if name == "tokenizer.json" || name == "vocab.txt" {
			copied++
		}
		if err := os.WriteFile(filepath.Join(dstDir, out), b, 0o644); err != nil {
			return fmt.Errorf("copy tokenizer: %w", err)
		}
	}
	if copied == 0 {
		return fmt.Errorf("copy tokenizer: %s has no tokenizer.json or vocab.txt", srcDir)
	}
	return nil
}

// LoadTokenizer loads the embedded tokenizer, or the one in dir when dir
// is not empty.
func LoadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	if dir != "" {
		return tokenizer.Load(dir)
	}
	tmp, err := os.MkdirTemp("", "arxivsearch-tokenizer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := WriteTokenizer(tmp); err != nil {
		return nil, err
	}
	return tokenizer.Load(tmp)
}

// VocabSHA256 hashes the vocabulary of the embedded tokenizer, or of
// dir's tokenizer files when dir is not empty.
func VocabSHA256(dir string) (string, error) {
	h := sha256.New()
	var fsys fs.FS = files
	prefix := "tokenizer/"
	if dir != "" {
		fsys, prefix = os.DirFS(dir), ""
	}
	found := false
	for _, name := range []string{"tokenizer.json", "vocab.txt", "tokenizer_config.json"} {
		b, err := fs.ReadFile(fsys, prefix+name)
		if err != nil {
			continue
		}
		found = true
		h.Write([]byte(name))
		h.Write(b)
	}
	if !found {
		return "", fmt.Errorf("no tokenizer files in %s", dir)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
