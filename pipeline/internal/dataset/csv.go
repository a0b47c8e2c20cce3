package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Fields are the Paper fields a CSV column can be mapped to.
var Fields = []string{"id", "title", "abstract", "authors", "categories", "primary_category", "update_date", "comments"}

// fieldAliases are header names recognised without a mapping, after the
// field's own name.
var fieldAliases = map[string][]string{
	"id":               {"arxiv_id"},
	"categories":       {"subjects"},
	"primary_category": {"primary_subject"},
	"update_date":      {"submission_date"},
}

// ParseColumns parses a -columns flag value: "field=header,field=header".
func ParseColumns(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		field, header, ok := strings.Cut(kv, "=")
		field, header = strings.TrimSpace(field), strings.TrimSpace(header)
		if !ok || field == "" || header == "" {
			return nil, fmt.Errorf("column mapping %q: want field=header", kv)
		}
		if !slices.Contains(Fields, field) {
			return nil, fmt.Errorf("column mapping %q: unknown field %q (fields: %s)", kv, field, strings.Join(Fields, ", "))
		}
		out[field] = header
	}
	return out, nil
}

type csvSource struct {
	r     *csv.Reader
	close func() error
	col   map[string]int // field -> column index
}

func newCSVSource(r io.Reader, closer func() error, mapping map[string]string) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := index[h]; !dup {
			index[h] = i
		}
	}
	col := map[string]int{}
	for _, field := range Fields {
		if h, ok := mapping[field]; ok {
			i, found := index[h]
			if !found {
				return nil, fmt.Errorf("csv: column %q (mapped to %s) is not in the header %q", h, field, header)
			}
			col[field] = i
			continue
		}
		for _, name := range append([]string{field}, fieldAliases[field]...) {
			if i, ok := index[name]; ok {
				col[field] = i
				break
			}
		}
	}
	var missing []string
	for _, need := range []string{"id", "title", "abstract"} {
		if _, ok := col[need]; !ok {
			missing = append(missing, need)
		}
	}
	if _, ok := col["categories"]; !ok {
		if _, ok := col["primary_category"]; !ok {
			missing = append(missing, "categories or primary_category")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("csv: no column for %s in header %q; map them with -columns field=header", strings.Join(missing, ", "), header)
	}
	cr.FieldsPerRecord = len(header)
	return &csvSource{r: cr, close: closer, col: col}, nil
}

func (s *csvSource) Next() (Record, error) {
	row, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return Record{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Record{}, &RecordError{Unit: "line", Pos: pe.StartLine, Err: pe.Err}
		}
		return Record{}, fmt.Errorf("csv: %w", err)
	}
	line, _ := s.r.FieldPos(0)
	get := func(field string) string {
		if i, ok := s.col[field]; ok {
			return row[i]
		}
		return ""
	}
	p := Paper{
		ID:         get("id"),
		Title:      get("title"),
		Abstract:   get("abstract"),
		Authors:    SplitAuthors(get("authors")),
		Categories: ParseCategories(get("categories")),
		UpdateDate: get("update_date"),
		Comments:   get("comments"),
	}
	p.Categories = withPrimary(categoryCode(get("primary_category")), p.Categories)
	return Record{Pos: line, Paper: p}, nil
}

func (s *csvSource) Close() error { return s.close() }
