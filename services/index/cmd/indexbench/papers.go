package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strings"

	"github.com/arxivsearch/arxivsearch/platform/searchphrases"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
)

// textPaper is a paper without its vector.
type textPaper struct {
	ID, Title, Abstract string
	Authors, Categories []string
	UpdateDate          string
	// Copy is true for a paper that repeats an earlier one under a new id,
	// to reach the asked-for size.
	Copy bool
}

func (p *textPaper) proto(vector []float32) *indexv1.Paper {
	return &indexv1.Paper{Id: p.ID, Title: p.Title, Abstract: p.Abstract, Authors: p.Authors,
		Categories: p.Categories, UpdateDate: p.UpdateDate, Vector: vector}
}

// queryText is a "find papers like this one" query: title and abstract
// as the loadtest's long searches send them.
func (p *textPaper) queryText() string { return p.Title + ". " + p.Abstract }

// readPapers reads up to n papers of an arXiv metadata JSONL file (gzipped
// or not), the layout of ../shared/data/arxiv-metadata.jsonl.gz: id,
// title, abstract, comma-joined authors, space-separated categories with
// the primary first, update_date. White space is collapsed as the
// pipeline's cleaner does; papers without id, text or category are
// skipped. If the file holds fewer than n papers, the rest are copies of
// the file's papers under new ids (Copy set), so that lexical posting
// lists grow as real text would, only with more exact duplicates.
func readPapers(path string, n int) ([]textPaper, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	dec := json.NewDecoder(r)
	var out []textPaper
	for len(out) < n {
		var rec struct {
			ID, Title, Abstract, Authors, Categories string
			UpdateDate                               string `json:"update_date"`
		}
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, len(out)+1, err)
		}
		p := textPaper{ID: strings.TrimSpace(rec.ID), Title: collapse(rec.Title), Abstract: collapse(rec.Abstract),
			Categories: strings.Fields(rec.Categories), UpdateDate: rec.UpdateDate}
		for a := range strings.SplitSeq(rec.Authors, ",") {
			if a = collapse(a); a != "" {
				p.Authors = append(p.Authors, a)
			}
		}
		if p.ID == "" || p.Title == "" || p.Abstract == "" || len(p.Categories) == 0 {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no papers", path)
	}
	real := len(out)
	for i := 0; len(out) < n; i++ {
		p := out[i%real]
		p.ID = fmt.Sprintf("copy%d-%s", i/real+1, p.ID)
		p.Copy = true
		out = append(out, p)
	}
	return out, nil
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// shortQueries are the load test's search phrases.
var shortQueries = searchphrases.Short

// sampleOriginals returns nq distinct indexes of papers that are not
// copies, drawn with seed.
func sampleOriginals(papers []textPaper, nq int, seed int64) []int {
	var orig []int
	for i := range papers {
		if !papers[i].Copy {
			orig = append(orig, i)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	rng.Shuffle(len(orig), func(i, j int) { orig[i], orig[j] = orig[j], orig[i] })
	return orig[:min(nq, len(orig))]
}
