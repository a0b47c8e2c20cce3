package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// lexicalCorpus is a small shard with known text.
func lexicalCorpus(t *testing.T) (*Store, map[string]int64) {
	t.Helper()
	s := openTest(t, testPath(t))
	mk := func(n int, title, abstract string, cats ...string) Paper {
		p := testPaper(n, 0)
		p.Title, p.Abstract, p.Categories = title, abstract, cats
		return p
	}
	papers := []Paper{
		mk(1, "Graph neural networks for molecules", "We learn molecular properties with message passing.", "cs.LG", "q-bio.BM"),
		mk(2, "A survey of optimization", "Neural network training uses stochastic gradient descent.", "math.OC"),
		mk(3, "Spectral theory of Schrödinger operators", "We bound eigenvalues of the operator.", "math-ph", "math.MP"),
		mk(4, "Dark matter halos", "N-body simulations of galaxy formation.", "astro-ph.CO"),
		mk(5, "深度学习 for physics", "Learned surrogates for PDEs; see arXiv:2101.00001.", "physics.comp-ph", "cs.LG"),
		mk(6, "Erdős problems in combinatorics", "On the Erdos-Renyi random graph and NEAR-optimal bounds.", "math.CO"),
		mk(7, "The the the", "of and in", "cs.CL"),
	}
	res := mustUpsert(t, s, papers...)
	keys := make(map[string]int64)
	for i, p := range papers {
		keys[p.ID] = res.Items[i].Key
	}
	return s, keys
}

func hitIDs(hits []LexicalHit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

func TestSearchLexical(t *testing.T) {
	ctx := context.Background()
	s, keys := lexicalCorpus(t)
	id := func(n int) string { return testPaper(n, 0).ID }
	tests := []struct {
		name       string
		query      string
		k          int
		categories []string
		want       []string // in rank order; nil: no hits
		unordered  bool     // the hits tie or their order is BM25's business
	}{
		{"title outranks abstract", "neural networks", 10, nil, []string{id(1), id(2)}, false},
		{"stemming", "network", 10, nil, []string{id(1), id(2)}, false},
		{"stemming of verbs", "learning", 10, nil, []string{id(1), id(5)}, true},
		{"diacritics folded in the query", "Schrodinger", 10, nil, []string{id(3)}, false},
		{"diacritics folded in the text", "Erdős", 10, nil, []string{id(6)}, false},
		{"case", "DARK MATTER", 10, nil, []string{id(4)}, false},
		{"any term matches", "galaxy eigenvalues", 10, nil, []string{id(3), id(4)}, true},
		{"k limits", "neural networks", 1, nil, []string{id(1)}, false},
		{"category filter on a cross-list", "learned", 10, []string{"cs.LG"}, []string{id(1), id(5)}, true},
		{"category filter excludes", "neural", 10, []string{"math.OC"}, []string{id(2)}, false},
		{"category filter, no match", "neural", 10, []string{"hep-th"}, nil, false},
		{"CJK run", "深度学习", 10, nil, []string{id(5)}, false},
		{"operator words are terms", "NEAR", 10, nil, []string{id(6)}, false},
		{"only stop words still search", "the", 10, nil, []string{id(3), id(6), id(7)}, true},
		{"stop words dropped when others exist", "the dark", 10, nil, []string{id(4)}, false},
		{"no words", "  !?  ", 10, nil, nil, false},
		{"unknown word", "xylophone", 10, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := s.SearchLexical(ctx, tt.query, tt.k, tt.categories)
			if err != nil {
				t.Fatal(err)
			}
			got := hitIDs(hits)
			if tt.unordered {
				slices.Sort(got)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SearchLexical(%q) = %v, want %v", tt.query, got, tt.want)
			}
			for i, h := range hits {
				if h.Key != keys[h.ID] {
					t.Errorf("hit %s has key %d, want %d", h.ID, h.Key, keys[h.ID])
				}
				if i > 0 && h.Score > hits[i-1].Score {
					t.Errorf("hits not sorted by score: %v", hits)
				}
			}
		})
	}

	for _, k := range []int{0, -1, MaxLexicalK + 1} {
		if _, err := s.SearchLexical(ctx, "neural", k, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("k = %d: err = %v, want ErrInvalidArgument", k, err)
		}
	}
	if _, err := s.SearchLexical(ctx, "neural", 5, []string{"bad category"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad category: err = %v, want ErrInvalidArgument", err)
	}
}

// adversarialQueries are user strings that would be FTS5 syntax errors, or
// worse, if passed through as a MATCH expression.
var adversarialQueries = []string{
	``,
	` `,
	`"`,
	`""`,
	`"neural`,
	`neural"`,
	`'`,
	`it's a "quoted phrase" with 'single' quotes`,
	`*`,
	`neur*`,
	`^neural`,
	`title:neural`,
	`abstract : graph`,
	`{title abstract}: networks`,
	`- neural`,
	`NOT`,
	`AND`,
	`OR OR OR`,
	`neural AND`,
	`AND neural OR NOT networks`,
	`NEAR`,
	`NEAR(neural networks, 2)`,
	`NEAR(`,
	`(neural`,
	`neural)`,
	`((()))`,
	`a + b`,
	`$\alpha + \beta^{2}_{i}$ \mathcal{O}(n \log n)`,
	`\frac{1}{2} \sqrt{x}`,
	`f(x) = x^2; SELECT * FROM papers; --`,
	`'); DROP TABLE papers; --`,
	`🚀🔥 graph 🧠`,
	`🚀`,
	`深度学习`,
	`機械学習と深層学習`,
	`Schrödinger`,
	"e\u0301",      // decomposed é
	"\u0301\u0301", // combining marks only
	"\x00neural\x00",
	"bad \xff\xfe utf8",
	"\u200b\u200d\ufeff", // zero-width characters
	"\u202eRTL override", // bidi control
	"טרנספורמרים ורשתות", // Hebrew
	"трансформеры графы", // Cyrillic
	"Ωμέγα-3 αλφα",       // Greek
	`arXiv:2101.00001v2`,
	`hep-th/9901001`,
	`C++ C# F# .NET`,
	`\"`,
	`\\`,
	`%_%`,
	`:`,
	`col:`,
	`neural:networks:graph`,
	strings.Repeat("neural ", 1000),
	strings.Repeat("x", 10000),
	strings.Repeat(`"(`, 500),
	strings.Repeat("w", 200) + " neural",
}

func TestSearchLexicalAdversarial(t *testing.T) {
	if len(adversarialQueries) < 30 {
		t.Fatalf("only %d adversarial queries", len(adversarialQueries))
	}
	ctx := context.Background()
	s, _ := lexicalCorpus(t)
	for i, q := range adversarialQueries {
		name := fmt.Sprintf("%d:%.20q", i, q)
		t.Run(name, func(t *testing.T) {
			for _, cats := range [][]string{nil, {"cs.LG", "math.OC"}} {
				hits, err := s.SearchLexical(ctx, q, 10, cats)
				if err != nil {
					t.Fatalf("SearchLexical(%q): %v (FTS query %q)", q, err, lexicalQuery(q))
				}
				if len(hits) > 10 {
					t.Errorf("%d hits for k = 10", len(hits))
				}
			}
		})
	}
	// Some of them contain real words and must still find papers.
	for _, q := range []string{`"neural`, `neur* networks`, `title:neural`, `NEAR(neural networks, 2)`,
		`🚀🔥 graph 🧠`, `(neural`, strings.Repeat("neural ", 1000), strings.Repeat("w", 200) + " neural"} {
		if hits, err := s.SearchLexical(ctx, q, 10, nil); err != nil || len(hits) == 0 {
			t.Errorf("SearchLexical(%q) = %v, %v; want hits", q, hits, err)
		}
	}
}

func TestLexicalQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"!!", ""},
		{"Neural  networks", `"neural" OR "networks"`},
		{"neural neural NEURAL", `"neural"`},
		{`title:neural`, `"title" OR "neural"`},
		{`NEAR(a b, 2)`, `"near" OR "b" OR "2"`},
		{"the of", `"the" OR "of"`},
		{"e\u0301t\u0301e\u0301", "\"e\u0301t\u0301e\u0301\""},
		{"\u0301x", `"x"`},
		{"深度学习 ok", `"深度学习" OR "ok"`},
		{"$\\alpha_{2}$", `"alpha" OR "2"`},
	}
	for _, tt := range tests {
		if got := lexicalQuery(tt.in); got != tt.want {
			t.Errorf("lexicalQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	many := strings.Repeat("w", 200) + " " + strings.Repeat("x ", 5)
	for i := range 100 {
		many += fmt.Sprintf(" t%d", i)
	}
	if got := strings.Count(lexicalQuery(many), " OR ") + 1; got != maxQueryTerms {
		t.Errorf("query of 100 words has %d terms, want %d", got, maxQueryTerms)
	}
}

// TestFTSConsistency checks after every kind of write that the FTS index
// holds exactly the live papers, with their current text.
func TestFTSConsistency(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	check := func(t *testing.T) {
		t.Helper()
		live, fts := liveKeys(t, s), ftsKeys(t, s)
		if !slices.Equal(live, fts) {
			t.Fatalf("papers keys %v, FTS keys %v", live, fts)
		}
		mustCheck(t, s)
		// Every live paper is found by the word unique to it, and only by it.
		for _, p := range allPapers(t, s) {
			var n int
			fmt.Sscanf(p.ID, "2501.%05d", &n)
			hits, err := s.SearchLexical(ctx, fmt.Sprintf("uniq%dx", n), 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 || hits[0].Key != p.Key {
				t.Errorf("search for paper %s (key %d) = %v", p.ID, p.Key, hits)
			}
		}
	}
	search := func(t *testing.T, q string) []LexicalHit {
		t.Helper()
		hits, err := s.SearchLexical(ctx, q, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}

	var batch []Paper
	for n := range 20 {
		batch = append(batch, testPaper(n, 0))
	}
	mustUpsert(t, s, batch...)
	check(t)

	t.Run("replace", func(t *testing.T) {
		mustUpsert(t, s, testPaper(3, 1), testPaper(4, 1))
		check(t)
		if hits := search(t, "gen0y3z"); len(hits) != 0 {
			t.Errorf("replaced abstract still found: %v", hits)
		}
		if hits := search(t, "gen1y3z"); len(hits) != 1 {
			t.Errorf("new abstract found %d times", len(hits))
		}
	})
	t.Run("metadata update", func(t *testing.T) {
		p := testPaper(5, 0)
		p.Title = "Renamed uniq5x quantum kettle"
		mustUpsert(t, s, p)
		check(t)
		if hits := search(t, "kettle"); len(hits) != 1 {
			t.Errorf("new title found %d times", len(hits))
		}
		if hits := search(t, "sparse attention"); len(hits) != 19 {
			t.Errorf("old title words found in %d papers, want 19", len(hits))
		}
	})
	t.Run("delete", func(t *testing.T) {
		mustDelete(t, s, testPaper(6, 0).ID, testPaper(3, 0).ID, "missing")
		check(t)
		if hits := search(t, "uniq6x uniq3x"); len(hits) != 0 {
			t.Errorf("deleted papers still found: %v", hits)
		}
	})
	t.Run("re-create", func(t *testing.T) {
		mustUpsert(t, s, testPaper(6, 2))
		check(t)
	})
}
