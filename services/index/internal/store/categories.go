package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// CategoryCount is the number of papers listed in one category.
type CategoryCount struct {
	Category string
	// Primary counts papers whose primary category this is; Total those
	// listed in it, primary or cross-listed.
	Primary, Total int64
}

// CategoryCounts counts papers per category, by descending Total, ties by
// name. It reads every category row once; callers that ask often should
// cache the result by Version.
func (s *Store) CategoryCounts(ctx context.Context) ([]CategoryCount, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.readers.QueryContext(ctx, `SELECT c.category, count(*),
			sum(p.primary_category = c.category)
		FROM paper_categories AS c JOIN papers AS p USING (key)
		GROUP BY c.category`)
	if err != nil {
		return nil, fmt.Errorf("store: category counts: %w", err)
	}
	defer rows.Close()
	var out []CategoryCount
	for rows.Next() {
		var c CategoryCount
		if err := rows.Scan(&c.Category, &c.Total, &c.Primary); err != nil {
			return nil, fmt.Errorf("store: category counts: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: category counts: %w", err)
	}
	slices.SortFunc(out, func(a, b CategoryCount) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Category, b.Category)
	})
	return out, nil
}

// ValidatePaper checks p as Upsert would for a store of dimension dim,
// without writing anything, so that a caller spreading a batch over several
// stores can reject it before any of them commits. Errors wrap
// ErrInvalidPaper (and ErrDimensionMismatch for a vector of the wrong
// length).
func ValidatePaper(p *Paper, dim int) error {
	_, err := encodePaper(p, dim)
	return err
}

// ValidateID checks an arXiv id as Delete would; errors wrap
// ErrInvalidArgument.
func ValidateID(id string) error {
	if err := validateID(id); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	return nil
}

// ValidateCategory checks a category filter entry as KeysInCategories and
// SearchLexical would; errors wrap ErrInvalidArgument.
func ValidateCategory(c string) error {
	if err := validateCategory(c); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	return nil
}
