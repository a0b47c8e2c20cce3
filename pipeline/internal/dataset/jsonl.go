package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonlSource reads one JSON object per line in either the arXiv metadata
// snapshot layout (categories a space-separated string, authors one
// string) or the split-file layout (lists), and also the Hugging Face
// field names (arxiv_id, primary_subject, subjects, submission_date).
type jsonlSource struct {
	r     *bufio.Reader
	close func() error
	line  int
}

// rawPaper holds the fields of either layout undecoded, so that each is
// checked for its JSON type with its name in the error.
type rawPaper struct {
	ID              json.RawMessage `json:"id"`
	ArxivID         json.RawMessage `json:"arxiv_id"`
	Title           json.RawMessage `json:"title"`
	Abstract        json.RawMessage `json:"abstract"`
	Authors         json.RawMessage `json:"authors"`
	Categories      json.RawMessage `json:"categories"`
	PrimaryCategory json.RawMessage `json:"primary_category"`
	PrimarySubject  json.RawMessage `json:"primary_subject"`
	Subjects        json.RawMessage `json:"subjects"`
	UpdateDate      json.RawMessage `json:"update_date"`
	SubmissionDate  json.RawMessage `json:"submission_date"`
	Comments        json.RawMessage `json:"comments"`
}

// jsonString is a JSON string or null. A value of another JSON type
// (an id written as a number, which loses leading zeros; a title that is
// an object) makes the record malformed rather than silently mis-read.
func jsonString(field string, raw json.RawMessage) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("field %q: want a string, got %s", field, kindOf(raw))
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("field %q: %w", field, err)
	}
	return v, nil
}

// jsonList is a JSON list of strings, or one string split by split, or
// null.
func jsonList(field string, raw json.RawMessage, split func(string) []string) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, err := jsonString(field, raw)
		return split(s), err
	case '[':
		var items []*string
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("field %q: want a list of strings", field)
		}
		var out []string
		for _, it := range items {
			if it != nil {
				out = append(out, *it)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("field %q: want a string or a list of strings, got %s", field, kindOf(raw))
}

func kindOf(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "a list"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

func (s *jsonlSource) Next() (Record, error) {
	for {
		line, err := s.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return Record{}, fmt.Errorf("read line %d: %w", s.line+1, err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, fmt.Errorf("read line %d: %w", s.line+1, err)
		}
		s.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // blank lines (a trailing newline) carry nothing
		}
		p, perr := decodeJSONPaper(line)
		if perr != nil {
			return Record{}, &RecordError{Unit: "line", Pos: s.line, Err: perr}
		}
		return Record{Pos: s.line, Paper: p, Raw: line}, nil
	}
}

func decodeJSONPaper(line []byte) (Paper, error) {
	if line[0] != '{' {
		return Paper{}, fmt.Errorf("not a JSON object")
	}
	var obj rawPaper
	if err := json.Unmarshal(line, &obj); err != nil {
		return Paper{}, fmt.Errorf("invalid JSON: %w", err)
	}
	var p Paper
	var err error
	str := func(field string, raw json.RawMessage) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = jsonString(field, raw)
		return v
	}
	list := func(field string, raw json.RawMessage, split func(string) []string) []string {
		if err != nil {
			return nil
		}
		var v []string
		v, err = jsonList(field, raw, split)
		return v
	}
	p.ID = str("id", obj.ID)
	arxivID := str("arxiv_id", obj.ArxivID)
	p.Title = str("title", obj.Title)
	p.Abstract = str("abstract", obj.Abstract)
	p.Authors = list("authors", obj.Authors, SplitAuthors)
	p.Categories = list("categories", obj.Categories, ParseCategories)
	subjects := list("subjects", obj.Subjects, ParseCategories)
	primary := str("primary_category", obj.PrimaryCategory)
	primarySubject := str("primary_subject", obj.PrimarySubject)
	p.UpdateDate = str("update_date", obj.UpdateDate)
	submitted := str("submission_date", obj.SubmissionDate)
	p.Comments = str("comments", obj.Comments)
	if err != nil {
		return Paper{}, err
	}
	if p.ID == "" {
		p.ID = arxivID
	}
	if p.UpdateDate == "" {
		p.UpdateDate = submitted
	}
	if len(p.Categories) == 0 {
		p.Categories = subjects
	}
	if primary == "" && primarySubject != "" {
		primary = categoryCode(primarySubject)
	}
	p.Categories = withPrimary(primary, p.Categories)
	return p, nil
}

// withPrimary puts primary first in cats (adding it when missing).
func withPrimary(primary string, cats []string) []string {
	if primary == "" {
		return cats
	}
	out := make([]string, 0, len(cats)+1)
	out = append(out, primary)
	for _, c := range cats {
		if c != primary {
			out = append(out, c)
		}
	}
	return out
}

func (s *jsonlSource) Close() error { return s.close() }
