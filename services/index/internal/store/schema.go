package store

// migrations[i] upgrades a store from schema version i to i+1 (PRAGMA
// user_version). Append new migrations; never edit a released one, since
// existing files have already run it.
var migrations = []string{
	schemaV1,
	schemaV2,
}

// schemaV1 is the initial schema.
//
// collection is a single row: the embedding model and dimension every vector
// must match, the store version (bumped by every write transaction that
// changes papers) and how far tombstones have been compacted.
//
// papers.key is the FAISS id. AUTOINCREMENT (rather than a plain rowid
// alias) guarantees a key is never handed out again, even after the row with
// the largest key is deleted; papers.version is the version of the
// transaction that created the key and its vector, and never changes.
//
// paper_categories holds every category of a paper, cross-lists included,
// keyed (category, key) so that a category filter is an index range scan; the
// key index serves the cascade on delete. papers.categories keeps the
// original order for display, and primary_category is indexed for filters
// on the primary category alone.
//
// tombstones holds keys deleted or replaced at a version, for replay onto
// snapshots that still contain them.
//
// papers_fts is an external-content FTS5 index over title and abstract: the
// text lives once, in papers, and the write paths update the index in the
// same transaction (see ftsBatch). There are deliberately no triggers: FTS5
// flushes its buffer of pending terms to a new on-disk segment at every
// statement savepoint, so per-row triggers wrote a tiny segment per paper and
// spent about half of ingest time merging them, where the write paths apply
// all FTS changes of a transaction in at most two statements. Store.Check
// verifies the index against the table.
//
// The tokenizer is porter stemming over unicode61 with remove_diacritics 2.
// arXiv titles and abstracts are English prose where stemming buys recall
// ("network" finds "networks", "learned" finds "learning"), which is what a
// lexical complement to dense retrieval is for; its occasional
// over-conflation is cheap because BM25 is fused with vector similarity
// rather than used alone. remove_diacritics 2 folds accents on precomposed
// and decomposed characters alike, so "Schrödinger", "Schrodinger" and
// "Erdős" match however the user or the metadata spelled them.
const schemaV1 = `
CREATE TABLE collection (
	id                INTEGER PRIMARY KEY CHECK (id = 1),
	model             TEXT    NOT NULL CHECK (model <> ''),
	dim               INTEGER NOT NULL CHECK (dim > 0),
	version           INTEGER NOT NULL CHECK (version >= 0),
	compacted_through INTEGER NOT NULL CHECK (compacted_through >= 0),
	created_at        TEXT    NOT NULL
) STRICT;

CREATE TABLE papers (
	key              INTEGER PRIMARY KEY AUTOINCREMENT,
	arxiv_id         TEXT    NOT NULL UNIQUE,
	title            TEXT    NOT NULL,
	abstract         TEXT    NOT NULL,
	authors          TEXT    NOT NULL, -- JSON array of strings
	categories       TEXT    NOT NULL, -- space-separated, primary first
	primary_category TEXT    NOT NULL,
	update_date      TEXT    NOT NULL, -- YYYY-MM-DD or ''
	comments         TEXT    NOT NULL,
	vector           BLOB    NOT NULL, -- little-endian float32 x dim
	version          INTEGER NOT NULL
) STRICT;

CREATE INDEX papers_version ON papers (version);
CREATE INDEX papers_primary_category ON papers (primary_category);

CREATE TABLE paper_categories (
	category TEXT    NOT NULL,
	key      INTEGER NOT NULL REFERENCES papers (key) ON DELETE CASCADE,
	PRIMARY KEY (category, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX paper_categories_key ON paper_categories (key);

CREATE TABLE tombstones (
	key     INTEGER PRIMARY KEY,
	version INTEGER NOT NULL
) STRICT;

CREATE INDEX tombstones_version ON tombstones (version);

CREATE VIRTUAL TABLE papers_fts USING fts5 (
	title,
	abstract,
	content = 'papers',
	content_rowid = 'key',
	tokenize = 'porter unicode61 remove_diacritics 2'
);

`

// schemaV2 adds an fts5vocab table over papers_fts: one row per token
// occurrence (term, doc, col, offset). It stores nothing; reading it walks
// the FTS5 index, which is how the in-memory copy of the index that serves
// lexical search is built (see lexindex.go). It is a table of the schema,
// not a temporary one, because the read connections are query-only.
const schemaV2 = `
CREATE VIRTUAL TABLE papers_fts_instance USING fts5vocab (papers_fts, instance);
`
