package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestCategoryCounts(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	if got, err := s.CategoryCounts(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: CategoryCounts = %v, %v; want none", got, err)
	}
	p := func(n int, cats ...string) Paper {
		x := testPaper(n, 0)
		x.Categories = cats
		return x
	}
	mustUpsert(t, s, p(1, "cs.LG", "stat.ML"), p(2, "stat.ML"), p(3, "cs.LG"), p(4, "cs.CL", "cs.LG"), p(5))
	mustDelete(t, s, testPaper(3, 0).ID)
	got, err := s.CategoryCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []CategoryCount{
		{Category: "cs.LG", Primary: 1, Total: 2},
		{Category: "stat.ML", Primary: 1, Total: 2},
		{Category: "cs.CL", Primary: 1, Total: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CategoryCounts = %+v, want %+v", got, want)
	}
}

func TestValidateHelpers(t *testing.T) {
	good := testPaper(1, 0)
	if err := ValidatePaper(&good, testDim); err != nil {
		t.Errorf("ValidatePaper(good) = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Paper)
		want error
	}{
		{"empty id", func(p *Paper) { p.ID = "" }, ErrInvalidPaper},
		{"short vector", func(p *Paper) { p.Vector = p.Vector[:1] }, ErrDimensionMismatch},
		{"bad date", func(p *Paper) { p.UpdateDate = "2025-13-01" }, ErrInvalidPaper},
		{"category with space", func(p *Paper) { p.Categories = []string{"cs LG"} }, ErrInvalidPaper},
	}
	for _, tt := range tests {
		p := testPaper(1, 0)
		tt.edit(&p)
		if err := ValidatePaper(&p, testDim); !errors.Is(err, tt.want) {
			t.Errorf("%s: ValidatePaper = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := ValidateID("a b"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ValidateID(\"a b\") = %v, want ErrInvalidArgument", err)
	}
	if err := ValidateID("2501.00001"); err != nil {
		t.Errorf("ValidateID(good) = %v", err)
	}
	if err := ValidateCategory(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ValidateCategory(\"\") = %v, want ErrInvalidArgument", err)
	}
}
