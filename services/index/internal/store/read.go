package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// Get returns the stored papers among ids, keyed by arXiv id, in one query.
// Ids that are not stored are absent from the map. Vectors are read only if
// withVector, since most callers need metadata only.
func (s *Store) Get(ctx context.Context, ids []string, withVector bool) (map[string]Paper, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make(map[string]Paper, len(ids))
	// Invalid UTF-8 cannot be stored, and JSON would turn it into U+FFFD,
	// which could match a different id.
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if utf8.ValidString(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	arg, err := jsonStrings(valid)
	if err != nil {
		return nil, fmt.Errorf("store: get %d ids: %w", len(ids), err)
	}
	stmt := s.getByIDs
	if withVector {
		stmt = s.getByIDsVec
	}
	err = s.queryPapers(ctx, stmt, arg, func(p Paper) { out[p.ID] = p })
	if err != nil {
		return nil, fmt.Errorf("store: get %d ids: %w", len(ids), err)
	}
	return out, nil
}

// Lookup returns one paper by arXiv id, or an error wrapping ErrNotFound.
func (s *Store) Lookup(ctx context.Context, id string, withVector bool) (Paper, error) {
	m, err := s.Get(ctx, []string{id}, withVector)
	if err != nil {
		return Paper{}, err
	}
	p, ok := m[id]
	if !ok {
		return Paper{}, fmt.Errorf("store: lookup %q: %w", id, ErrNotFound)
	}
	return p, nil
}

// GetByKeys returns the papers stored under keys, in one query, so that a
// search result's metadata costs one round trip per shard, not one per hit.
// Keys that are not stored (deleted or replaced since the ANN index returned
// them) are absent from the map; callers should drop such hits.
func (s *Store) GetByKeys(ctx context.Context, keys []int64, withVector bool) (map[int64]Paper, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make(map[int64]Paper, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	stmt := s.getByKeys
	if withVector {
		stmt = s.getByKeysVec
	}
	err := s.queryPapers(ctx, stmt, jsonInts(keys), func(p Paper) { out[p.Key] = p })
	if err != nil {
		return nil, fmt.Errorf("store: get %d keys: %w", len(keys), err)
	}
	return out, nil
}

// IDsByKeys returns the arXiv ids of the papers stored under keys, in one
// query, for rankings that carry no metadata. Keys that are not stored are
// absent from the map, as in GetByKeys.
func (s *Store) IDsByKeys(ctx context.Context, keys []int64) (map[int64]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.idsByKeys.QueryContext(ctx, jsonInts(keys))
	if err != nil {
		return nil, fmt.Errorf("store: ids of %d keys: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var key int64
		var id string
		if err := rows.Scan(&key, &id); err != nil {
			return nil, fmt.Errorf("store: ids of %d keys: %w", len(keys), err)
		}
		out[key] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ids of %d keys: %w", len(keys), err)
	}
	return out, nil
}

func (s *Store) queryPapers(ctx context.Context, stmt *sql.Stmt, arg string, fn func(Paper)) error {
	rows, err := stmt.QueryContext(ctx, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPaper(rows, s.dim)
		if err != nil {
			return err
		}
		fn(p)
	}
	return rows.Err()
}

// KeysInCategories returns, in ascending order, the keys of papers having ANY
// of categories among ALL their categories (primary and cross-lists; see the
// package documentation). It serves exact filtered search: the ANN index is
// searched restricted to these keys. An empty filter is a caller bug and
// fails with ErrInvalidArgument rather than silently matching nothing.
func (s *Store) KeysInCategories(ctx context.Context, categories []string) ([]int64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	arg, err := categoryFilter(categories)
	if err != nil {
		return nil, fmt.Errorf("store: keys in categories: %w", err)
	}
	if arg == "" {
		return nil, fmt.Errorf("store: keys in categories: empty category filter: %w", ErrInvalidArgument)
	}
	rows, err := s.keysInCategory.QueryContext(ctx, arg)
	if err != nil {
		return nil, fmt.Errorf("store: keys in categories %v: %w", categories, err)
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: keys in categories %v: %w", categories, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: keys in categories %v: %w", categories, err)
	}
	return keys, nil
}

// categoryFilter validates a category filter and renders it for json_each;
// it returns "" for an empty filter.
func categoryFilter(categories []string) (string, error) {
	if len(categories) == 0 {
		return "", nil
	}
	for _, c := range categories {
		if err := validateCategory(c); err != nil {
			return "", fmt.Errorf("%w: %w", err, ErrInvalidArgument)
		}
	}
	return jsonStrings(categories)
}

// Change is one entry of the replay stream: a key created with its vector,
// or a key deleted (Deleted, no vector).
type Change struct {
	// Version is the write transaction that made the change.
	Version int64
	Key     int64
	Deleted bool
	// Vector is the key's vector for a creation; nil for a deletion. Each
	// Change has its own slice, which fn may keep.
	Vector []float32
}

// Changes calls fn for every change with version > since, in version order
// (within one version: deletions first, then creations, each by ascending
// key), and returns the version it replayed through. Apply them, in order,
// to an ANN snapshot that holds exactly the store at version since, and it
// holds exactly the store at the returned version: created keys are never
// in such a snapshot (keys are not reused), deleted keys may be.
//
// since = 0 means an empty snapshot and is always allowed. A since below the
// compaction horizon fails with ErrCompacted (rebuild with ScanVectors) and
// one above the store's version with ErrVersionAhead (the snapshot does not
// belong to this store, or the store was restored from an older backup).
//
// The stream is one consistent read snapshot; concurrent writes are not
// seen and do not block it. A long replay holds that snapshot open, which
// keeps SQLite from recycling the WAL until it ends. An error from fn stops
// the stream and is returned wrapped.
func (s *Store) Changes(ctx context.Context, since int64, fn func(Change) error) (through int64, err error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if since < 0 {
		return 0, fmt.Errorf("store: changes since %d: negative version: %w", since, ErrInvalidArgument)
	}
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var compacted int64
		if err := tx.QueryRowContext(ctx, `SELECT version, compacted_through FROM collection WHERE id = 1`).
			Scan(&through, &compacted); err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		switch {
		case since > through:
			return fmt.Errorf("store is at version %d: %w", through, ErrVersionAhead)
		case since > 0 && since < compacted:
			return fmt.Errorf("tombstones compacted through version %d: %w", compacted, ErrCompacted)
		case since == through:
			return nil
		}
		return s.mergeChanges(ctx, tx, since, fn)
	})
	if err != nil {
		return 0, fmt.Errorf("store: changes since %d: %w", since, err)
	}
	return through, nil
}

// mergeChanges merges two cursors ordered by (version, key), tombstones
// first on equal versions. Merging in Go rather than with ORDER BY over a
// UNION keeps memory constant: SQLite would sort the whole result, vectors
// included, in a temporary b-tree before returning the first row.
func (s *Store) mergeChanges(ctx context.Context, tx *sql.Tx, since int64, fn func(Change) error) error {
	tombs, err := tx.QueryContext(ctx,
		`SELECT version, key FROM tombstones WHERE version > ? ORDER BY version, key`, since)
	if err != nil {
		return fmt.Errorf("query tombstones: %w", err)
	}
	defer tombs.Close()
	rows, err := tx.QueryContext(ctx,
		`SELECT version, key, vector FROM papers WHERE version > ? ORDER BY version, key`, since)
	if err != nil {
		return fmt.Errorf("query papers: %w", err)
	}
	defer rows.Close()

	var t, p Change
	nextTomb := func() (bool, error) {
		if !tombs.Next() {
			return false, tombs.Err()
		}
		t = Change{Deleted: true}
		return true, tombs.Scan(&t.Version, &t.Key)
	}
	nextPaper := func() (bool, error) {
		if !rows.Next() {
			return false, rows.Err()
		}
		var vec sql.RawBytes
		p = Change{}
		if err := rows.Scan(&p.Version, &p.Key, &vec); err != nil {
			return true, err
		}
		p.Vector, err = decodeVector(vec, s.dim)
		if err != nil {
			return true, fmt.Errorf("key %d: %w", p.Key, err)
		}
		return true, nil
	}
	haveT, err := nextTomb()
	if err != nil {
		return fmt.Errorf("read tombstone: %w", err)
	}
	haveP, err := nextPaper()
	if err != nil {
		return fmt.Errorf("read paper: %w", err)
	}
	for haveT || haveP {
		if haveT && (!haveP || t.Version <= p.Version) {
			if err := fn(t); err != nil {
				return fmt.Errorf("apply deletion of key %d: %w", t.Key, err)
			}
			if haveT, err = nextTomb(); err != nil {
				return fmt.Errorf("read tombstone: %w", err)
			}
			continue
		}
		if err := fn(p); err != nil {
			return fmt.Errorf("apply creation of key %d: %w", p.Key, err)
		}
		if haveP, err = nextPaper(); err != nil {
			return fmt.Errorf("read paper: %w", err)
		}
	}
	return nil
}

// ScanVectors calls fn for every stored key and vector, in key order, from
// one consistent read snapshot, and returns the version of that snapshot:
// an index rebuilt from the scan holds exactly the store at that version.
// The vector slice is fn's to keep.
func (s *Store) ScanVectors(ctx context.Context, fn func(key int64, vector []float32) error) (version int64, err error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT version FROM collection WHERE id = 1`).Scan(&version); err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT key, vector FROM papers ORDER BY key`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key int64
			var raw sql.RawBytes
			if err := rows.Scan(&key, &raw); err != nil {
				return err
			}
			vec, err := decodeVector(raw, s.dim)
			if err != nil {
				return fmt.Errorf("key %d: %w", key, err)
			}
			if err := fn(key, vec); err != nil {
				return fmt.Errorf("key %d: %w", key, err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("store: scan vectors: %w", err)
	}
	return version, nil
}

// SampleVectors returns min(n, Count) vectors chosen uniformly without
// replacement, for IVF training, flattened row-major into one slice of
// rows*Dim values (the layout faiss train expects). The same seed on the same
// contents gives the same sample, so a rebuild is reproducible.
func (s *Store) SampleVectors(ctx context.Context, n int, seed uint64) ([]float32, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("store: sample %d vectors: %w", n, ErrInvalidArgument)
	}
	var out []float32
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		// No ORDER BY: it would make SQLite walk the table, vectors and
		// abstracts included, where a scan of a small covering index
		// suffices. Sorting here keeps the sample independent of the plan.
		keys, err := queryInts(ctx, tx, `SELECT key FROM papers`)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		slices.Sort(keys)
		if n < len(keys) {
			// Partial Fisher-Yates: the first n slots end up a uniform sample.
			rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			for i := range n {
				j := i + rng.IntN(len(keys)-i)
				keys[i], keys[j] = keys[j], keys[i]
			}
			keys = keys[:n]
			slices.Sort(keys)
		}
		out = make([]float32, 0, len(keys)*s.dim)
		rows, err := tx.QueryContext(ctx,
			`SELECT key, vector FROM papers WHERE key IN (SELECT value FROM json_each(?)) ORDER BY key`,
			jsonInts(keys))
		if err != nil {
			return fmt.Errorf("read vectors: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key int64
			var raw sql.RawBytes
			if err := rows.Scan(&key, &raw); err != nil {
				return err
			}
			vec, err := decodeVector(raw, s.dim)
			if err != nil {
				return fmt.Errorf("key %d: %w", key, err)
			}
			out = append(out, vec...)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: sample %d vectors: %w", n, err)
	}
	return out, nil
}

func queryInts(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Version returns the store version: the version of the last write
// transaction that changed papers, 0 for an empty new store.
func (s *Store) Version(ctx context.Context) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var v int64
	if err := s.readers.QueryRowContext(ctx, `SELECT version FROM collection WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: version: %w", err)
	}
	return v, nil
}

// Count returns the number of stored papers.
func (s *Store) Count(ctx context.Context) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var n int64
	if err := s.readers.QueryRowContext(ctx, `SELECT count(*) FROM papers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// Stats describes a store, for metrics and admin tools.
type Stats struct {
	Model            string
	Dim              int
	Version          int64
	CompactedThrough int64
	Papers           int64
	Tombstones       int64
	// MaxKey is the largest key ever assigned; the next key is larger.
	MaxKey int64
	// FileBytes is the size of the main database file, WALBytes that of
	// its write-ahead log.
	FileBytes int64
	WALBytes  int64
}

// Stats returns counters read from one consistent snapshot.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := s.checkOpen(); err != nil {
		return Stats{}, err
	}
	var st Stats
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var pageCount, pageSize int64
		err := tx.QueryRowContext(ctx, `SELECT model, dim, version, compacted_through,
				(SELECT count(*) FROM papers),
				(SELECT count(*) FROM tombstones),
				coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'papers'), 0)
			FROM collection WHERE id = 1`).Scan(&st.Model, &st.Dim, &st.Version, &st.CompactedThrough,
			&st.Papers, &st.Tombstones, &st.MaxKey)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pageCount); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
			return err
		}
		st.FileBytes = pageCount * pageSize
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	switch fi, err := os.Stat(s.path + "-wal"); {
	case err == nil:
		st.WALBytes = fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// Check verifies the store's invariants: SQLite's structural quick_check,
// foreign keys, the FTS index against the papers table, vector lengths,
// that no tombstoned key is live and that no row is newer than the store
// version. It runs in a write transaction (the FTS check is an INSERT
// command) and so holds writes back while it runs; use it at startup, in
// admin tools and tests.
func (s *Store) Check(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: check: begin: %w", err)
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return fmt.Errorf("store: check: quick_check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			rows.Close()
			return fmt.Errorf("store: check: quick_check: %w", err)
		}
		if msg != "ok" {
			problems = append(problems, msg)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: check: quick_check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: check: quick_check: %s", strings.Join(problems, "; "))
	}

	// rank = 1 makes FTS5 also compare the index with the content table.
	if _, err := tx.ExecContext(ctx, `INSERT INTO papers_fts (papers_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		return fmt.Errorf("store: check: FTS index does not match papers: %w", err)
	}

	checks := []struct {
		what  string
		query string
		args  []any
	}{
		{"foreign key violations", `SELECT count(*) FROM pragma_foreign_key_check`, nil},
		{"vectors of the wrong length", `SELECT count(*) FROM papers WHERE length(vector) <> ?`, []any{4 * s.dim}},
		{"tombstoned keys still live", `SELECT count(*) FROM tombstones JOIN papers USING (key)`, nil},
		{"rows newer than the store version", `SELECT
			(SELECT count(*) FROM papers WHERE version > c.version) +
			(SELECT count(*) FROM tombstones WHERE version > c.version)
			FROM collection AS c WHERE c.id = 1`, nil},
		{"papers whose category rows differ from their categories", `SELECT count(*) FROM papers AS p
			WHERE p.categories <> coalesce((SELECT string_agg(c.category, ' '
				ORDER BY instr(' ' || p.categories || ' ', ' ' || c.category || ' '))
				FROM paper_categories AS c WHERE c.key = p.key), '')`, nil},
		{"primary categories that differ from the first category", `SELECT count(*) FROM papers
			WHERE primary_category <> CASE WHEN instr(categories, ' ') = 0 THEN categories
				ELSE substr(categories, 1, instr(categories, ' ') - 1) END`, nil},
	}
	for _, c := range checks {
		var n int64
		if err := tx.QueryRowContext(ctx, c.query, c.args...).Scan(&n); err != nil {
			return fmt.Errorf("store: check %s: %w", c.what, err)
		}
		if n != 0 {
			return fmt.Errorf("store: check: %d %s", n, c.what)
		}
	}
	return nil
}

// readTx runs fn in a read transaction on a reader connection, so that the
// queries in fn see one consistent snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	// A read transaction has nothing to commit; rolling back just ends it.
	defer tx.Rollback()
	return fn(tx)
}
