package hub

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// ErrNoONNX reports a repository without the ONNX model asked for.
var ErrNoONNX = errors.New("no ONNX model")

// defaultONNX lists where sentence-transformers puts the ONNX export
// (backend="onnx"), in the order it looks: optimum's export into onnx/, then
// an older export at the top level.
var defaultONNX = []string{"onnx/model.onnx", "model.onnx"}

// tokenizerFiles are the files the embedder's tokenizer can load from; a
// model needs at least one of them.
var tokenizerFiles = []string{"tokenizer.json", "vocab.txt"}

// optionalFiles are the tokenizer and sentence-transformers configuration
// files, fetched when the repository has them.
var optionalFiles = []string{
	"tokenizer.json",
	"tokenizer_config.json",
	"vocab.txt",
	"special_tokens_map.json",
	"config.json",
	"sentence_bert_config.json",
	"modules.json",
	"config_sentence_transformers.json",
}

// remoteFile is a file of a repository as the listing describes it.
type remoteFile struct {
	name   string // repository-relative, slash-separated
	size   int64
	sha256 string // hex digest of the content for LFS files, else empty
}

// selectFiles picks from a repository's files those the embedder runs from,
// the ONNX model last and its external data just before it, so that a
// snapshot that has the model file has everything the model needs. onnxFile
// is the ONNX model asked for, empty for the default. It returns the
// selection and the ONNX model's name.
func selectFiles(repoID string, all []remoteFile, onnxFile string) ([]remoteFile, string, error) {
	byName := make(map[string]remoteFile, len(all))
	for _, f := range all {
		byName[f.name] = f
	}
	onnx, err := pickONNX(repoID, byName, onnxFile)
	if err != nil {
		return nil, "", err
	}
	if !slices.ContainsFunc(tokenizerFiles, func(n string) bool { _, ok := byName[n]; return ok }) {
		return nil, "", fmt.Errorf("hub: %s has neither tokenizer.json nor vocab.txt, and the embedder needs one: %w", repoID, ErrNotFound)
	}

	var files []remoteFile
	for _, n := range optionalFiles {
		if f, ok := byName[n]; ok {
			files = append(files, f)
		}
	}
	// The pooling and normalisation modules of modules.json keep their
	// settings in numbered directories such as 1_Pooling/config.json. Other
	// modules (Dense layers) hold PyTorch weights the ONNX model cannot use.
	var modules []remoteFile
	for _, f := range all {
		dir, file := path.Split(f.name)
		dir = strings.TrimSuffix(dir, "/")
		if !strings.Contains(dir, "/") && (strings.HasSuffix(dir, "_Pooling") || strings.HasSuffix(dir, "_Normalize")) && path.Ext(file) == ".json" {
			modules = append(modules, f)
		}
	}
	slices.SortFunc(modules, func(a, b remoteFile) int { return strings.Compare(a.name, b.name) })
	files = append(files, modules...)
	// A model over 2 GB keeps its weights in an external data file beside it,
	// named by optimum (model.onnx_data) or by torch.onnx (model.onnx.data).
	for _, n := range []string{onnx + "_data", onnx + ".data"} {
		if f, ok := byName[n]; ok {
			files = append(files, f)
		}
	}
	return append(files, byName[onnx]), onnx, nil
}

// pickONNX chooses the ONNX model: onnxFile when given, else the first of
// defaultONNX the repository has.
func pickONNX(repoID string, byName map[string]remoteFile, onnxFile string) (string, error) {
	if onnxFile != "" {
		if _, ok := byName[onnxFile]; ok {
			return onnxFile, nil
		}
	} else {
		for _, n := range defaultONNX {
			if _, ok := byName[n]; ok {
				return n, nil
			}
		}
	}
	var found []string
	for n := range byName {
		if path.Ext(n) == ".onnx" {
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("hub: %s: this repository has no ONNX export; export one with optimum or pick a repo with onnx/model.onnx: %w", repoID, ErrNoONNX)
	}
	slices.Sort(found)
	want := onnxFile
	if want == "" {
		want = strings.Join(defaultONNX, " or ")
	}
	return "", fmt.Errorf("hub: %s has no %s; pick one of its ONNX files (%s) with the ONNX file option: %w",
		repoID, want, strings.Join(found, ", "), ErrNoONNX)
}
