package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

const (
	testModel = "sentence-transformers/all-MiniLM-L6-v2"
	testDim   = 8
)

func testPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "shard-0.db")
}

// openTest opens a store of testDim dimensions and closes it at cleanup.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Model: testModel, Dim: testDim})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// testVector is a deterministic vector, distinct for every (n, gen).
func testVector(dim, n, gen int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(math.Sin(float64(n*7919+gen*104729+j*31))) + float32(gen)
	}
	return v
}

// testPaper is paper n in generation gen of its vector. Its title carries a
// word unique to n ("uniq<n>x") and its abstract one unique to (n, gen).
func testPaper(n, gen int) Paper {
	return Paper{
		ID:         fmt.Sprintf("2501.%05d", n),
		Title:      fmt.Sprintf("Paper uniq%dx on sparse attention", n),
		Abstract:   fmt.Sprintf("We study gen%dy%dz of transformers.", gen, n),
		Authors:    []string{"Ada Lovelace", fmt.Sprintf("Author %d", n)},
		Categories: []string{"cs.LG", "stat.ML"},
		UpdateDate: "2025-03-04",
		Comments:   "10 pages",
		Vector:     testVector(testDim, n, gen),
	}
}

func mustUpsert(t testing.TB, s *Store, papers ...Paper) UpsertResult {
	t.Helper()
	res, err := s.Upsert(context.Background(), papers)
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	return res
}

func mustDelete(t testing.TB, s *Store, ids ...string) (int64, []int64) {
	t.Helper()
	v, keys, err := s.Delete(context.Background(), ids)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	return v, keys
}

func mustCheck(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func queryKeys(t testing.TB, db *sql.DB, query string) []int64 {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// liveKeys, ftsKeys and tombstoneKeys read the key sets of the papers table,
// the FTS index (its docsize shadow table has one row per indexed document)
// and the tombstones.
func liveKeys(t testing.TB, s *Store) []int64 {
	return queryKeys(t, s.readers, `SELECT key FROM papers ORDER BY key`)
}

func ftsKeys(t testing.TB, s *Store) []int64 {
	return queryKeys(t, s.readers, `SELECT id FROM papers_fts_docsize ORDER BY id`)
}

func tombstoneKeys(t testing.TB, s *Store) []int64 {
	return queryKeys(t, s.readers, `SELECT key FROM tombstones ORDER BY key`)
}

// allPapers returns every stored paper with its vector, by arXiv id.
func allPapers(t testing.TB, s *Store) map[string]Paper {
	t.Helper()
	keys := liveKeys(t, s)
	byKey, err := s.GetByKeys(context.Background(), keys, true)
	if err != nil {
		t.Fatalf("GetByKeys: %v", err)
	}
	out := make(map[string]Paper, len(byKey))
	for _, p := range byKey {
		out[p.ID] = p
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	in := []Paper{
		testPaper(1, 0),
		{
			ID:         "hep-th/9901001",
			Title:      "Schrödinger operators — “quoted” \u00e9t\u00e9 数学 🚀",
			Abstract:   "Line one.\nLine two with $\\alpha^2$ and 'quotes' \"double\".",
			Authors:    []string{"Paul Erdős", "李四"},
			Categories: []string{"hep-th", "math-ph", "hep-th", "math.MP"},
			UpdateDate: "1999-01-02",
			Comments:   "",
			Vector:     []float32{0, -1, 1, math.MaxFloat32, -math.SmallestNonzeroFloat32, 0.5, -0.25, 3},
		},
		{ID: "2503.01234", Vector: testVector(testDim, 3, 0)}, // no metadata at all
	}
	res := mustUpsert(t, s, in...)
	if res.Version != 1 {
		t.Errorf("version = %d, want 1", res.Version)
	}
	want := make(map[string]Paper)
	for i, p := range in {
		it := res.Items[i]
		if it.Op != OpCreated || it.ReplacedKey != NoKey || it.Key <= 0 {
			t.Errorf("item %d = %+v, want a created key", i, it)
		}
		p.Key, p.Version = it.Key, 1
		want[p.ID] = p
	}
	// Duplicate categories are dropped, first occurrence kept.
	hep := want["hep-th/9901001"]
	hep.Categories = []string{"hep-th", "math-ph", "math.MP"}
	want["hep-th/9901001"] = hep

	got, err := s.Get(ctx, []string{"2501.00001", "hep-th/9901001", "2503.01234", "9999.99999"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get:\n got %+v\nwant %+v", got, want)
	}

	keys := []int64{res.Items[2].Key, res.Items[0].Key, 12345, res.Items[1].Key}
	byKey, err := s.GetByKeys(ctx, keys, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(byKey) != 3 {
		t.Fatalf("GetByKeys returned %d papers, want 3", len(byKey))
	}
	for _, p := range want {
		g := byKey[p.Key]
		p.Vector = nil
		if !reflect.DeepEqual(g, p) {
			t.Errorf("GetByKeys[%d] = %+v, want %+v", p.Key, g, p)
		}
	}
	if pc := hep.PrimaryCategory(); pc != "hep-th" {
		t.Errorf("PrimaryCategory = %q", pc)
	}

	p, err := s.Lookup(ctx, "hep-th/9901001", true)
	if err != nil || !reflect.DeepEqual(p, hep) {
		t.Errorf("Lookup = %+v, %v", p, err)
	}
	if _, err := s.Lookup(ctx, "0704.0001", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a missing id: err = %v, want ErrNotFound", err)
	}
	if n, err := s.Count(ctx); err != nil || n != 3 {
		t.Errorf("Count = %d, %v", n, err)
	}
	if m, err := s.Get(ctx, nil, true); err != nil || len(m) != 0 {
		t.Errorf("Get(nil) = %v, %v", m, err)
	}
	mustCheck(t, s)
}

func TestUpsertOutcomes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	first := mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0))
	k2 := first.Items[1].Key

	retitled := testPaper(1, 0)
	retitled.Title = "A new title"
	recategorized := testPaper(2, 0)
	recategorized.Categories = []string{"stat.ML", "math.ST"}
	tests := []struct {
		name        string
		paper       Paper
		wantOp      Op
		wantNewKey  bool
		wantVersion int64 // 0: unchanged
	}{
		{"identical", testPaper(1, 0), OpUnchanged, false, 0},
		{"metadata only", retitled, OpUpdated, false, 2},
		{"identical again", retitled, OpUnchanged, false, 0},
		{"categories only", recategorized, OpUpdated, false, 3},
		{"new vector", testPaper(1, 1), OpReplaced, true, 4},
		{"new id", testPaper(3, 0), OpCreated, true, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := s.Lookup(ctx, tt.paper.ID, false)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			v0, _ := s.Version(ctx)
			tombs0 := tombstoneKeys(t, s)
			res := mustUpsert(t, s, tt.paper)
			it := res.Items[0]
			if it.Op != tt.wantOp {
				t.Errorf("op = %v, want %v", it.Op, tt.wantOp)
			}
			wantVersion := tt.wantVersion
			if wantVersion == 0 {
				wantVersion = v0
			}
			if res.Version != wantVersion {
				t.Errorf("version = %d, want %d", res.Version, wantVersion)
			}
			if tt.wantNewKey == (it.Key == before.Key) {
				t.Errorf("key %d, previous key %d, want new key: %v", it.Key, before.Key, tt.wantNewKey)
			}
			tombs := tombstoneKeys(t, s)
			if tt.wantOp == OpReplaced {
				if it.ReplacedKey != before.Key {
					t.Errorf("replaced key = %d, want %d", it.ReplacedKey, before.Key)
				}
				if !slices.Contains(tombs, before.Key) {
					t.Errorf("no tombstone for replaced key %d: %v", before.Key, tombs)
				}
				if old, _ := s.GetByKeys(ctx, []int64{before.Key}, false); len(old) != 0 {
					t.Errorf("replaced key %d still readable", before.Key)
				}
				if got := res.RemovedKeys(); !slices.Equal(got, []int64{before.Key}) {
					t.Errorf("RemovedKeys = %v", got)
				}
			} else {
				if it.ReplacedKey != NoKey || !slices.Equal(tombs, tombs0) {
					t.Errorf("replaced key %d, tombstones %v -> %v, want none", it.ReplacedKey, tombs0, tombs)
				}
			}
			if added := res.AddedKeys(); (len(added) == 1) != (tt.wantOp == OpCreated || tt.wantOp == OpReplaced) {
				t.Errorf("AddedKeys = %v for %v", added, tt.wantOp)
			}
			got, err := s.Lookup(ctx, tt.paper.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.paper
			want.Key = it.Key
			want.Version = got.Version
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stored %+v, want %+v", got, want)
			}
			// A key's version is the version that created its vector.
			if tt.wantOp == OpUpdated || tt.wantOp == OpUnchanged {
				if got.Version != before.Version {
					t.Errorf("key version changed %d -> %d without a new vector", before.Version, got.Version)
				}
			} else if got.Version != res.Version {
				t.Errorf("new key version = %d, want %d", got.Version, res.Version)
			}
			mustCheck(t, s)
		})
	}
	if keys, _ := s.KeysInCategories(ctx, []string{"cs.LG"}); slices.Contains(keys, k2) {
		t.Errorf("re-categorized key %d still in cs.LG", k2)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	res := mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0), testPaper(3, 0))
	k1, k3 := res.Items[0].Key, res.Items[2].Key

	v, keys := mustDelete(t, s, "2501.00001", "nope", "2501.00003", "2501.00001")
	if v != 2 {
		t.Errorf("version = %d, want 2", v)
	}
	if want := []int64{k1, NoKey, k3, k1}; !slices.Equal(keys, want) {
		t.Errorf("deleted keys = %v, want %v", keys, want)
	}
	if got := tombstoneKeys(t, s); !slices.Equal(got, []int64{k1, k3}) {
		t.Errorf("tombstones = %v, want %v", got, []int64{k1, k3})
	}
	m, err := s.Get(ctx, []string{"2501.00001", "2501.00002", "2501.00003"}, false)
	if err != nil || len(m) != 1 {
		t.Errorf("after delete Get = %v, %v; want only 2501.00002", m, err)
	}

	// Deleting only unknown ids (e.g. a retry) writes nothing.
	v, keys = mustDelete(t, s, "2501.00001", "nope")
	if v != 2 || !slices.Equal(keys, []int64{NoKey, NoKey}) {
		t.Errorf("repeated delete = %d, %v; want version 2 and no keys", v, keys)
	}
	if v, keys := mustDelete(t, s); v != 2 || len(keys) != 0 {
		t.Errorf("empty delete = %d, %v", v, keys)
	}
	if _, _, err := s.Delete(ctx, []string{"2501.00002", ""}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("delete of an empty id: err = %v, want ErrInvalidArgument", err)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Errorf("Count = %d after a failed delete, want 1", n)
	}

	// Keys are never reused, even after the largest one is deleted.
	again := mustUpsert(t, s, testPaper(3, 0))
	if again.Items[0].Key <= k3 {
		t.Errorf("re-created paper got key %d, want > %d", again.Items[0].Key, k3)
	}
	mustCheck(t, s)
}

// history records the ANN state (key -> vector) at every store version.
type history map[int64]map[int64][]float32

func scanState(t testing.TB, s *Store) (int64, map[int64][]float32) {
	t.Helper()
	state := make(map[int64][]float32)
	v, err := s.ScanVectors(context.Background(), func(key int64, vec []float32) error {
		state[key] = vec
		return nil
	})
	if err != nil {
		t.Fatalf("ScanVectors: %v", err)
	}
	return v, state
}

func TestChangesExact(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	r1 := mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0), testPaper(3, 0)) // v1
	a, b, c := r1.Items[0].Key, r1.Items[1].Key, r1.Items[2].Key
	r2 := mustUpsert(t, s, testPaper(2, 1)) // v2: replace b
	b2 := r2.Items[0].Key
	mustDelete(t, s, "2501.00003")                           // v3: delete c
	r4 := mustUpsert(t, s, testPaper(4, 0), testPaper(1, 1)) // v4: create d, replace a
	d, a2 := r4.Items[0].Key, r4.Items[1].Key
	meta := testPaper(4, 0)
	meta.Title = "retitled"
	mustUpsert(t, s, meta) // v5: metadata only: no change for the ANN index

	type ch struct {
		v, key  int64
		deleted bool
	}
	tests := []struct {
		since int64
		want  []ch
	}{
		// Since 0 is an empty snapshot; tombstones are streamed anyway and
		// are no-ops there.
		{0, []ch{{2, b, true}, {2, b2, false}, {3, c, true}, {4, a, true}, {4, d, false}, {4, a2, false}}},
		{1, []ch{{2, b, true}, {2, b2, false}, {3, c, true}, {4, a, true}, {4, d, false}, {4, a2, false}}},
		{2, []ch{{3, c, true}, {4, a, true}, {4, d, false}, {4, a2, false}}},
		{3, []ch{{4, a, true}, {4, d, false}, {4, a2, false}}},
		{4, nil},
		{5, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("since=", tt.since), func(t *testing.T) {
			var got []ch
			through, err := s.Changes(ctx, tt.since, func(c Change) error {
				if c.Deleted != (c.Vector == nil) {
					t.Errorf("change %+v: vector presence does not match Deleted", c)
				}
				got = append(got, ch{c.Version, c.Key, c.Deleted})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if through != 5 {
				t.Errorf("through = %d, want 5", through)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.Changes(ctx, 6, func(Change) error { return nil }); !errors.Is(err, ErrVersionAhead) {
		t.Errorf("Changes past the store version: err = %v, want ErrVersionAhead", err)
	}
	stop := errors.New("stop")
	if _, err := s.Changes(ctx, 0, func(Change) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Changes with a failing callback: err = %v, want it wrapped", err)
	}
}

// TestChangesReplay checks the property replay relies on: for every version
// V, the ANN state at V plus Changes(V) equals the final state, and no
// created key is already in the state at V.
func TestChangesReplay(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	states := history{}
	_, states[0] = scanState(t, s)
	gen := map[int]int{}
	for step := range 60 {
		n := step*7%23 + 1
		switch step % 5 {
		case 0, 1, 2:
			gen[n]++
			p := testPaper(n, gen[n])
			if step%4 == 0 {
				gen[n]-- // re-send the previous vector: metadata-only or unchanged
				p = testPaper(n, gen[n])
				p.Comments = fmt.Sprint("step ", step)
			}
			mustUpsert(t, s, p, testPaper(n+100, step%3))
		case 3:
			mustDelete(t, s, testPaper(n, 0).ID, testPaper((n+5)%23+1, 0).ID)
		case 4:
			mustUpsert(t, s) // empty: no version
		}
		v, st := scanState(t, s)
		states[v] = st
	}
	final, want := scanState(t, s)
	if final < 30 {
		t.Fatalf("only %d versions; the test exercises too little", final)
	}
	for since, st := range states {
		got := maps.Clone(st)
		through, err := s.Changes(ctx, since, func(c Change) error {
			if c.Deleted {
				delete(got, c.Key)
				return nil
			}
			if _, ok := got[c.Key]; ok {
				return fmt.Errorf("created key %d already in the snapshot at %d", c.Key, since)
			}
			got[c.Key] = c.Vector
			return nil
		})
		if err != nil {
			t.Fatalf("Changes(%d): %v", since, err)
		}
		if through != final {
			t.Errorf("Changes(%d) through %d, want %d", since, through, final)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("snapshot at %d plus changes differs from the final state", since)
		}
	}
}

func TestCompactTombstones(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0)) // v1
	mustUpsert(t, s, testPaper(1, 1))                  // v2: tombstone at 2
	mustDelete(t, s, "2501.00002")                     // v3: tombstone at 3
	mustUpsert(t, s, testPaper(3, 0))                  // v4

	if _, err := s.CompactTombstones(ctx, 5); !errors.Is(err, ErrVersionAhead) {
		t.Errorf("compact past the version: err = %v, want ErrVersionAhead", err)
	}
	n, err := s.CompactTombstones(ctx, 2)
	if err != nil || n != 1 {
		t.Fatalf("CompactTombstones(2) = %d, %v; want 1", n, err)
	}
	if n, err := s.CompactTombstones(ctx, 1); err != nil || n != 0 {
		t.Errorf("compacting below the horizon = %d, %v; want a no-op", n, err)
	}
	nop := func(Change) error { return nil }
	for _, tt := range []struct {
		since   int64
		wantErr error
	}{
		{0, nil}, {1, ErrCompacted}, {2, nil}, {3, nil}, {4, nil}, {5, ErrVersionAhead},
	} {
		if _, err := s.Changes(ctx, tt.since, nop); !errors.Is(err, tt.wantErr) {
			t.Errorf("Changes(%d): err = %v, want %v", tt.since, err, tt.wantErr)
		}
	}
	if _, err := s.Changes(ctx, -1, nop); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Changes(-1): err = %v, want ErrInvalidArgument", err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tombstones != 1 || st.CompactedThrough != 2 || st.Version != 4 {
		t.Errorf("stats after compaction = %+v", st)
	}
	if v, _ := s.Version(ctx); v != 4 {
		t.Errorf("compaction changed the version to %d", v)
	}
}

func TestModelAndDimension(t *testing.T) {
	ctx := context.Background()
	path := testPath(t)
	s, err := Open(ctx, path, Options{Model: "m1", Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	tests := []struct {
		name      string
		path      string
		opts      Options
		wantErrs  []error
		wantModel string
		wantDim   int
	}{
		{"same", path, Options{Model: "m1", Dim: 4}, nil, "m1", 4},
		{"other model", path, Options{Model: "m2", Dim: 4}, []error{ErrModelMismatch}, "", 0},
		{"other dimension", path, Options{Model: "m1", Dim: 8}, []error{ErrDimensionMismatch}, "", 0},
		{"both differ", path, Options{Model: "m2", Dim: 8}, []error{ErrModelMismatch, ErrDimensionMismatch}, "", 0},
		{"adopt stored", path, Options{}, nil, "m1", 4},
		{"new without model", testPath(t), Options{Dim: 4}, []error{ErrNotConfigured}, "", 0},
		{"new without dimension", testPath(t), Options{Model: "m1"}, []error{ErrNotConfigured}, "", 0},
		{"negative dimension", testPath(t), Options{Model: "m1", Dim: -1}, []error{ErrInvalidArgument}, "", 0},
		{"memory", ":memory:", Options{Model: "m1", Dim: 4}, []error{ErrInvalidArgument}, "", 0},
		{"query in path", path + "?mode=ro", Options{Model: "m1", Dim: 4}, []error{ErrInvalidArgument}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path, tt.opts)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if s.Model() != tt.wantModel || s.Dim() != tt.wantDim {
					t.Errorf("model, dim = %q, %d; want %q, %d", s.Model(), s.Dim(), tt.wantModel, tt.wantDim)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestNotAStore(t *testing.T) {
	path := testPath(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE unrelated (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, Options{Model: "m", Dim: 4}); !errors.Is(err, ErrNotAStore) {
		t.Errorf("Open of an unrelated database: err = %v, want ErrNotAStore", err)
	}
}

func TestValidationIsAllOrNothing(t *testing.T) {
	nan := testPaper(9, 0)
	nan.Vector[3] = float32(math.NaN())
	inf := testPaper(9, 0)
	inf.Vector[0] = float32(math.Inf(1))
	negInf := testPaper(9, 0)
	negInf.Vector[7] = float32(math.Inf(-1))
	short := testPaper(9, 0)
	short.Vector = short.Vector[:testDim-1]
	long := testPaper(9, 0)
	long.Vector = append(long.Vector, 1)
	noVector := testPaper(9, 0)
	noVector.Vector = nil
	emptyID := testPaper(9, 0)
	emptyID.ID = ""
	spaceID := testPaper(9, 0)
	spaceID.ID = "2501.0000 9"
	ctrlID := testPaper(9, 0)
	ctrlID.ID = "2501.00009\x00"
	badDate := testPaper(9, 0)
	badDate.UpdateDate = "2025-3-4"
	badDate2 := testPaper(9, 0)
	badDate2.UpdateDate = "2025-02-30"
	emptyCat := testPaper(9, 0)
	emptyCat.Categories = []string{"cs.LG", ""}
	spaceCat := testPaper(9, 0)
	spaceCat.Categories = []string{"cs.LG stat.ML"}
	badUTF8 := testPaper(9, 0)
	badUTF8.Title = "bad \xff title"
	badAuthor := testPaper(9, 0)
	badAuthor.Authors = []string{"\xc3"}

	tests := []struct {
		name  string
		batch []Paper
		want  []error
	}{
		{"NaN", []Paper{nan}, []error{ErrInvalidPaper}},
		{"+Inf", []Paper{inf}, []error{ErrInvalidPaper}},
		{"-Inf", []Paper{negInf}, []error{ErrInvalidPaper}},
		{"short vector", []Paper{short}, []error{ErrInvalidPaper, ErrDimensionMismatch}},
		{"long vector", []Paper{long}, []error{ErrInvalidPaper, ErrDimensionMismatch}},
		{"no vector", []Paper{noVector}, []error{ErrInvalidPaper, ErrDimensionMismatch}},
		{"empty id", []Paper{emptyID}, []error{ErrInvalidPaper}},
		{"space in id", []Paper{spaceID}, []error{ErrInvalidPaper}},
		{"control character in id", []Paper{ctrlID}, []error{ErrInvalidPaper}},
		{"date format", []Paper{badDate}, []error{ErrInvalidPaper}},
		{"impossible date", []Paper{badDate2}, []error{ErrInvalidPaper}},
		{"empty category", []Paper{emptyCat}, []error{ErrInvalidPaper}},
		{"space in category", []Paper{spaceCat}, []error{ErrInvalidPaper}},
		{"invalid UTF-8 title", []Paper{badUTF8}, []error{ErrInvalidPaper}},
		{"invalid UTF-8 author", []Paper{badAuthor}, []error{ErrInvalidPaper}},
		{"duplicate id in batch", []Paper{testPaper(9, 0), testPaper(9, 1)}, []error{ErrInvalidPaper}},
	}
	ctx := context.Background()
	s := openTest(t, testPath(t))
	base := mustUpsert(t, s, testPaper(1, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Good papers around the bad one, one of them a replace, must
			// not be written either.
			batch := append([]Paper{testPaper(2, 0), testPaper(1, 1)}, tt.batch...)
			batch = append(batch, testPaper(3, 0))
			_, err := s.Upsert(ctx, batch)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			assertUnchanged(t, s, base)
		})
	}
}

// assertUnchanged checks that the store holds exactly the one paper of base.
func assertUnchanged(t *testing.T, s *Store, base UpsertResult) {
	t.Helper()
	ctx := context.Background()
	if v, _ := s.Version(ctx); v != base.Version {
		t.Errorf("version = %d, want %d", v, base.Version)
	}
	if keys := liveKeys(t, s); !slices.Equal(keys, []int64{base.Items[0].Key}) {
		t.Errorf("keys = %v, want %v", keys, []int64{base.Items[0].Key})
	}
	if keys := ftsKeys(t, s); !slices.Equal(keys, []int64{base.Items[0].Key}) {
		t.Errorf("FTS keys = %v, want %v", keys, []int64{base.Items[0].Key})
	}
	if tombs := tombstoneKeys(t, s); len(tombs) != 0 {
		t.Errorf("tombstones = %v, want none", tombs)
	}
	mustCheck(t, s)
}

// TestAbortMidTransaction fails a batch inside the transaction, after some of
// its rows were written, and checks that all of them are rolled back.
func TestAbortMidTransaction(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	base := mustUpsert(t, s, testPaper(1, 0))
	if _, err := s.writer.Exec(`CREATE TEMP TRIGGER poison BEFORE INSERT ON papers
		WHEN new.arxiv_id = '2501.00666' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Upsert(ctx, []Paper{testPaper(2, 0), testPaper(1, 1), testPaper(666, 0)})
	if err == nil {
		t.Fatal("Upsert of a poisoned batch succeeded")
	}
	assertUnchanged(t, s, base)

	// The writer connection is healthy afterwards.
	if _, err := s.writer.Exec(`DROP TRIGGER temp.poison`); err != nil {
		t.Fatal(err)
	}
	if res := mustUpsert(t, s, testPaper(2, 0)); res.Version != base.Version+1 {
		t.Errorf("next version = %d, want %d", res.Version, base.Version+1)
	}
}

func TestCancelledContextWritesNothing(t *testing.T) {
	s := openTest(t, testPath(t))
	base := mustUpsert(t, s, testPaper(1, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Upsert(ctx, []Paper{testPaper(2, 0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Upsert with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, _, err := s.Delete(ctx, []string{testPaper(1, 0).ID}); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context: err = %v, want context.Canceled", err)
	}
	assertUnchanged(t, s, base)
}

func TestKeysInCategories(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	mk := func(n int, cats ...string) Paper {
		p := testPaper(n, 0)
		p.Categories = cats
		return p
	}
	res := mustUpsert(t, s,
		mk(1, "cs.LG", "stat.ML"),
		mk(2, "stat.ML"),
		mk(3, "hep-th", "gr-qc", "cs.LG"),
		mk(4, "math.AG"),
		mk(5),
	)
	k := func(i int) int64 { return res.Items[i-1].Key }
	tests := []struct {
		filter []string
		want   []int64
	}{
		{[]string{"cs.LG"}, []int64{k(1), k(3)}}, // cross-list of 3 counts
		{[]string{"stat.ML"}, []int64{k(1), k(2)}},
		{[]string{"cs.LG", "stat.ML"}, []int64{k(1), k(2), k(3)}}, // any, no duplicates
		{[]string{"gr-qc", "math.AG", "cs.CV"}, []int64{k(3), k(4)}},
		{[]string{"cs.CV"}, nil},
		{[]string{"cs"}, nil},    // no prefix expansion
		{[]string{"CS.LG"}, nil}, // case-sensitive
	}
	for _, tt := range tests {
		got, err := s.KeysInCategories(ctx, tt.filter)
		if err != nil {
			t.Fatalf("KeysInCategories(%v): %v", tt.filter, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("KeysInCategories(%v) = %v, want %v", tt.filter, got, tt.want)
		}
	}
	for _, bad := range [][]string{nil, {}, {""}, {"cs.LG", "a b"}} {
		if _, err := s.KeysInCategories(ctx, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("KeysInCategories(%q): err = %v, want ErrInvalidArgument", bad, err)
		}
	}
	mustDelete(t, s, testPaper(3, 0).ID)
	if got, _ := s.KeysInCategories(ctx, []string{"cs.LG"}); !slices.Equal(got, []int64{k(1)}) {
		t.Errorf("after deleting paper 3: %v, want %v", got, []int64{k(1)})
	}
}

func TestSampleVectors(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	var papers []Paper
	for n := range 50 {
		papers = append(papers, testPaper(n, 0))
	}
	mustUpsert(t, s, papers...)
	_, state := scanState(t, s)
	byFirst := make(map[float32]bool)
	for _, v := range state {
		byFirst[v[0]] = true
	}

	a, err := s.SampleVectors(ctx, 10, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 10*testDim {
		t.Fatalf("sample has %d values, want %d", len(a), 10*testDim)
	}
	seen := make(map[float32]bool)
	for i := 0; i < len(a); i += testDim {
		if !byFirst[a[i]] || seen[a[i]] {
			t.Errorf("sample row %d is not a distinct stored vector", i/testDim)
		}
		seen[a[i]] = true
	}
	b, _ := s.SampleVectors(ctx, 10, 42)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different samples")
	}
	c, _ := s.SampleVectors(ctx, 10, 43)
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same sample")
	}
	all, err := s.SampleVectors(ctx, 1000, 1)
	if err != nil || len(all) != 50*testDim {
		t.Errorf("oversized sample has %d values, %v; want all %d", len(all), err, 50*testDim)
	}
	if _, err := s.SampleVectors(ctx, 0, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SampleVectors(0): err = %v, want ErrInvalidArgument", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := testPath(t)
	s := openTest(t, path)
	mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0), testPaper(3, 0))
	mustUpsert(t, s, testPaper(2, 1))
	mustDelete(t, s, testPaper(3, 0).ID)
	if _, err := s.CompactTombstones(ctx, 2); err != nil {
		t.Fatal(err)
	}
	wantPapers := allPapers(t, s)
	wantStats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTombs := tombstoneKeys(t, s)
	wantHits, err := s.SearchLexical(ctx, "sparse attention", 10, nil)
	if err != nil || len(wantHits) != 2 {
		t.Fatalf("SearchLexical = %v, %v", wantHits, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, path)
	if got := allPapers(t, s2); !reflect.DeepEqual(got, wantPapers) {
		t.Errorf("papers after reopen:\n got %+v\nwant %+v", got, wantPapers)
	}
	gotStats, err := s2.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotStats.FileBytes, gotStats.WALBytes, wantStats.FileBytes, wantStats.WALBytes = 0, 0, 0, 0
	if gotStats != wantStats {
		t.Errorf("stats after reopen = %+v, want %+v", gotStats, wantStats)
	}
	if got := tombstoneKeys(t, s2); !slices.Equal(got, wantTombs) {
		t.Errorf("tombstones after reopen = %v, want %v", got, wantTombs)
	}
	if got, err := s2.SearchLexical(ctx, "sparse attention", 10, nil); err != nil || !reflect.DeepEqual(got, wantHits) {
		t.Errorf("SearchLexical after reopen = %v, %v; want %v", got, err, wantHits)
	}
	res := mustUpsert(t, s2, testPaper(3, 0))
	if res.Version != wantStats.Version+1 || res.Items[0].Key <= wantStats.MaxKey {
		t.Errorf("after reopen upsert = %+v; want version %d and a key above %d",
			res, wantStats.Version+1, wantStats.MaxKey)
	}
	mustCheck(t, s2)
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	mustUpsert(t, s, testPaper(1, 0), testPaper(2, 0))
	mustUpsert(t, s, testPaper(1, 1))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Model: testModel, Dim: testDim, Version: 2, Papers: 2, Tombstones: 1, MaxKey: 3}
	if st.FileBytes <= 0 {
		t.Errorf("FileBytes = %d", st.FileBytes)
	}
	st.FileBytes, st.WALBytes = 0, 0
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testPath(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Upsert":  func() error { _, err := s.Upsert(ctx, []Paper{testPaper(1, 0)}); return err },
		"Delete":  func() error { _, _, err := s.Delete(ctx, []string{"x"}); return err },
		"Get":     func() error { _, err := s.Get(ctx, []string{"x"}, false); return err },
		"Keys":    func() error { _, err := s.GetByKeys(ctx, []int64{1}, false); return err },
		"Version": func() error { _, err := s.Version(ctx); return err },
		"Count":   func() error { _, err := s.Count(ctx); return err },
		"Changes": func() error { _, err := s.Changes(ctx, 0, func(Change) error { return nil }); return err },
		"Lexical": func() error { _, err := s.SearchLexical(ctx, "x", 1, nil); return err },
		"Close":   s.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}

func TestConnectionSettings(t *testing.T) {
	s := openTest(t, testPath(t))
	for _, tt := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.writer, "journal_mode", "wal"},
		{s.writer, "synchronous", "2"},
		{s.writer, "foreign_keys", "1"},
		{s.readers, "journal_mode", "wal"},
		{s.readers, "query_only", "1"},
		{s.readers, "mmap_size", "1073741824"},
	} {
		var got string
		if err := tt.db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if _, err := s.readers.Exec(`DELETE FROM papers`); err == nil {
		t.Error("a reader connection could write")
	}
}
