package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Op says what Upsert did with one paper.
type Op uint8

// Upsert outcomes.
const (
	// OpCreated: the id was new; Key is a new key whose vector the ANN index
	// must add.
	OpCreated Op = iota + 1
	// OpReplaced: the id existed with a different vector; Key is a new key
	// to add and ReplacedKey, now tombstoned, must be removed.
	OpReplaced
	// OpUpdated: only metadata changed; Key and its vector are unchanged, so
	// the ANN index needs nothing.
	OpUpdated
	// OpUnchanged: the paper was already stored exactly so; nothing was
	// written for it.
	OpUnchanged
)

var opNames = [...]string{OpCreated: "created", OpReplaced: "replaced", OpUpdated: "updated", OpUnchanged: "unchanged"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// UpsertItem is the outcome for one paper of an Upsert batch.
type UpsertItem struct {
	// Key is the key that now holds the paper.
	Key int64
	// ReplacedKey is the key of the paper's previous vector, tombstoned by
	// this upsert; NoKey unless Op is OpReplaced.
	ReplacedKey int64
	Op          Op
}

// UpsertResult is the outcome of an Upsert.
type UpsertResult struct {
	// Version is the store version that includes the batch: the version of
	// the write transaction, or the unchanged current version when nothing
	// had to be written.
	Version int64
	// Items holds one entry per input paper, in input order.
	Items []UpsertItem
}

// AddedKeys returns the keys whose vectors the ANN index must add, in input
// order.
func (r *UpsertResult) AddedKeys() []int64 {
	var keys []int64
	for _, it := range r.Items {
		if it.Op == OpCreated || it.Op == OpReplaced {
			keys = append(keys, it.Key)
		}
	}
	return keys
}

// RemovedKeys returns the keys the ANN index must remove, in input order.
func (r *UpsertResult) RemovedKeys() []int64 {
	var keys []int64
	for _, it := range r.Items {
		if it.ReplacedKey != NoKey {
			keys = append(keys, it.ReplacedKey)
		}
	}
	return keys
}

// Upsert inserts or replaces papers, keyed by arXiv id, in one transaction:
// either every paper is written or, on any error, none is. Papers are
// validated before anything is written; a batch with an invalid paper or the
// same id twice fails with ErrInvalidPaper (and ErrDimensionMismatch for a
// vector of the wrong length). See the package documentation for how keys
// change on replace. An empty batch returns the current version.
//
// The batch is durable when Upsert returns without error.
func (s *Store) Upsert(ctx context.Context, papers []Paper) (UpsertResult, error) {
	if err := s.checkOpen(); err != nil {
		return UpsertResult{}, err
	}
	enc := make([]encodedPaper, len(papers))
	seen := make(map[string]int, len(papers))
	for i := range papers {
		e, err := encodePaper(&papers[i], s.dim)
		if err != nil {
			return UpsertResult{}, fmt.Errorf("store: upsert: paper %d (id %q): %w", i, papers[i].ID, err)
		}
		if j, dup := seen[e.id]; dup {
			return UpsertResult{}, fmt.Errorf("store: upsert: papers %d and %d both have id %q: %w",
				j, i, e.id, ErrInvalidPaper)
		}
		seen[e.id] = i
		enc[i] = e
	}
	if len(papers) == 0 {
		v, err := s.Version(ctx)
		return UpsertResult{Version: v}, err
	}

	items := make([]UpsertItem, len(papers))
	version, err := s.writeTx(ctx, func(tx *sql.Tx, version int64) (bool, error) {
		w, err := newUpserter(ctx, tx)
		if err != nil {
			return false, err
		}
		defer w.close()
		changed := false
		for i := range enc {
			if items[i], err = w.upsert(ctx, &enc[i], version); err != nil {
				return false, fmt.Errorf("paper %d (id %q): %w", i, enc[i].id, err)
			}
			changed = changed || items[i].Op != OpUnchanged
		}
		return changed, w.fts.apply(ctx, tx)
	})
	if err != nil {
		return UpsertResult{}, fmt.Errorf("store: upsert %d papers: %w", len(papers), err)
	}
	return UpsertResult{Version: version, Items: items}, nil
}

// upserter holds the statements of one upsert transaction, prepared once per
// batch rather than once per paper.
type upserter struct {
	selectOld, deleteRow, tombstone, insert *sql.Stmt
	insertCat, deleteCats, update           *sql.Stmt

	fts ftsBatch // the transaction's FTS changes, applied after all rows
}

func newUpserter(ctx context.Context, tx *sql.Tx) (*upserter, error) {
	w := &upserter{}
	for _, st := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.selectOld, `SELECT key, title, abstract, authors, categories, update_date, comments, vector
			FROM papers WHERE arxiv_id = ?`},
		{&w.deleteRow, `DELETE FROM papers WHERE key = ?`},
		{&w.tombstone, `INSERT INTO tombstones (key, version) VALUES (?, ?)`},
		{&w.insert, `INSERT INTO papers (arxiv_id, title, abstract, authors, categories,
			primary_category, update_date, comments, vector, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING key`},
		{&w.insertCat, `INSERT INTO paper_categories (category, key) VALUES (?, ?)`},
		{&w.deleteCats, `DELETE FROM paper_categories WHERE key = ?`},
		{&w.update, `UPDATE papers SET title = ?, abstract = ?, authors = ?, categories = ?,
			primary_category = ?, update_date = ?, comments = ? WHERE key = ?`},
	} {
		p, err := tx.PrepareContext(ctx, st.query)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare %q: %w", st.query, err)
		}
		*st.dst = p
	}
	return w, nil
}

func (w *upserter) close() {
	for _, st := range []*sql.Stmt{w.selectOld, w.deleteRow, w.tombstone, w.insert, w.insertCat, w.deleteCats, w.update} {
		if st != nil {
			st.Close()
		}
	}
}

func (w *upserter) upsert(ctx context.Context, e *encodedPaper, version int64) (UpsertItem, error) {
	var (
		oldKey int64
		vector []byte
		// The stored metadata, to detect unchanged papers and to unindex
		// the old title and abstract.
		title, abstract, authors, categories, updateDate, comments string
	)
	err := w.selectOld.QueryRowContext(ctx, e.id).Scan(&oldKey, &title, &abstract, &authors,
		&categories, &updateDate, &comments, &vector)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		key, err := w.insertRow(ctx, e, version)
		w.fts.add(key)
		return UpsertItem{Key: key, Op: OpCreated}, err
	case err != nil:
		return UpsertItem{}, fmt.Errorf("look up existing row: %w", err)
	}

	if bytes.Equal(vector, e.vector) {
		if e.sameMetadata(title, abstract, authors, categories, updateDate, comments) {
			return UpsertItem{Key: oldKey, Op: OpUnchanged}, nil
		}
		// Same vector: keep the key (and its creation version), so the ANN
		// index and any snapshot holding the key stay valid.
		if _, err := w.update.ExecContext(ctx, e.title, e.abstract, e.authors, e.categories,
			e.primary, e.updateDate, e.comments, oldKey); err != nil {
			return UpsertItem{}, fmt.Errorf("update metadata of key %d: %w", oldKey, err)
		}
		if title != e.title || abstract != e.abstract {
			w.fts.remove(oldKey, title, abstract)
			w.fts.add(oldKey)
		}
		if categories != e.categories {
			if _, err := w.deleteCats.ExecContext(ctx, oldKey); err != nil {
				return UpsertItem{}, fmt.Errorf("delete categories of key %d: %w", oldKey, err)
			}
			if err := w.insertCats(ctx, e, oldKey); err != nil {
				return UpsertItem{}, err
			}
		}
		return UpsertItem{Key: oldKey, Op: OpUpdated}, nil
	}

	// New vector: retire the old key so that a FAISS id always names one
	// vector. The delete cascades to paper_categories.
	w.fts.remove(oldKey, title, abstract)
	if _, err := w.deleteRow.ExecContext(ctx, oldKey); err != nil {
		return UpsertItem{}, fmt.Errorf("delete replaced key %d: %w", oldKey, err)
	}
	if _, err := w.tombstone.ExecContext(ctx, oldKey, version); err != nil {
		return UpsertItem{}, fmt.Errorf("tombstone replaced key %d: %w", oldKey, err)
	}
	key, err := w.insertRow(ctx, e, version)
	w.fts.add(key)
	return UpsertItem{Key: key, ReplacedKey: oldKey, Op: OpReplaced}, err
}

func (w *upserter) insertRow(ctx context.Context, e *encodedPaper, version int64) (int64, error) {
	var key int64
	if err := w.insert.QueryRowContext(ctx, e.id, e.title, e.abstract, e.authors, e.categories,
		e.primary, e.updateDate, e.comments, e.vector, version).Scan(&key); err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	return key, w.insertCats(ctx, e, key)
}

func (w *upserter) insertCats(ctx context.Context, e *encodedPaper, key int64) error {
	for _, c := range e.cats {
		if _, err := w.insertCat.ExecContext(ctx, c, key); err != nil {
			return fmt.Errorf("insert category %q of key %d: %w", c, key, err)
		}
	}
	return nil
}

// Delete deletes papers by arXiv id in one transaction and tombstones their
// keys. It is idempotent, so a client may retry it: ids that are not in the
// store are not an error. keys[i] is the key deleted for ids[i], or NoKey if
// ids[i] was not stored; a repeated id reports the same key each time.
// version is the store version that includes the deletion (unchanged when
// nothing was deleted). An empty or malformed id fails the whole call with
// ErrInvalidArgument.
func (s *Store) Delete(ctx context.Context, ids []string) (version int64, keys []int64, err error) {
	if err := s.checkOpen(); err != nil {
		return 0, nil, err
	}
	for i, id := range ids {
		if err := validateID(id); err != nil {
			return 0, nil, fmt.Errorf("store: delete: id %d: %w: %w", i, err, ErrInvalidArgument)
		}
	}
	keys = make([]int64, len(ids))
	version, err = s.writeTx(ctx, func(tx *sql.Tx, version int64) (bool, error) {
		del, err := tx.PrepareContext(ctx, `DELETE FROM papers WHERE arxiv_id = ? RETURNING key, title, abstract`)
		if err != nil {
			return false, fmt.Errorf("prepare delete: %w", err)
		}
		defer del.Close()
		tomb, err := tx.PrepareContext(ctx, `INSERT INTO tombstones (key, version) VALUES (?, ?)`)
		if err != nil {
			return false, fmt.Errorf("prepare tombstone: %w", err)
		}
		defer tomb.Close()

		var fts ftsBatch
		done := make(map[string]int64, len(ids))
		for i, id := range ids {
			if k, ok := done[id]; ok {
				keys[i] = k
				continue
			}
			var key int64
			var title, abstract string
			switch err := del.QueryRowContext(ctx, id).Scan(&key, &title, &abstract); {
			case errors.Is(err, sql.ErrNoRows):
				key = NoKey
			case err != nil:
				return false, fmt.Errorf("delete %q: %w", id, err)
			default:
				if _, err := tomb.ExecContext(ctx, key, version); err != nil {
					return false, fmt.Errorf("tombstone key %d of %q: %w", key, id, err)
				}
				fts.remove(key, title, abstract)
			}
			done[id] = key
			keys[i] = key
		}
		if fts.empty() {
			return false, nil
		}
		return true, fts.apply(ctx, tx)
	})
	if err != nil {
		return 0, nil, fmt.Errorf("store: delete %d ids: %w", len(ids), err)
	}
	return version, keys, nil
}

// CompactTombstones drops tombstones with version <= upTo and returns how many
// it dropped. Call it only once no snapshot older than upTo can be loaded any
// more (e.g. after a snapshot at upTo or later is durably saved and older
// ones deleted): afterwards Changes refuses to replay from below upTo with
// ErrCompacted. It does not bump the store version, since no paper changes.
func (s *Store) CompactTombstones(ctx context.Context, upTo int64) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: compact tombstones: begin: %w", err)
	}
	defer tx.Rollback()
	var version, compacted int64
	if err := tx.QueryRowContext(ctx, `SELECT version, compacted_through FROM collection WHERE id = 1`).
		Scan(&version, &compacted); err != nil {
		return 0, fmt.Errorf("store: compact tombstones: read version: %w", err)
	}
	if upTo > version {
		return 0, fmt.Errorf("store: compact tombstones up to %d, store is at version %d: %w",
			upTo, version, ErrVersionAhead)
	}
	if upTo <= compacted {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM tombstones WHERE version <= ?`, upTo)
	if err != nil {
		return 0, fmt.Errorf("store: compact tombstones up to %d: %w", upTo, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: compact tombstones up to %d: %w", upTo, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE collection SET compacted_through = ? WHERE id = 1`, upTo); err != nil {
		return 0, fmt.Errorf("store: compact tombstones: record %d: %w", upTo, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: compact tombstones: commit: %w", err)
	}
	return n, nil
}

// writeTx runs fn in a write transaction whose version is the current one
// plus one. fn reports whether it changed anything; if not, the transaction
// is rolled back and the current version returned, so versions count real
// changes only. Writes are serialized by the single writer connection, and
// BEGIN IMMEDIATE makes the version read-modify-write safe even against
// another process.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx, version int64) (bool, error)) (int64, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM collection WHERE id = 1`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read version: %w", err)
	}
	version := current + 1
	changed, err := fn(tx, version)
	if err != nil {
		return 0, err
	}
	if !changed {
		return current, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE collection SET version = ? WHERE id = 1`, version); err != nil {
		return 0, fmt.Errorf("bump version to %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit version %d: %w", version, err)
	}
	return version, nil
}

// ftsBatch collects the FTS changes of one write transaction and applies
// them in two statements, deletions first (a metadata update removes and
// re-adds the same key). FTS5 flushes its pending terms to a new segment at
// every statement savepoint, so one statement per transaction rather than
// one per paper keeps the index from fragmenting into a segment per paper.
type ftsBatch struct {
	removed []ftsDoc
	added   []int64
}

// ftsDoc is an indexed document as the FTS5 'delete' command needs it: an
// external-content index can only unindex the exact text it indexed.
type ftsDoc struct {
	key             int64
	title, abstract string
}

func (b *ftsBatch) remove(key int64, title, abstract string) {
	b.removed = append(b.removed, ftsDoc{key, title, abstract})
}

// add indexes key's current title and abstract, read from papers.
func (b *ftsBatch) add(key int64) { b.added = append(b.added, key) }

func (b *ftsBatch) empty() bool { return len(b.removed) == 0 && len(b.added) == 0 }

func (b *ftsBatch) apply(ctx context.Context, tx *sql.Tx) error {
	if len(b.removed) > 0 {
		docs := make([][3]any, len(b.removed))
		for i, d := range b.removed {
			docs[i] = [3]any{d.key, d.title, d.abstract}
		}
		js, err := json.Marshal(docs)
		if err != nil {
			return fmt.Errorf("encode FTS deletions: %w", err)
		}
		// A string, not []byte: json_each reads a blob as JSONB.
		if _, err := tx.ExecContext(ctx, `INSERT INTO papers_fts (papers_fts, rowid, title, abstract)
			SELECT 'delete', value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)`, string(js)); err != nil {
			return fmt.Errorf("unindex %d documents: %w", len(b.removed), err)
		}
	}
	if len(b.added) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO papers_fts (rowid, title, abstract)
			SELECT key, title, abstract FROM papers WHERE key IN (SELECT value FROM json_each(?))`,
			jsonInts(b.added)); err != nil {
			return fmt.Errorf("index %d documents: %w", len(b.added), err)
		}
	}
	return nil
}
