package store

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on paper fields. They are far above anything arXiv produces and
// exist to reject garbage early with a clear error.
const (
	maxIDBytes       = 128
	maxCategoryBytes = 64
)

// Paper is one paper with its embedding.
type Paper struct {
	// Key is the store's numeric key and FAISS id. Upsert ignores it and
	// assigns keys; reads fill it in.
	Key int64
	// ID is the arXiv id, e.g. "2503.01234" or "hep-th/9901001". Required;
	// it must not contain white space or control characters.
	ID       string
	Title    string
	Abstract string
	Authors  []string
	// Categories are the arXiv categories, primary first. Duplicates are
	// dropped on write (first occurrence kept); each must be non-empty and
	// free of white space.
	Categories []string
	// UpdateDate is the date of the last update as YYYY-MM-DD, or empty.
	UpdateDate string
	Comments   string
	// Vector is the embedding, exactly Store.Dim finite values. Reads fill
	// it only when asked to.
	Vector []float32
	// Version is the store version that created Key. Reads fill it in.
	Version int64
}

// PrimaryCategory returns the first category, or "" if there is none.
func (p *Paper) PrimaryCategory() string {
	if len(p.Categories) == 0 {
		return ""
	}
	return p.Categories[0]
}

// encodedPaper is a validated paper in its stored form.
type encodedPaper struct {
	id, title, abstract, comments string
	authors                       string   // JSON array
	categories                    string   // space-separated
	cats                          []string // the same, split and de-duplicated
	primary                       string
	updateDate                    string
	vector                        []byte // little-endian float32
}

// sameMetadata reports whether e's metadata is exactly the stored values given.
func (e *encodedPaper) sameMetadata(title, abstract, authors, categories, updateDate, comments string) bool {
	return e.title == title && e.abstract == abstract && e.authors == authors &&
		e.categories == categories && e.updateDate == updateDate && e.comments == comments
}

// encodePaper validates p for a store of dimension dim and converts it to
// its stored form. Errors wrap ErrInvalidPaper, and ErrDimensionMismatch for
// a vector of the wrong length.
func encodePaper(p *Paper, dim int) (encodedPaper, error) {
	if err := validateID(p.ID); err != nil {
		return encodedPaper{}, err
	}
	for _, f := range [...]struct{ name, value string }{
		{"title", p.Title}, {"abstract", p.Abstract}, {"comments", p.Comments},
	} {
		if !utf8.ValidString(f.value) {
			return encodedPaper{}, fmt.Errorf("%s is not valid UTF-8: %w", f.name, ErrInvalidPaper)
		}
	}
	for i, a := range p.Authors {
		if !utf8.ValidString(a) {
			return encodedPaper{}, fmt.Errorf("author %d is not valid UTF-8: %w", i, ErrInvalidPaper)
		}
	}
	cats := make([]string, 0, len(p.Categories))
	seen := make(map[string]bool, len(p.Categories))
	for _, c := range p.Categories {
		if err := validateCategory(c); err != nil {
			return encodedPaper{}, fmt.Errorf("%w: %w", err, ErrInvalidPaper)
		}
		if !seen[c] {
			seen[c] = true
			cats = append(cats, c)
		}
	}
	if p.UpdateDate != "" {
		if _, err := time.Parse(time.DateOnly, p.UpdateDate); err != nil || len(p.UpdateDate) != len(time.DateOnly) {
			return encodedPaper{}, fmt.Errorf("update date %q is not YYYY-MM-DD: %w", p.UpdateDate, ErrInvalidPaper)
		}
	}
	vec, err := encodeVector(p.Vector, dim)
	if err != nil {
		return encodedPaper{}, err
	}
	authors := p.Authors
	if authors == nil {
		authors = []string{}
	}
	authorsJSON, err := json.Marshal(authors)
	if err != nil {
		return encodedPaper{}, fmt.Errorf("encode authors: %w: %w", err, ErrInvalidPaper)
	}
	e := encodedPaper{
		id:         p.ID,
		title:      p.Title,
		abstract:   p.Abstract,
		authors:    string(authorsJSON),
		categories: strings.Join(cats, " "),
		updateDate: p.UpdateDate,
		comments:   p.Comments,
		cats:       cats,
		vector:     vec,
	}
	if len(cats) > 0 {
		e.primary = cats[0]
	}
	return e, nil
}

func validateID(id string) error {
	if id == "" {
		return fmt.Errorf("empty id: %w", ErrInvalidPaper)
	}
	if len(id) > maxIDBytes {
		return fmt.Errorf("id of %d bytes exceeds %d: %w", len(id), maxIDBytes, ErrInvalidPaper)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("id %q is not valid UTF-8: %w", id, ErrInvalidPaper)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("id %q contains white space or a control character: %w", id, ErrInvalidPaper)
	}
	return nil
}

// validateCategory checks one category; categories are stored space-separated,
// so they must not contain white space.
func validateCategory(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("empty category")
	case len(c) > maxCategoryBytes:
		return fmt.Errorf("category of %d bytes exceeds %d", len(c), maxCategoryBytes)
	case !utf8.ValidString(c):
		return fmt.Errorf("category %q is not valid UTF-8", c)
	case strings.IndexFunc(c, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("category %q contains white space or a control character", c)
	}
	return nil
}

// encodeVector checks v and encodes it as little-endian float32, the layout
// FAISS and numpy use, so the blob is portable across hosts.
func encodeVector(v []float32, dim int) ([]byte, error) {
	if len(v) != dim {
		return nil, fmt.Errorf("vector has %d dimensions, want %d: %w: %w",
			len(v), dim, ErrInvalidPaper, ErrDimensionMismatch)
	}
	b := make([]byte, 4*len(v))
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("vector[%d] is %v: %w", i, f, ErrInvalidPaper)
		}
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b, nil
}

// decodeVector decodes a stored vector, checking its length against dim so
// that a corrupt row fails loudly instead of feeding FAISS garbage.
func decodeVector(b []byte, dim int) ([]float32, error) {
	if len(b) != 4*dim {
		return nil, fmt.Errorf("stored vector has %d bytes, want %d", len(b), 4*dim)
	}
	v := make([]float32, dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// paperColumns are the columns scanned by scanPaper, less the vector, which
// callers append (or NULL in its place).
const paperColumns = `key, arxiv_id, title, abstract, authors, categories, update_date, comments, version`

// scanPaper reads a row of paperColumns followed by the vector or NULL.
func scanPaper(row *sql.Rows, dim int) (Paper, error) {
	var p Paper
	var authors, categories string
	var vec sql.RawBytes // decoded before the next row overwrites it
	if err := row.Scan(&p.Key, &p.ID, &p.Title, &p.Abstract, &authors, &categories,
		&p.UpdateDate, &p.Comments, &p.Version, &vec); err != nil {
		return Paper{}, err
	}
	if authors != "[]" {
		if err := json.Unmarshal([]byte(authors), &p.Authors); err != nil {
			return Paper{}, fmt.Errorf("paper %q: decode authors: %w", p.ID, err)
		}
	}
	if categories != "" {
		p.Categories = strings.Fields(categories)
	}
	if vec != nil {
		v, err := decodeVector(vec, dim)
		if err != nil {
			return Paper{}, fmt.Errorf("paper %q (key %d): %w", p.ID, p.Key, err)
		}
		p.Vector = v
	}
	return p, nil
}

// jsonInts renders keys as a JSON array for json_each, which lets a batch of
// any size be one statement with one parameter.
func jsonInts(keys []int64) string {
	var b bytes.Buffer
	b.Grow(len(keys)*8 + 2)
	b.WriteByte('[')
	var buf [20]byte
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(strconv.AppendInt(buf[:0], k, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// jsonStrings renders ss as a JSON array for json_each.
func jsonStrings(ss []string) (string, error) {
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
