// Package store is the durable, per-shard paper store of the index service.
//
// The index service keeps N shards per instance. Each shard pairs a FAISS IVF
// index, which is derived data saved as periodic snapshots, with one SQLite
// file managed by this package, which is the source of truth. Every write
// transaction bumps a store-wide version; a snapshot records the version it
// contains, and on startup the service loads the snapshot and replays
// [Store.Changes] since that version, so a crash at any moment loses nothing
// that was acknowledged.
//
// # Keys, versions and tombstones
//
// Each paper row has a numeric key (an AUTOINCREMENT rowid) that is the FAISS
// id of its vector. A key names exactly one vector for its whole life: it is
// created by one write transaction, whose version the row records, and is
// never updated in place with a different vector nor reused after deletion
// (AUTOINCREMENT guarantees the latter even after the largest key is deleted).
// Writing a different vector for an existing arXiv id therefore deletes the
// old row, records a tombstone (old key, version) and inserts a new row with a
// new key. An upsert that changes only metadata keeps the key and its
// version, because the vector the ANN index holds for that key is still
// right; an identical upsert changes nothing, so retried batches do not churn
// the ANN index.
//
// These rules make replay exact: a snapshot at version V holds exactly the
// keys that existed at V. Changes(V) yields every live row created after V
// (absent from the snapshot, so it can be added without removing first) and
// every tombstone written after V (the key may be in the snapshot and must be
// removed). Tombstones at or below the version of the oldest snapshot that
// may still be loaded can be dropped with [Store.CompactTombstones]; the
// store remembers how far it compacted and refuses to replay from an older
// version with [ErrCompacted], so a stale snapshot is rebuilt (see
// [Store.ScanVectors]) instead of silently resurrecting deleted papers.
//
// # Categories
//
// A paper's categories are its arXiv categories in arXiv order; the first is
// the primary category. Category filters ([Store.KeysInCategories],
// [Store.SearchLexical]) match a paper when ANY of its categories, cross-lists
// included, is in the filter set, because a user filtering on cs.LG expects
// the stat.ML paper cross-listed to cs.LG. Matching is exact and
// case-sensitive ("cs.LG", "hep-th"); archive prefixes are not expanded.
//
// # Lexical index
//
// Title and abstract are indexed in an external-content FTS5 table that every
// write updates in the same transaction as the papers table, so the two never
// disagree, even after a crash. See [Store.SearchLexical] for the tokenizer
// and the query language, and [Store.Check] for verifying the index.
//
// # Concurrency
//
// A Store is safe for concurrent use. Writes go through a single SQLite
// connection (database/sql pool of one), which serializes them in Go and
// avoids SQLITE_BUSY between writers; reads use a separate pool of read-only
// connections and, thanks to WAL mode, never block on the writer.
package store
