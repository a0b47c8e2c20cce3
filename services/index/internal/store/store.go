package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Sentinel errors. Errors returned by this package wrap them with %w and add
// context, so test them with errors.Is.
var (
	// ErrModelMismatch reports that the model name given to Open differs from
	// the one the store was created with. Vectors of different models live in
	// different spaces and must never be mixed in one index.
	ErrModelMismatch = errors.New("embedding model mismatch")
	// ErrDimensionMismatch reports a vector length that differs from the
	// store's dimension, either in Options or in a paper.
	ErrDimensionMismatch = errors.New("vector dimension mismatch")
	// ErrNotConfigured reports that a new store was opened without a model
	// name and dimension.
	ErrNotConfigured = errors.New("store has no model configured")
	// ErrNotFound reports an arXiv id that is not in the store.
	ErrNotFound = errors.New("paper not found")
	// ErrInvalidPaper reports a paper that fails validation; the whole batch
	// is rejected and nothing is written.
	ErrInvalidPaper = errors.New("invalid paper")
	// ErrInvalidArgument reports a bad argument other than a paper.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrCompacted reports a replay from a version whose tombstones have
	// already been compacted away; the caller must rebuild from a full scan.
	ErrCompacted = errors.New("tombstones compacted past requested version")
	// ErrVersionAhead reports a version newer than the store's, e.g. a
	// snapshot paired with the wrong or a restored-from-backup store file.
	ErrVersionAhead = errors.New("version is newer than the store")
	// ErrNotAStore reports a file that is a SQLite database but not a store
	// of this package, or one written by a newer schema.
	ErrNotAStore = errors.New("not a compatible paper store")
	// ErrClosed reports use of a Store after Close.
	ErrClosed = errors.New("store is closed")
)

// NoKey is the key reported where there is none, e.g. for a deleted id that
// was not in the store. Real keys start at 1.
const NoKey int64 = 0

// applicationID marks files written by this package (PRAGMA application_id),
// so that Open refuses to migrate an unrelated SQLite database. "arXs".
const applicationID = 0x61725873

// Options configures Open.
type Options struct {
	// Model is the embedding model name. A new store records it; an existing
	// store refuses a different non-empty name with ErrModelMismatch. Empty
	// accepts whatever the store has (for tools), but then a new store
	// cannot be created.
	Model string
	// Dim is the vector dimension, with the same rules as Model
	// (ErrDimensionMismatch); 0 accepts the stored dimension.
	Dim int
	// BusyTimeout bounds how long a connection waits for a lock held by
	// another process (e.g. a backup). Zero means 5s.
	BusyTimeout time.Duration
	// MaxReaders is the size of the read connection pool. Zero means
	// max(4, GOMAXPROCS).
	MaxReaders int
	// MmapSize is how many bytes of the file read connections memory-map
	// (PRAGMA mmap_size). Zero means 1 GiB; negative disables it. Search
	// hits touch rows all over the file: through the map they are served
	// from the shared OS page cache instead of a pread into each
	// connection's private 2 MB page cache, which roughly halved
	// BenchmarkGetByKeys. Only address space is reserved; the writer does
	// not map.
	MmapSize int64
	// TitleWeight and AbstractWeight are the BM25 column weights of
	// SearchLexical. Zero means 2 and 1: a query term in a title says more
	// about a paper than the same term somewhere in its abstract.
	TitleWeight, AbstractWeight float64
	// NoLexicalIndex serves lexical search from FTS5 alone, without the
	// in-memory copy of the index (see lexindex.go): slower, but no memory
	// and no background builds. The results are the same.
	NoLexicalIndex bool
}

// Store is one shard's durable paper store. Its methods are safe for
// concurrent use.
type Store struct {
	path    string
	model   string
	dim     int
	titleW  float64
	absW    float64
	writer  *sql.DB // exactly one connection: writes are serialized here
	readers *sql.DB // read-only pool
	closed  atomic.Bool

	getByKeys       *sql.Stmt
	getByKeysVec    *sql.Stmt
	idsByKeys       *sql.Stmt
	getByIDs        *sql.Stmt
	getByIDsVec     *sql.Stmt
	keysInCategory  *sql.Stmt
	lexical         *sql.Stmt
	lexicalFiltered *sql.Stmt
	versionStmt     *sql.Stmt

	lex lexState // the in-memory copy of the lexical index
}

// Open opens or creates the store at path, a file name (not ":memory:": the
// writer and reader pools must share one database), migrates its schema and
// checks the model name and dimension against opts.
//
// The connections use WAL mode with synchronous=FULL. WAL lets readers run
// concurrently with the single writer. Under WAL, synchronous=NORMAL skips
// the fsync of the WAL at commit and only syncs at checkpoints: that is safe
// against a process crash, but a power loss or kernel crash can roll back
// transactions that had committed, and been acknowledged to clients, before
// the last checkpoint. For this store that would be worse than losing a
// write: a FAISS snapshot may already record the lost version and contain its
// keys, and after the rollback the store would hand out the same version
// numbers and the same AUTOINCREMENT keys again for different papers, so the
// snapshot would silently map ids to the wrong vectors. FULL fsyncs the WAL
// on every commit, so an acknowledged write is on stable storage and
// versions and keys only ever move forward. The cost is one fsync per write
// transaction, which batching (Upsert takes a slice) amortizes.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open %q: want a plain file path: %w", path, ErrInvalidArgument)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: open %q: path must not contain '?' or '#': %w", path, ErrInvalidArgument)
	}
	if opts.Dim < 0 {
		return nil, fmt.Errorf("store: open %s: negative dimension %d: %w", path, opts.Dim, ErrInvalidArgument)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	maxReaders := opts.MaxReaders
	if maxReaders <= 0 {
		maxReaders = max(4, runtime.GOMAXPROCS(0))
	}
	mmapSize := opts.MmapSize
	switch {
	case mmapSize == 0:
		mmapSize = 1 << 30
	case mmapSize < 0:
		mmapSize = 0
	}
	s := &Store{path: path, titleW: opts.TitleWeight, absW: opts.AbstractWeight}
	s.lex.init(opts.NoLexicalIndex)
	if s.titleW == 0 {
		s.titleW = 2
	}
	if s.absW == 0 {
		s.absW = 1
	}
	if s.titleW < 0 || s.absW < 0 {
		return nil, fmt.Errorf("store: open %s: negative BM25 weight: %w", path, ErrInvalidArgument)
	}

	busyMS := strconv.FormatInt(busy.Milliseconds(), 10)
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so it can never fail half-way with SQLITE_BUSY when upgrading a read
	// lock (the lock upgrade deadlock SQLite cannot resolve by waiting).
	writerDSN := path + "?_txlock=immediate&_busy_timeout=" + busyMS +
		"&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1"
	readerDSN := path + "?_busy_timeout=" + busyMS + "&_foreign_keys=1&_query_only=1" +
		"&_pragma=mmap_size(" + strconv.FormatInt(mmapSize, 10) + ")"

	var err error
	if s.writer, err = sql.Open("sqlite", writerDSN); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	fail := func(err error) (*Store, error) {
		s.closeDBs()
		return nil, err
	}
	if err := s.checkDurability(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", path, err))
	}
	if err := s.migrate(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", path, err))
	}
	if err := s.checkModel(ctx, opts.Model, opts.Dim); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", path, err))
	}

	// Readers are opened only now, when the file is certainly in WAL mode
	// (journal_mode=WAL is persistent) and has its schema.
	if s.readers, err = sql.Open("sqlite", readerDSN); err != nil {
		return fail(fmt.Errorf("store: open %s readers: %w", path, err))
	}
	s.readers.SetMaxOpenConns(maxReaders)
	s.readers.SetMaxIdleConns(maxReaders)
	s.readers.SetConnMaxLifetime(0)
	s.readers.SetConnMaxIdleTime(0)
	if err := s.prepare(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", path, err))
	}
	return s, nil
}

// Path returns the file name the store was opened with.
func (s *Store) Path() string { return s.path }

// Model returns the embedding model name recorded in the store.
func (s *Store) Model() string { return s.model }

// Dim returns the vector dimension recorded in the store.
func (s *Store) Dim() int { return s.dim }

// Close closes the store. It waits for nothing: calls in flight finish with
// their connection, later calls fail with ErrClosed. A committed write is
// already durable, so Close is not needed for durability.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) closeDBs() error {
	s.lex.stop() // a build reads through the readers
	var errs []error
	for _, st := range []*sql.Stmt{s.getByKeys, s.getByKeysVec, s.idsByKeys, s.getByIDs, s.getByIDsVec,
		s.keysInCategory, s.lexical, s.lexicalFiltered, s.versionStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.readers != nil {
		errs = append(errs, s.readers.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("store: %s: %w", s.path, ErrClosed)
	}
	return nil
}

// checkDurability verifies that the writer really runs with WAL and
// synchronous=FULL: SQLite silently keeps the old journal mode where WAL is
// unavailable (e.g. some network file systems), and the durability argument
// of Open depends on both settings.
func (s *Store) checkDurability(ctx context.Context) error {
	var mode string
	var sync int
	if err := s.writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if err := s.writer.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 {
		return fmt.Errorf("journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, sync)
	}
	return nil
}

// migrate brings the schema to the latest version in one transaction. The
// schema version is PRAGMA user_version: migrations[i] takes a file from
// version i to i+1.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()

	var userVersion, appID, objects int64
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&userVersion); err != nil {
		return fmt.Errorf("read user_version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("read application_id: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&objects); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	switch {
	case appID != 0 && appID != applicationID:
		return fmt.Errorf("application_id %#x: %w", appID, ErrNotAStore)
	case appID == 0 && objects > 0:
		return fmt.Errorf("database has %d schema objects but no store application_id: %w", objects, ErrNotAStore)
	case userVersion > int64(len(migrations)):
		return fmt.Errorf("schema version %d is newer than this binary's %d: %w",
			userVersion, len(migrations), ErrNotAStore)
	case userVersion == int64(len(migrations)):
		return nil
	}
	for i := userVersion; i < int64(len(migrations)); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", i, i+1, err)
		}
	}
	// PRAGMA arguments cannot be bound; both values are integers we format.
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(len(migrations))); err != nil {
		return fmt.Errorf("set user_version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA application_id = `+strconv.Itoa(applicationID)); err != nil {
		return fmt.Errorf("set application_id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}

// checkModel records the model on a new store or checks it on an existing one.
func (s *Store) checkModel(ctx context.Context, model string, dim int) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin model check: %w", err)
	}
	defer tx.Rollback()

	var storedModel string
	var storedDim int
	err = tx.QueryRowContext(ctx, `SELECT model, dim FROM collection WHERE id = 1`).Scan(&storedModel, &storedDim)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if model == "" || dim == 0 {
			return fmt.Errorf("new store needs Options.Model and Options.Dim (got %q, %d): %w",
				model, dim, ErrNotConfigured)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO collection (id, model, dim, version, compacted_through, created_at)
			 VALUES (1, ?, ?, 0, 0, ?)`,
			model, dim, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("record model: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit model: %w", err)
		}
		s.model, s.dim = model, dim
		return nil
	case err != nil:
		return fmt.Errorf("read model: %w", err)
	}

	var errs []error
	if model != "" && model != storedModel {
		errs = append(errs, fmt.Errorf("store holds vectors of model %q, opened for %q: %w",
			storedModel, model, ErrModelMismatch))
	}
	if dim != 0 && dim != storedDim {
		errs = append(errs, fmt.Errorf("store holds %d-dimensional vectors, opened for %d: %w",
			storedDim, dim, ErrDimensionMismatch))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.model, s.dim = storedModel, storedDim
	return nil
}

// prepare prepares the hot read statements once; database/sql re-prepares
// them lazily on each reader connection and caches them there.
func (s *Store) prepare(ctx context.Context) error {
	const byKeys = `SELECT ` + paperColumns + `, %s FROM papers
		WHERE key IN (SELECT value FROM json_each(?))`
	const byIDs = `SELECT ` + paperColumns + `, %s FROM papers
		WHERE arxiv_id IN (SELECT value FROM json_each(?))`
	const lexical = `SELECT papers_fts.rowid, p.arxiv_id, bm25(papers_fts, ?, ?) AS score
		FROM papers_fts JOIN papers AS p ON p.key = papers_fts.rowid
		WHERE papers_fts MATCH ? %s
		ORDER BY score, papers_fts.rowid
		LIMIT ?`
	const categoryFilter = `AND EXISTS (SELECT 1 FROM paper_categories AS c
		WHERE c.key = papers_fts.rowid AND c.category IN (SELECT value FROM json_each(?)))`
	stmts := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.getByKeys, fmt.Sprintf(byKeys, "NULL")},
		{&s.getByKeysVec, fmt.Sprintf(byKeys, "vector")},
		{&s.idsByKeys, `SELECT key, arxiv_id FROM papers WHERE key IN (SELECT value FROM json_each(?))`},
		{&s.getByIDs, fmt.Sprintf(byIDs, "NULL")},
		{&s.getByIDsVec, fmt.Sprintf(byIDs, "vector")},
		{&s.keysInCategory, `SELECT DISTINCT key FROM paper_categories
			WHERE category IN (SELECT value FROM json_each(?)) ORDER BY key`},
		{&s.lexical, fmt.Sprintf(lexical, "")},
		{&s.lexicalFiltered, fmt.Sprintf(lexical, categoryFilter)},
		{&s.versionStmt, `SELECT version FROM collection WHERE id = 1`},
	}
	for _, st := range stmts {
		p, err := s.readers.PrepareContext(ctx, st.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", st.query, err)
		}
		*st.dst = p
	}
	return nil
}
