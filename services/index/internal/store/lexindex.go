package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/libc"
)

// Lexical search is served from an in-memory copy of the FTS5 index when one
// is current, and by FTS5 itself otherwise; both give the same hits with
// bit-identical scores.
//
// Why: FTS5 ranks an OR query by calling bm25() on every row that matches
// any term, and each call looks the row's length up with an SQL statement
// and walks the positions of every phrase. Under the pure-Go SQLite build
// that costs about 3 µs per matching row, and the words of an arXiv query
// match most of a shard ("learning" alone is in 40% of cs papers): at
// 100,000 papers a pasted abstract took 270 ms and a five-word phrase
// 60 ms, against 4 ms for a dense search. Pruning the query to its rarest
// terms bounds that work but costs ranking quality (see docs/benchmarks.md).
// The copy holds, per term, the documents with the term's bm25
// term-frequency factor, which is all bm25() reads besides the document
// frequencies, so the same scores cost a few nanoseconds per posting. It
// takes about 0.7 KB per paper, and building it about 0.25 ms of CPU per
// paper.
//
// Exactness: the copy is built from one read snapshot of the FTS5 index
// itself (the papers_fts_instance vocabulary, the document sizes and the
// averages record), query words are tokenized by FTS5 (ftsTokenizer), and
// the score is computed with FTS5's formula in FTS5's order of operations,
// including its logarithm, so it equals what bm25() returns to the last
// bit. The copy is used only while the store is at the version it was built
// from. After a write, searches go to FTS5 until the copy is rebuilt in the
// background (see lexState for when). The lexical index of record stays
// FTS5, written in the same transaction as the papers.

// bm25 constants of FTS5's bm25() (fts5_aux.c); variables, so that the
// arithmetic happens in float64 at run time exactly as in C.
var bm25K1, bm25B = 1.2, 0.75

// lexIndex is an immutable copy of the FTS5 index at one store version.
type lexIndex struct {
	version int64
	// Per document number, in key order.
	keys []int64
	ids  []string
	nRow int64
	// tfs holds the distinct values of bm25's term-frequency factor
	// f*(k1+1)/(f+k1*(1-b+b*D/avgdl)), which depends only on the
	// weighted frequency f of the term in the document and the document's
	// length D; postings refer to them by index. Precomputing it takes the
	// division out of the search loop without changing a bit of the score,
	// and there are few distinct values (tens of thousands at most).
	tfs    []float64
	tfWide bool // more than 1<<16 factors: indexes take three bytes
	terms  map[string]postings
	// cats holds, per category, a bitset over document numbers.
	cats map[string][]uint64
	// bytes is an estimate of the memory held.
	bytes int64
	built time.Duration

	scratch sync.Pool // *lexScratch
}

// postings lists the documents of one term in document-number order: per
// document uvarint(number - previous number, the first from 0) and the
// index of its term-frequency factor in lexIndex.tfs, two bytes little
// endian (tfWide: three).
type postings struct {
	df   int64
	data []byte
}

// lexScratch is per-search working memory: scores by document number, all
// zero between searches.
type lexScratch struct {
	scores []float64
}

// LexicalIndexStats describes the in-memory copy of the lexical index.
type LexicalIndexStats struct {
	// Current reports whether the copy is at the store's version, i.e.
	// whether lexical searches are served from memory now.
	Current bool
	// Version is the store version of the copy; 0 if none was built.
	Version int64
	// Docs and Terms count the copy's documents and distinct terms; Bytes
	// estimates the memory it holds.
	Docs, Terms int
	Bytes       int64
	// BuildTime is how long building the copy took.
	BuildTime time.Duration
	// Err is the error of the last build, or of tokenizing a query, if
	// it failed.
	Err error
	// FromMemory and FromFTS count the searches with words served from the
	// copy and from FTS5 since Open.
	FromMemory, FromFTS int64
}

// lexState manages the store's copy: the current one, and at most one
// build at a time. A store that has a copy rebuilds it only once writes have
// paused for quietPeriod (a copy built during a bulk load would be stale at
// once), and no sooner than minRebuildGap and four times the previous
// build's duration after the previous one started, so that rebuilding takes
// at most about a fifth of a core.
type lexState struct {
	disabled bool
	idx      atomic.Pointer[lexIndex]

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	running   chan struct{} // closed when the running build ends; nil if none
	lastStart time.Time
	lastDur   time.Duration
	lastErr   error
	// seenVersion is the latest store version a stale search saw, first at
	// seenAt.
	seenVersion int64
	seenAt      time.Time

	fromMemory, fromFTS atomic.Int64
}

// Rebuild timing (see lexState); variables for tests.
var (
	minRebuildGap = time.Second
	quietPeriod   = 2 * time.Second
)

// narrowTFLimit is the most term-frequency factors whose indexes take two
// bytes; a variable so that tests can exercise three-byte indexes.
var narrowTFLimit = 1 << 16

func (l *lexState) init(disabled bool) {
	l.disabled = disabled
	l.ctx, l.cancel = context.WithCancel(context.Background())
}

// stop cancels a running build and waits for it; no build starts after.
func (l *lexState) stop() {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// currentLexIndex returns the copy if it is at the store's version, and
// otherwise starts a rebuild (when allowed) and returns nil.
func (s *Store) currentLexIndex(ctx context.Context) (*lexIndex, error) {
	if s.lex.disabled {
		return nil, nil
	}
	var version int64
	if err := s.versionStmt.QueryRowContext(ctx).Scan(&version); err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	x := s.lex.idx.Load()
	if x != nil && x.version == version {
		return x, nil
	}
	if x != nil {
		l := &s.lex
		l.mu.Lock()
		if version != l.seenVersion {
			l.seenVersion, l.seenAt = version, time.Now()
		}
		quiet := time.Since(l.seenAt) >= quietPeriod
		l.mu.Unlock()
		if !quiet {
			return nil, nil
		}
	}
	s.startLexBuild(false)
	return nil, nil
}

func (l *lexState) setErr(err error) {
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
}

// startLexBuild starts a build in the background unless one is running or,
// when !force, the rate limit holds it back. It returns the channel closed
// when the running build ends, or nil.
func (s *Store) startLexBuild(force bool) chan struct{} {
	l := &s.lex
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running != nil {
		return l.running
	}
	if l.ctx.Err() != nil { // closed
		return nil
	}
	if !force && !l.lastStart.IsZero() && time.Since(l.lastStart) < max(minRebuildGap, 4*l.lastDur) {
		return nil
	}
	done := make(chan struct{})
	l.running, l.lastStart = done, time.Now()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		var x *lexIndex
		var err error
		select {
		case lexBuildSlots <- struct{}{}:
			start := time.Now()
			x, err = s.buildLexIndex(l.ctx)
			<-lexBuildSlots
			l.mu.Lock()
			l.lastDur = time.Since(start)
			l.mu.Unlock()
		case <-l.ctx.Done():
			err = l.ctx.Err()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lastErr, l.running = err, nil
		if err == nil {
			l.idx.Store(x)
		}
		close(done)
	}()
	return done
}

// lexBuildSlots bounds the builds running at once in the process, so that
// the shards of a collection opened together do not take every core from
// the searches (and hold every build's garbage at once).
var lexBuildSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// WarmLexical brings the in-memory copy of the lexical index up to the
// store's version, building it now if needed, and returns when it is
// current or ctx ends. Searches never need it (they fall back to FTS5 and
// start a build themselves); benchmarks and a service that wants its first
// lexical searches fast do. It reports the build's error, if any.
func (s *Store) WarmLexical(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.lex.disabled {
		return nil
	}
	for {
		var version int64
		if err := s.versionStmt.QueryRowContext(ctx).Scan(&version); err != nil {
			return fmt.Errorf("store: warm lexical index: read version: %w", err)
		}
		if x := s.lex.idx.Load(); x != nil && x.version >= version {
			return nil
		}
		done := s.startLexBuild(true)
		if done == nil {
			return fmt.Errorf("store: warm lexical index: %w", ErrClosed)
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.lex.mu.Lock()
		err := s.lex.lastErr
		s.lex.mu.Unlock()
		if err != nil {
			return fmt.Errorf("store: warm lexical index: %w", err)
		}
	}
}

// LexicalIndexStats describes the in-memory copy of the lexical index.
func (s *Store) LexicalIndexStats(ctx context.Context) (LexicalIndexStats, error) {
	if err := s.checkOpen(); err != nil {
		return LexicalIndexStats{}, err
	}
	st := LexicalIndexStats{FromMemory: s.lex.fromMemory.Load(), FromFTS: s.lex.fromFTS.Load()}
	s.lex.mu.Lock()
	st.Err = s.lex.lastErr
	s.lex.mu.Unlock()
	x := s.lex.idx.Load()
	if x == nil {
		return st, nil
	}
	var version int64
	if err := s.versionStmt.QueryRowContext(ctx).Scan(&version); err != nil {
		return LexicalIndexStats{}, fmt.Errorf("store: lexical index stats: %w", err)
	}
	st.Current, st.Version = x.version == version, x.version
	st.Docs, st.Terms, st.Bytes, st.BuildTime = len(x.keys), len(x.terms), x.bytes, x.built
	return st, nil
}

// buildLexIndex reads the FTS5 index into a lexIndex, from one snapshot.
func (s *Store) buildLexIndex(ctx context.Context) (*lexIndex, error) {
	start := time.Now()
	x := &lexIndex{terms: make(map[string]postings), cats: make(map[string][]uint64)}
	var norm []float64 // per document: k1*(1-b+b*D/avgdl), as bm25() computes it
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT version FROM collection WHERE id = 1`).Scan(&x.version); err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		// The averages record: rows and tokens per column, what bm25()
		// reads through xRowCount and xColumnTotalSize. Absent in an index
		// that never held a row.
		var avg []byte
		switch err := tx.QueryRowContext(ctx, `SELECT block FROM papers_fts_data WHERE id = 1`).Scan(&avg); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read FTS averages: %w", err)
		}
		var nToken int64
		if len(avg) > 0 {
			vals, err := sqliteVarints(avg)
			if err != nil || len(vals) != 3 {
				return fmt.Errorf("FTS averages record %x: want 3 varints (%v)", avg, err)
			}
			x.nRow, nToken = int64(vals[0]), int64(vals[1]+vals[2])
		}
		avgdl := float64(nToken) / float64(x.nRow)

		rows, err := tx.QueryContext(ctx, `SELECT d.id, d.sz, p.arxiv_id FROM papers_fts_docsize AS d
			LEFT JOIN papers AS p ON p.key = d.id ORDER BY d.id`)
		if err != nil {
			return fmt.Errorf("read FTS document sizes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key int64
			var sz []byte
			var id sql.NullString
			if err := rows.Scan(&key, &sz, &id); err != nil {
				return fmt.Errorf("read FTS document sizes: %w", err)
			}
			if !id.Valid {
				return fmt.Errorf("FTS document %d has no paper", key)
			}
			sizes, err := sqliteVarints(sz)
			if err != nil || len(sizes) != 2 {
				return fmt.Errorf("FTS size record of document %d: %x (%v)", key, sz, err)
			}
			// xColumnSize(-1): the tokens of all columns.
			d := float64(int32(sizes[0] + sizes[1]))
			x.keys = append(x.keys, key)
			x.ids = append(x.ids, id.String)
			norm = append(norm, float64(bm25K1*(1-bm25B+float64(bm25B*d)/avgdl)))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read FTS document sizes: %w", err)
		}
		if int64(len(x.keys)) != x.nRow {
			return fmt.Errorf("FTS index has %d documents but its averages record counts %d", len(x.keys), x.nRow)
		}
		doc := func(key int64) (int32, bool) {
			i, ok := slices.BinarySearch(x.keys, key)
			return int32(i), ok
		}

		words := (len(x.keys) + 63) / 64
		crows, err := tx.QueryContext(ctx, `SELECT category, key FROM paper_categories`)
		if err != nil {
			return fmt.Errorf("read categories: %w", err)
		}
		defer crows.Close()
		for crows.Next() {
			var cat string
			var key int64
			if err := crows.Scan(&cat, &key); err != nil {
				return fmt.Errorf("read categories: %w", err)
			}
			d, ok := doc(key)
			if !ok {
				return fmt.Errorf("category %q of key %d, which is not in the FTS index", cat, key)
			}
			set := x.cats[cat]
			if set == nil {
				set = make([]uint64, words)
				x.cats[cat] = set
			}
			set[d/64] |= 1 << (d % 64)
		}
		if err := crows.Err(); err != nil {
			return fmt.Errorf("read categories: %w", err)
		}

		// One row per token occurrence, by term, then document, then
		// column and offset.
		// The column comes back as 0 (title) or 1 (abstract) folded into the
		// document: every column read costs the driver a mutex round trip,
		// which is most of the time a build takes.
		irows, err := tx.QueryContext(ctx, `SELECT term, doc * 2 + CASE col WHEN 'title' THEN 0 WHEN 'abstract' THEN 1 END
			FROM papers_fts_instance`)
		if err != nil {
			return fmt.Errorf("read FTS index: %w", err)
		}
		defer irows.Close()
		var (
			term    sql.RawBytes
			docCol  sql.NullInt64
			key     int64
			lastKey int64 = -1
			d       int32
			cur     string
			data    []byte
			df      int64
			prev    int32  = -1 // previous document of the term
			tf      [2]int      // occurrences in title and abstract
		)
		type tfKey struct{ f, norm float64 }
		tfIndex := make(map[tfKey]uint64)
		k1p1 := bm25K1 + 1
		endDoc := func() {
			if prev < 0 {
				return
			}
			// bm25() adds a column's weight once per occurrence, title
			// occurrences first.
			f := float64(0)
			for range tf[0] {
				f += s.titleW
			}
			for range tf[1] {
				f += s.absW
			}
			key := tfKey{f, norm[prev]}
			i, ok := tfIndex[key]
			if !ok {
				i = uint64(len(x.tfs))
				tfIndex[key] = i
				x.tfs = append(x.tfs, float64(f*k1p1)/(f+norm[prev]))
			}
			data = append(data, byte(i), byte(i>>8), byte(i>>16))
		}
		endTerm := func() {
			endDoc()
			if df > 0 {
				// An exact-size copy: the buffer is reused for the next term.
				x.terms[cur] = postings{df: df, data: slices.Clone(data)}
			}
			data, df, prev = data[:0], 0, -1
		}
		for irows.Next() {
			if err := irows.Scan(&term, &docCol); err != nil {
				return fmt.Errorf("read FTS index: %w", err)
			}
			if !docCol.Valid {
				return fmt.Errorf("FTS index has a column other than title and abstract")
			}
			if df == 0 || string(term) != cur {
				endTerm()
				cur = string(term)
			}
			if key = docCol.Int64 >> 1; key != lastKey {
				var ok bool
				if d, ok = doc(key); !ok {
					return fmt.Errorf("FTS term %q in document %d, which has no size record", cur, key)
				}
				lastKey = key
			}
			if d != prev {
				if d < prev {
					return fmt.Errorf("FTS term %q: documents out of order", cur)
				}
				endDoc()
				data = binary.AppendUvarint(data, uint64(d-max(prev, 0)))
				prev, tf, df = d, [2]int{}, df+1
			}
			tf[docCol.Int64&1]++
		}
		if err := irows.Err(); err != nil {
			return fmt.Errorf("read FTS index: %w", err)
		}
		endTerm()
		if x.tfWide = len(x.tfs) > narrowTFLimit; !x.tfWide {
			for t, p := range x.terms {
				p.data = narrowTFIndexes(p.data, p.df)
				x.terms[t] = p
			}
		}
		for t, p := range x.terms {
			// Key, value and a share of the map's buckets.
			x.bytes += int64(len(t)+len(p.data)) + 110
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build lexical index: %w", err)
	}
	x.bytes += int64(len(x.keys))*(8+16) + int64(len(x.cats)*len(x.keys)/8) + int64(len(x.tfs))*8
	for _, id := range x.ids {
		x.bytes += int64(len(id))
	}
	x.built = time.Since(start)
	return x, nil
}

// search returns the k best documents for the phrases (one FTS5 token
// each, in query order), as FTS5's bm25(papers_fts, titleW, absW) ranks
// them with the store's weights, with the same scores; allowed, if not
// nil, restricts the documents.
func (x *lexIndex) search(tokens []string, k int, allowed []uint64) []LexicalHit {
	n := len(x.keys)
	sc, _ := x.scratch.Get().(*lexScratch)
	if sc == nil {
		sc = &lexScratch{scores: make([]float64, n)}
	}
	scores := sc.scores
	defer func() {
		clear(scores)
		x.scratch.Put(sc)
	}()
	for _, t := range tokens {
		p, ok := x.terms[t]
		if !ok {
			continue
		}
		// bm25()'s IDF, with its logarithm (musl's, through the same
		// libc the SQLite build uses: Go's math.Log differs in the last
		// bit for some arguments). The argument is positive and finite,
		// the only case where Xlog touches no thread state.
		idf := libc.Xlog(nil, (float64(x.nRow-p.df)+float64(0.5))/(float64(p.df)+float64(0.5)))
		if idf <= 0 {
			idf = 1e-6
		}
		// Phrases are added in query order, as bm25() sums them, so that
		// the floating-point sums are the same.
		data, tfs := p.data, x.tfs
		d := 0
		for j := 0; j < len(data); {
			if c := data[j]; c < 0x80 {
				d += int(c)
				j++
			} else {
				delta, n := binary.Uvarint(data[j:])
				d += int(delta)
				j += n
			}
			i := int(data[j]) | int(data[j+1])<<8
			j += 2
			if x.tfWide {
				i |= int(data[j]) << 16
				j++
			}
			scores[d] = scores[d] + float64(idf*tfs[i])
		}
	}

	// The best k by score, ties by key: what ORDER BY bm25, rowid LIMIT k
	// returns. A bounded heap whose root is the worst kept document.
	worse := func(a, b int32) bool {
		if scores[a] != scores[b] {
			return scores[a] < scores[b]
		}
		return a > b // document numbers are in key order
	}
	heap := make([]int32, 0, min(k, 64))
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(heap) {
				return
			}
			if c+1 < len(heap) && worse(heap[c+1], heap[c]) {
				c++
			}
			if !worse(heap[c], heap[i]) {
				return
			}
			heap[i], heap[c] = heap[c], heap[i]
			i = c
		}
	}
	for d32, score := range scores {
		// Every matching document has a positive score.
		d := int32(d32)
		if score == 0 || allowed != nil && allowed[d/64]&(1<<(d%64)) == 0 {
			continue
		}
		if len(heap) < k {
			heap = append(heap, d)
			for i := len(heap) - 1; i > 0; {
				parent := (i - 1) / 2
				if !worse(heap[i], heap[parent]) {
					break
				}
				heap[i], heap[parent] = heap[parent], heap[i]
				i = parent
			}
			continue
		}
		if worse(heap[0], d) {
			heap[0] = d
			down(0)
		}
	}
	slices.SortFunc(heap, func(a, b int32) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	if len(heap) == 0 {
		return nil
	}
	hits := make([]LexicalHit, len(heap))
	for i, d := range heap {
		hits[i] = LexicalHit{Key: x.keys[d], ID: x.ids[d], Score: scores[d]}
	}
	return hits
}

// allowedDocs returns the union of the categories' document sets, and
// false when none of them has a document.
func (x *lexIndex) allowedDocs(categories []string) ([]uint64, bool) {
	out := make([]uint64, (len(x.keys)+63)/64)
	some := false
	for _, c := range categories {
		for i, w := range x.cats[c] {
			out[i] |= w
			some = some || w != 0
		}
	}
	return out, some
}

// narrowTFIndexes rewrites the df postings of data, whose three-byte factor
// indexes are all below 1<<16, with two-byte ones.
func narrowTFIndexes(data []byte, df int64) []byte {
	out := make([]byte, 0, int64(len(data))-df)
	for j := 0; j < len(data); {
		_, n := binary.Uvarint(data[j:])
		out = append(out, data[j:j+n+2]...) // the delta and the low two bytes
		j += n + 3
	}
	return out
}

// sqliteVarints decodes a sequence of SQLite varints (big-endian groups of
// seven bits, the ninth byte whole), the encoding of FTS5's size records.
func sqliteVarints(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		var v uint64
		n := 0
		for {
			if n == len(b) {
				return nil, errors.New("truncated varint")
			}
			c := b[n]
			n++
			if n == 9 {
				v = v<<8 | uint64(c)
				break
			}
			v = v<<7 | uint64(c&0x7f)
			if c < 0x80 {
				break
			}
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}

// ftsTokenizer tokenizes query words with FTS5 itself, in a private
// in-memory database whose table has the tokenizer of papers_fts, so that
// a query word maps to exactly the term FTS5 would look up: no second
// implementation of porter stemming and Unicode folding to keep in step.
// Results are cached by word.
type ftsTokenizer struct {
	mu    sync.Mutex // serializes the database work
	once  sync.Once
	db    *sql.DB
	err   error
	cache sync.Map // word -> string: its token, or "" if not exactly one
	size  atomic.Int64
}

// ftsTokenize is the tokenizer option of papers_fts (schemaV1).
const ftsTokenize = `porter unicode61 remove_diacritics 2`

// maxTokenCache bounds the tokenizer's cache; it is emptied when full.
const maxTokenCache = 200_000

var queryTokenizer ftsTokenizer

// tokens returns the FTS5 term of each word, and false if some word is not
// exactly one term (a phrase of several, which needs positions, or none).
func (t *ftsTokenizer) tokens(ctx context.Context, words []string) ([]string, bool, error) {
	out := make([]string, len(words))
	var missing []int
	for i, w := range words {
		v, ok := t.cache.Load(w)
		if !ok {
			missing = append(missing, i)
			continue
		}
		if out[i] = v.(string); out[i] == "" {
			return nil, false, nil
		}
	}
	if len(missing) > 0 {
		t.mu.Lock()
		defer t.mu.Unlock()
		var todo []string
		for _, i := range missing {
			if v, ok := t.cache.Load(words[i]); ok {
				out[i] = v.(string)
			} else {
				todo = append(todo, words[i])
			}
		}
		if len(todo) > 0 {
			got, err := t.tokenize(ctx, todo)
			if err != nil {
				return nil, false, err
			}
			if t.size.Add(int64(len(todo))) > maxTokenCache {
				t.cache.Clear()
				t.size.Store(int64(len(todo)))
			}
			token := make(map[string]string, len(todo))
			for i, w := range todo {
				t.cache.Store(w, got[i])
				token[w] = got[i]
			}
			for _, i := range missing {
				if tok, ok := token[words[i]]; ok {
					out[i] = tok
				}
			}
		}
		if slices.Contains(out, "") {
			return nil, false, nil
		}
	}
	return out, true, nil
}

// tokenize runs FTS5's tokenizer over words; t.mu is held. A word that is
// not exactly one token gets "".
func (t *ftsTokenizer) tokenize(ctx context.Context, words []string) ([]string, error) {
	t.once.Do(func() {
		t.db, t.err = sql.Open("sqlite", ":memory:")
		if t.err == nil {
			// One connection: an in-memory database lives and dies with
			// its connection, and the work is serialized anyway.
			t.db.SetMaxOpenConns(1)
			t.db.SetMaxIdleConns(1)
			t.db.SetConnMaxLifetime(0)
			t.db.SetConnMaxIdleTime(0)
		}
	})
	if t.err != nil {
		return nil, fmt.Errorf("open tokenizer database: %w", t.err)
	}
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("tokenizer connection: %w", err)
	}
	defer conn.Close()
	// IF NOT EXISTS: cheap, and correct if database/sql ever replaced the
	// connection (and with it the database).
	for _, q := range []string{
		`CREATE VIRTUAL TABLE IF NOT EXISTS tok USING fts5 (w, tokenize = '` + ftsTokenize + `')`,
		`CREATE VIRTUAL TABLE IF NOT EXISTS tok_instance USING fts5vocab (tok, instance)`,
		`DELETE FROM tok`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	js, err := jsonStrings(words)
	if err != nil {
		return nil, fmt.Errorf("tokenize %d words: %w", len(words), err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO tok (rowid, w) SELECT key + 1, value FROM json_each(?)`, js); err != nil {
		return nil, fmt.Errorf("tokenize %d words: %w", len(words), err)
	}
	rows, err := conn.QueryContext(ctx, `SELECT doc, term FROM tok_instance`)
	if err != nil {
		return nil, fmt.Errorf("tokenize %d words: %w", len(words), err)
	}
	defer rows.Close()
	out := make([]string, len(words))
	count := make([]int, len(words))
	for rows.Next() {
		var doc int
		var term string
		if err := rows.Scan(&doc, &term); err != nil {
			return nil, fmt.Errorf("tokenize %d words: %w", len(words), err)
		}
		if doc < 1 || doc > len(words) {
			return nil, fmt.Errorf("tokenize %d words: token of row %d", len(words), doc)
		}
		out[doc-1] = term
		count[doc-1]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tokenize %d words: %w", len(words), err)
	}
	for i, c := range count {
		if c != 1 {
			out[i] = ""
		}
	}
	return out, nil
}
