package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ManifestFile is the name of a prepared directory's manifest.
const ManifestFile = "manifest.json"

// Split names.
const (
	Train = "train"
	Eval  = "eval"
	Test  = "test"
)

// Manifest describes a prepared directory: where its data came from, how
// it was cleaned and split, and what each split file holds.
type Manifest struct {
	SchemaVersion int          `json:"schema_version"`
	Source        SourceInfo   `json:"source"`
	Seed          uint64       `json:"seed"`
	TestFraction  float64      `json:"test_fraction"`
	EvalFraction  float64      `json:"eval_fraction"`
	MaxPerCat     int          `json:"max_per_category"`
	OnError       string       `json:"on_error"`
	Records       RecordCounts `json:"records"`
	Splits        []SplitInfo  `json:"splits"`
	Tool          string       `json:"tool"`
}

// SourceInfo identifies the input file.
type SourceInfo struct {
	Path   string `json:"path"`
	Format Format `json:"format"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// RecordCounts says what happened to the input records.
type RecordCounts struct {
	Read      int            `json:"read"`      // well-formed records
	Malformed int            `json:"malformed"` // skipped with -on-error skip
	Dropped   map[string]int `json:"dropped"`   // by reason, including category_cap
	Unescaped int            `json:"html_entities_decoded"`
	Kept      int            `json:"kept"`
}

// SplitInfo is one split file.
type SplitInfo struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Count  int    `json:"count"`
	SHA256 string `json:"sha256"`
}

// CurrentSchema is the split-file schema version this code writes.
const CurrentSchema = 1

// ReadManifest reads dir's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("prepared data: %w (run arxivsearch prepare first)", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("prepared data %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.SchemaVersion != CurrentSchema {
		return nil, fmt.Errorf("prepared data %s: schema version %d, this build reads %d", dir, m.SchemaVersion, CurrentSchema)
	}
	return &m, nil
}

// Split returns the named split's entry.
func (m *Manifest) Split(name string) (SplitInfo, error) {
	for _, s := range m.Splits {
		if s.Name == name {
			return s, nil
		}
	}
	return SplitInfo{}, fmt.Errorf("prepared data has no %q split", name)
}

// ReadSplit reads one split of a prepared directory.
func ReadSplit(dir, name string) ([]Paper, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	s, err := m.Split(name)
	if err != nil {
		return nil, err
	}
	papers, err := ReadFile(filepath.Join(dir, s.File))
	if err != nil {
		return nil, err
	}
	if len(papers) != s.Count {
		return nil, fmt.Errorf("%s: %d papers, the manifest says %d", s.File, len(papers), s.Count)
	}
	return papers, nil
}
