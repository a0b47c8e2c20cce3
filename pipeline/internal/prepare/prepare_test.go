package prepare

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/split"
)

func input(t *testing.T) string {
	t.Helper()
	var lines []string
	for i := range 40 {
		cat := "cs.CV"
		if i%4 == 0 {
			cat = "math.AG cs.LG"
		}
		lines = append(lines, fmt.Sprintf(`{"id": "2501.%05d", "authors": "A One and B Two", "title": "Paper\n %d", "comments": null, "categories": %q, "abstract": "Abstract\nnumber %d.", "update_date": "2025-01-01"}`, i, i, cat, i))
	}
	lines = append(lines,
		`{"id": "2501.00003v2", "title": "dup id", "abstract": "x", "categories": "cs.CV"}`, // line 41: duplicate id
		`{"id": 2501.1, "title": "bad"}`,                                            // line 42: malformed
		`{"id": "2501.99999", "title": "", "abstract": "x", "categories": "cs.CV"}`, // line 43: empty title
		`{"id": "2501.99998", "title": "no abstract", "categories": "cs.CV"}`,       // line 44: empty abstract
		`not json at all`, // line 45: malformed
	)
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func opts(in, out string) Options {
	discard := slog.New(slog.DiscardHandler)
	return Options{Input: in, OutDir: out, Seed: 42, Fractions: split.Default, OnError: Skip, Gzip: true,
		Log: discard, Progress: []progress.Option{progress.WithLogger(discard), progress.WithTTY(false)}}
}

func TestRunSkip(t *testing.T) {
	in := input(t)
	out := t.TempDir()
	res, err := Run(context.Background(), opts(in, out))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.Records.Read != 43 || m.Records.Malformed != 2 || m.Records.Kept != 40 {
		t.Errorf("records %+v", m.Records)
	}
	want := map[string]int{dataset.DropDuplicateID: 1, dataset.DropEmptyTitle: 1, dataset.DropEmptyAbstract: 1}
	if fmt.Sprint(m.Records.Dropped) != fmt.Sprint(want) {
		t.Errorf("dropped %v, want %v", m.Records.Dropped, want)
	}
	counts := map[string]int{}
	for _, s := range m.Splits {
		counts[s.Name] = s.Count
		if _, err := os.Stat(filepath.Join(out, s.File)); err != nil {
			t.Error(err)
		}
	}
	if counts["test"] != 8 || counts["eval"] != 7 || counts["train"] != 25 { // ceil(0.2*40)=8, ceil(0.2*32)=7
		t.Errorf("split sizes %v", counts)
	}
	train, err := dataset.ReadSplit(out, dataset.Train)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range train {
		if strings.Contains(p.Title, "\n") || len(p.Authors) != 2 || p.PrimaryCategory != p.Categories[0] {
			t.Errorf("paper not cleaned: %+v", p)
		}
	}
	for _, f := range []string{"stats.md", "stats.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if m.Source.SHA256 == "" || m.Source.Format != dataset.FormatJSONL {
		t.Errorf("source %+v", m.Source)
	}
	// A second run gives byte-identical split files.
	out2 := t.TempDir()
	res2, err := Run(context.Background(), opts(in, out2))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range res2.Manifest.Splits {
		if s.SHA256 != m.Splits[i].SHA256 {
			t.Errorf("%s differs between runs", s.Name)
		}
	}
}

func TestRunFailNamesLine(t *testing.T) {
	o := opts(input(t), t.TempDir())
	o.OnError = Fail
	_, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "line 42") {
		t.Errorf("Run = %v, want a failure at line 42", err)
	}
}

func TestRunCapPerCategory(t *testing.T) {
	o := opts(input(t), t.TempDir())
	o.MaxPerCategory = 5
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Records.Kept != 10 || res.Manifest.Records.Dropped[DropCategoryCap] != 30 {
		t.Errorf("records %+v", res.Manifest.Records)
	}
	for _, c := range res.Stats.Categories {
		if c.Total != 5 {
			t.Errorf("%s has %d papers, cap 5", c.Name, c.Total)
		}
	}
}

func TestRunErrors(t *testing.T) {
	o := opts(filepath.Join(t.TempDir(), "missing.jsonl"), t.TempDir())
	if _, err := Run(context.Background(), o); err == nil {
		t.Error("missing input accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, []byte("not json\n"), 0o644)
	if _, err := Run(context.Background(), opts(empty, t.TempDir())); err == nil || !strings.Contains(err.Error(), "no usable records") {
		t.Errorf("empty input: %v", err)
	}
	bad := opts(input(t), t.TempDir())
	bad.Fractions.Test = 1
	if _, err := Run(context.Background(), bad); err == nil {
		t.Error("test fraction 1 accepted")
	}
}
