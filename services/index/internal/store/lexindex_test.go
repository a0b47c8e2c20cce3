package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// lexVocabulary has words of very different frequencies, inflections that
// stem alike, accents and a repeated title word, so that document
// frequencies, term frequencies above one, length normalization and
// duplicate phrases all show up in the scores.
var lexVocabulary = strings.Fields(`network networks networking learning learned learn model models
	graph graphs attention sparse transformer quantum spin chain lattice gauge dark matter halo galaxy
	protein folding molecule molecular diffusion generative retrieval augmented language speech
	Erdős Schrödinger café naïve optimization convex stochastic gradient descent bound bounds
	theorem proof conjecture operator eigenvalue spectral kernel regression causal inference
	robot control policy reward agent federated privacy secure 3d point cloud segmentation image`)

// lexTestCorpus writes n papers with pseudo-random text drawn from
// lexVocabulary with skewed frequencies, and up to three categories each.
func lexTestCorpus(t *testing.T, s *Store, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	cats := []string{"cs.LG", "cs.CL", "math.CO", "hep-th", "q-bio.BM", "astro-ph.CO"}
	word := func() string {
		// Squaring skews the draw towards the front of the list.
		f := rng.Float64()
		return lexVocabulary[int(f*f*float64(len(lexVocabulary)))]
	}
	text := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = word()
		}
		return strings.Join(ws, " ")
	}
	var batch []Paper
	for i := range n {
		p := testPaper(10_000+i, 0)
		p.Title = text(3 + rng.IntN(8))
		p.Abstract = text(10 + rng.IntN(90))
		if rng.IntN(10) == 0 {
			p.Abstract = "" // a paper with a title only
		}
		p.Categories = nil
		for _, j := range rng.Perm(len(cats))[:1+rng.IntN(3)] {
			p.Categories = append(p.Categories, cats[j])
		}
		batch = append(batch, p)
		if len(batch) == 100 || i == n-1 {
			mustUpsert(t, s, batch...)
			batch = nil
		}
	}
}

// lexTestQueries are the queries compared between the in-memory copy and
// FTS5.
func lexTestQueries() []string {
	qs := []string{
		"network", "networks", "network networks networking", "learning", "Learned MODELS",
		"dark matter halo galaxy", "erdos schrodinger", "Erdős", "cafe naive", "the of and",
		"the dark", "xylophone", "xylophone network", "spin", "3d point cloud segmentation",
		"graph graph graph", "proof", "quantum spin chain lattice gauge theory",
	}
	// Longer than maxQueryTerms words, most of them distinct.
	qs = append(qs, strings.Join(lexVocabulary, " "))
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "%s u%d ", lexVocabulary[i*7%len(lexVocabulary)], i)
	}
	return append(qs, b.String())
}

// equalHits reports whether two result lists are the same, scores to the
// bit.
func equalHits(a, b []LexicalHit) bool { return slices.Equal(a, b) }

func TestLexicalIndexMatchesFTS(t *testing.T) {
	ctx := context.Background()
	for _, w := range []struct {
		title, abstract float64
		wide            bool
	}{{0, 0, false}, {3.3, 0.7, true}} {
		t.Run(fmt.Sprintf("weights %v/%v wide %v", w.title, w.abstract, w.wide), func(t *testing.T) {
			if w.wide {
				// Three-byte factor indexes, which only collections with
				// more than 65,536 distinct factors need.
				defer func(n int) { narrowTFLimit = n }(narrowTFLimit)
				narrowTFLimit = 0
			}
			s, err := Open(ctx, testPath(t), Options{Model: testModel, Dim: testDim, TitleWeight: w.title, AbstractWeight: w.abstract})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			lexTestCorpus(t, s, 150, 1)
			mustDelete(t, s, testPaper(10_003, 0).ID, testPaper(10_100, 0).ID)
			// A metadata update: FTS5 unindexes the old text and indexes the
			// new one under the same key.
			p := testPaper(10_004, 0)
			p.Title, p.Abstract, p.Categories = "graph network", "network network graph proof", []string{"math.CO"}
			mustUpsert(t, s, p)
			if err := s.WarmLexical(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := s.LexicalIndexStats(ctx)
			if err != nil || !st.Current || st.Docs != 148 {
				t.Fatalf("stats after warming = %+v, %v; want a current copy of 148 documents", st, err)
			}
			compared, fromMemory := 0, 0
			queries := lexTestQueries()
			if !w.wide {
				// And every string that would be FTS5 syntax, passed through.
				queries = append(queries, adversarialQueries...)
			}
			for _, q := range queries {
				words := queryWords(q)
				if len(words) == 0 {
					if hits, err := s.SearchLexical(ctx, q, 10, nil); err != nil || hits != nil {
						t.Errorf("SearchLexical(%.40q) = %v, %v; want no hits", q, hits, err)
					}
					continue
				}
				if _, ok, err := queryTokenizer.tokens(ctx, words); err != nil {
					t.Fatal(err)
				} else if ok {
					fromMemory += 12
				}
				for _, cats := range [][]string{nil, {"math.CO", "hep-th"}, {"none.XX"}} {
					// ORDER BY bm25, rowid is a total order, so FTS5's best
					// k are a prefix of its best 500.
					filter, _ := categoryFilter(cats)
					all, err := s.searchLexicalFTS(ctx, lexicalQuery(q), 500, filter)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range []int{1, 3, 10, 500} {
						got, err := s.SearchLexical(ctx, q, k, cats)
						if err != nil {
							t.Fatal(err)
						}
						if want := all[:min(k, len(all))]; !equalHits(got, want) {
							t.Errorf("SearchLexical(%.40q, k=%d, %v):\n got  %v\n want %v (FTS5)", q, k, cats, got, want)
						}
					}
					if len(all) > 0 {
						compared++
					}
				}
			}
			if compared < 30 {
				t.Errorf("only %d searches had hits", compared)
			}
			after, _ := s.LexicalIndexStats(ctx)
			// All but those with a word FTS5 splits (a phrase, answered by
			// FTS5).
			if served := after.FromMemory - st.FromMemory; served != int64(fromMemory) || fromMemory < 12*len(queries)/2 {
				t.Errorf("%d searches served from memory, want %d, most of them", served, fromMemory)
			}
		})
	}
}

func TestLexicalIndexFollowsWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	lexTestCorpus(t, s, 50, 2)
	if err := s.WarmLexical(ctx); err != nil {
		t.Fatal(err)
	}
	search := func(q string) []string {
		t.Helper()
		hits, err := s.SearchLexical(ctx, q, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hitIDs(hits)
	}
	current := func() bool {
		t.Helper()
		st, err := s.LexicalIndexStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Current
	}
	steps := []struct {
		name  string
		write func()
		query string
		want  []string
	}{
		{"insert", func() {
			p := testPaper(1, 0)
			p.Title = "zebrafish regeneration"
			mustUpsert(t, s, p)
		}, "zebrafish", []string{testPaper(1, 0).ID}},
		{"title update under the same key", func() {
			p := testPaper(1, 0)
			p.Title = "axolotl regeneration"
			mustUpsert(t, s, p)
		}, "zebrafish axolotl", []string{testPaper(1, 0).ID}},
		{"old title gone", func() {}, "zebrafish", nil},
		{"delete", func() { mustDelete(t, s, testPaper(1, 0).ID) }, "axolotl regeneration", nil},
	}
	for _, st := range steps {
		st.write()
		// Right after the write the copy is stale and FTS5 answers.
		if got := search(st.query); !slices.Equal(got, st.want) {
			t.Errorf("%s: search %q right after the write = %v, want %v", st.name, st.query, got, st.want)
		}
		if err := s.WarmLexical(ctx); err != nil {
			t.Fatal(err)
		}
		if !current() {
			t.Fatalf("%s: copy not current after WarmLexical", st.name)
		}
		if got := search(st.query); !slices.Equal(got, st.want) {
			t.Errorf("%s: search %q from the rebuilt copy = %v, want %v", st.name, st.query, got, st.want)
		}
	}
}

// TestLexicalIndexRebuilds checks when searches start builds: at once when
// there is no copy, and for a stale copy only after writes pause.
func TestLexicalIndexRebuilds(t *testing.T) {
	defer func(gap, quiet time.Duration) { minRebuildGap, quietPeriod = gap, quiet }(minRebuildGap, quietPeriod)
	minRebuildGap, quietPeriod = 0, time.Hour
	ctx := context.Background()
	s := openTest(t, testPath(t))
	lexTestCorpus(t, s, 20, 4)
	search := func() {
		t.Helper()
		if _, err := s.SearchLexical(ctx, "network", 10, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Builds start from searches, so keep searching.
	waitCurrent := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			search()
			st, err := s.LexicalIndexStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Current {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no current copy after 30s: %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	building := func() bool {
		s.lex.mu.Lock()
		defer s.lex.mu.Unlock()
		return s.lex.running != nil
	}

	search() // no copy yet: builds at once
	waitCurrent("first build")
	first, _ := s.LexicalIndexStats(ctx)
	// Past the rate limit, so that only the pause can hold a build back.
	time.Sleep(4*first.BuildTime + 50*time.Millisecond)
	p := testPaper(1, 0)
	mustUpsert(t, s, p)
	search()
	search()
	time.Sleep(4*first.BuildTime + 50*time.Millisecond)
	if st, _ := s.LexicalIndexStats(ctx); building() || st.Version != first.Version {
		t.Fatalf("a stale copy was rebuilt before writes paused: %+v", st)
	}
	quietPeriod = 0 // writes have paused long enough
	search()
	waitCurrent("rebuild after the pause")
}

func TestQueryTokenizer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		words []string
		ok    bool
		same  [][2]int // pairs of words that must get the same token
	}{
		{[]string{"network", "networks", "networking"}, true, [][2]int{{0, 1}, {0, 2}}},
		{[]string{"erdős", "erdos", "schrödinger", "schrodinger"}, true, [][2]int{{0, 1}, {2, 3}}},
		{[]string{"深度学习"}, true, nil},
		// Devanagari vowel signs are combining marks, which unicode61
		// does not keep in tokens: the word is a phrase of several.
		{[]string{"network", "हिन्दी"}, false, nil},
	}
	for _, tt := range tests {
		// Twice: the second answer comes from the cache.
		for range 2 {
			got, ok, err := queryTokenizer.tokens(ctx, tt.words)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok {
				t.Fatalf("tokens(%q) ok = %v, want %v (%q)", tt.words, ok, tt.ok, got)
			}
			for _, p := range tt.same {
				if got[p[0]] != got[p[1]] || got[p[0]] == "" {
					t.Errorf("tokens(%q) = %q: words %d and %d differ", tt.words, got, p[0], p[1])
				}
			}
		}
	}
}

// TestLexicalPhraseFallsBack checks that a query with a word FTS5 splits
// into several tokens is answered by FTS5, with its phrase semantics.
func TestLexicalPhraseFallsBack(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	p := testPaper(1, 0)
	p.Title = "हिन्दी network"
	mustUpsert(t, s, p, testPaper(2, 0))
	if err := s.WarmLexical(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := s.LexicalIndexStats(ctx)
	hits, err := s.SearchLexical(ctx, "हिन्दी", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(hits); !slices.Equal(ids, []string{p.ID}) {
		t.Errorf("search = %v, want [%s]", ids, p.ID)
	}
	after, _ := s.LexicalIndexStats(ctx)
	if after.FromFTS != before.FromFTS+1 {
		t.Errorf("FTS5 searches went from %d to %d, want one more", before.FromFTS, after.FromFTS)
	}
}

func TestTokenizerMatchesSchema(t *testing.T) {
	s := openTest(t, testPath(t))
	var sql string
	if err := s.readers.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'papers_fts'`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "tokenize = '"+ftsTokenize+"'") {
		t.Errorf("papers_fts is %s; the query tokenizer uses %q", sql, ftsTokenize)
	}
}

func TestLexicalIndexOptionsAndClose(t *testing.T) {
	ctx := context.Background()
	path := testPath(t)
	s := openTest(t, path)
	lexTestCorpus(t, s, 30, 3)
	s.Close()

	off, err := Open(ctx, path, Options{Model: testModel, Dim: testDim, NoLexicalIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := off.WarmLexical(ctx); err != nil {
		t.Fatal(err)
	}
	if hits, err := off.SearchLexical(ctx, "network", 5, nil); err != nil || len(hits) == 0 {
		t.Fatalf("search without the copy = %v, %v", hits, err)
	}
	if st, _ := off.LexicalIndexStats(ctx); st.Docs != 0 || st.FromMemory != 0 || st.FromFTS != 1 {
		t.Errorf("stats with NoLexicalIndex = %+v, want no copy and one FTS5 search", st)
	}
	off.Close()

	// Closing while a build runs stops it; the store then refuses work.
	s2, err := Open(ctx, path, Options{Model: testModel, Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	s2.startLexBuild(true)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.WarmLexical(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("WarmLexical after Close = %v, want ErrClosed", err)
	}
}
