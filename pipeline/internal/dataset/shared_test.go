package dataset

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/testshared"
)

// TestSharedSnapshot reads the start of the shared arXiv metadata file:
// every record is well-formed and usable.
func TestSharedSnapshot(t *testing.T) {
	const rel = "data/arxiv-metadata.jsonl.gz"
	const lines = 3000
	src, err := Open(filepath.Join(testshared.Dir(t, rel), rel), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := NewCleaner()
	primaries := map[string]bool{}
	for i := range lines {
		r, err := src.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		p := r.Paper
		if reason, ok := c.Clean(&p); !ok {
			t.Fatalf("line %d dropped: %s", r.Pos, reason)
		}
		if r.Pos != i+1 || len(p.Authors) == 0 || p.UpdateDate == "" || strings.ContainsAny(p.Abstract, "\n") {
			t.Fatalf("line %d read as %+v", r.Pos, p)
		}
		primaries[p.PrimaryCategory] = true
	}
	if len(primaries) < 20 {
		t.Errorf("%d primary categories in the first %d papers", len(primaries), lines)
	}
}
