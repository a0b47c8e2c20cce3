package shard

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// state tracks what the store should hold, id -> paper.
type state map[string]store.Paper

func (st state) apply(ps []store.Paper) {
	for _, p := range ps {
		st[p.ID] = p
	}
}

// checkExact searches the shard with nq queries and compares each top-k
// with brute force over st.
func checkExact(t *testing.T, s *Shard, g *synth.Generator, st state, k int, cats []string) {
	t.Helper()
	for range 5 {
		q := g.Vector()
		res, err := s.SearchDense(context.Background(), q, k, 0, cats)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(t, s, res.Hits[0])
		if want := exact(st, q, k, cats); !slices.Equal(got, want) {
			t.Fatalf("search (categories %v) = %v, want %v", cats, got, want)
		}
	}
}

func TestUpsertSearchDelete(t *testing.T) {
	ctx := context.Background()
	s := openShard(t, t.TempDir(), testConfig())
	g := synth.New(synth.Spec{Dim: testDim, Seed: 1}, 300)
	st := state{}
	ps := papers(g, 0, 300)
	res := mustUpsert(t, s.Shard, ps)
	st.apply(ps)
	if s.Applied() != res.Version || s.Gauges().IndexedVectors != 300 {
		t.Fatalf("after upsert: applied %d (store %d), %d vectors", s.Applied(), res.Version, s.Gauges().IndexedVectors)
	}
	checkExact(t, s.Shard, g, st, 10, nil)

	// New vectors for 20 papers: their old keys leave the index.
	repl := papers(g, 0, 20)
	res = mustUpsert(t, s.Shard, repl)
	st.apply(repl)
	if n := len(res.RemovedKeys()); n != 20 {
		t.Fatalf("replacing 20 vectors removed %d keys", n)
	}
	if got := s.Gauges().IndexedVectors; got != 300 {
		t.Fatalf("after replacing: %d vectors, want 300", got)
	}
	checkExact(t, s.Shard, g, st, 10, nil)

	// An identical upsert changes nothing, not even the version.
	before := s.Applied()
	if res := mustUpsert(t, s.Shard, repl[:5]); res.Version != before {
		t.Errorf("identical upsert moved the version from %d to %d", before, res.Version)
	}

	del := []string{ps[50].ID, ps[51].ID, "no-such-paper"}
	_, keys, err := s.Delete(ctx, del)
	if err != nil {
		t.Fatal(err)
	}
	if keys[2] != store.NoKey || keys[0] == store.NoKey {
		t.Errorf("Delete keys = %v", keys)
	}
	delete(st, ps[50].ID)
	delete(st, ps[51].ID)
	if got := s.Gauges().IndexedVectors; got != 298 {
		t.Fatalf("after deleting: %d vectors, want 298", got)
	}
	checkExact(t, s.Shard, g, st, 10, nil)
	checkExact(t, s.Shard, g, st, 500, nil) // k beyond the shard's size
	if got := testutil.ToFloat64(s.m.DeletedPapers); got != 2 {
		t.Errorf("deleted papers metric = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.m.UpsertedPapers.WithLabelValues("replaced")); got != 20 {
		t.Errorf("replaced papers metric = %v, want 20", got)
	}
}

// TestFilteredSearch checks that category filters are exact: every hit is
// in a requested category, and k hits come back whenever k exist, also on
// IVF with nprobe 1, where the probed list rarely holds them.
func TestFilteredSearch(t *testing.T) {
	ctx := context.Background()
	g := synth.New(synth.Spec{Dim: testDim, Seed: 2}, 1000)
	ps := papers(g, 0, 1000)
	ps[7].Categories = []string{"q-bio.NC"} // a category of one paper
	st := state{}
	st.apply(ps)
	for _, kind := range []string{"flat", "ivf"} {
		t.Run(kind, func(t *testing.T) {
			s := openShard(t, t.TempDir(), testConfig())
			mustUpsert(t, s.Shard, ps)
			if kind == "ivf" {
				if err := s.Train(ctx, 20); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				cats []string
				k    int
				want int
			}{
				{[]string{"math.CO"}, 10, 10},
				{[]string{"math.CO"}, 150, 100},
				{[]string{"q-bio.NC"}, 10, 1},
				{[]string{"q-bio.NC", "math.CO"}, 1000, 101},
				{[]string{"hep-th"}, 10, 0},
			}
			for _, tt := range tests {
				for range 3 {
					q := g.Vector()
					res, err := s.SearchDense(ctx, q, tt.k, 1, tt.cats)
					if err != nil {
						t.Fatal(err)
					}
					got := ids(t, s.Shard, res.Hits[0])
					if len(got) != tt.want {
						t.Fatalf("categories %v, k %d: %d hits, want %d", tt.cats, tt.k, len(got), tt.want)
					}
					for _, id := range got {
						if !slices.ContainsFunc(st[id].Categories, func(c string) bool { return slices.Contains(tt.cats, c) }) {
							t.Fatalf("categories %v: hit %s is in %v", tt.cats, id, st[id].Categories)
						}
					}
					if kind == "flat" {
						if want := exact(st, q, tt.k, tt.cats); !slices.Equal(got, want) {
							t.Fatalf("categories %v: %v, want %v", tt.cats, got, want)
						}
					}
				}
			}
			if kind == "ivf" && testutil.ToFloat64(s.m.FilterFallbacks) == 0 {
				t.Error("no filtered search fell back to nprobe = nlist; the test does not exercise the fallback")
			}
		})
	}
}

// TestSnapshotAndReplay writes a snapshot, makes more writes, closes the
// shard without a final snapshot (a crash, as far as the index is
// concerned) and checks that reopening replays exactly the missing writes.
func TestSnapshotAndReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := synth.New(synth.Spec{Dim: testDim, Seed: 3}, 300)
	st := state{}
	s := openShard(t, dir, testConfig())
	ps := papers(g, 0, 200)
	mustUpsert(t, s.Shard, ps)
	st.apply(ps)
	if wrote, err := s.Snapshot(ctx); err != nil || !wrote {
		t.Fatalf("Snapshot = %v, %v", wrote, err)
	}
	if wrote, err := s.Snapshot(ctx); err != nil || wrote {
		t.Fatalf("second Snapshot without changes = %v, %v; want nothing written", wrote, err)
	}
	snapVersion := s.Manifest().StoreVersion

	more := papers(g, 200, 50)
	repl := papers(g, 0, 10)
	mustUpsert(t, s.Shard, more)
	mustUpsert(t, s.Shard, repl)
	st.apply(more)
	st.apply(repl)
	if _, _, err := s.Delete(ctx, []string{ps[100].ID, ps[101].ID}); err != nil {
		t.Fatal(err)
	}
	delete(st, ps[100].ID)
	delete(st, ps[101].ID)
	version := s.Applied()
	if err := s.Close(ctx, false); err != nil {
		t.Fatal(err)
	}

	s2 := openShard(t, dir, testConfig())
	if s2.Applied() != version || s2.Manifest().StoreVersion != snapVersion {
		t.Fatalf("reopened at version %d from snapshot %d; want %d from %d", s2.Applied(), s2.Manifest().StoreVersion, version, snapVersion)
	}
	if got := s2.Gauges().IndexedVectors; got != int64(len(st)) {
		t.Fatalf("reopened with %d vectors, want %d", got, len(st))
	}
	if a, r := testutil.ToFloat64(s2.m.ReplayedChanges.WithLabelValues("added")), testutil.ToFloat64(s2.m.ReplayedChanges.WithLabelValues("removed")); a != 60 || r != 12 {
		t.Errorf("replayed %v added, %v removed; want 60 and 12", a, r)
	}
	checkExact(t, s2.Shard, g, st, 10, nil)

	// A final snapshot on close leaves nothing to replay.
	if err := s2.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	s3 := openShard(t, dir, testConfig())
	if s3.Manifest().StoreVersion != version || testutil.ToFloat64(s3.m.ReplayedChanges.WithLabelValues("added")) != 0 {
		t.Errorf("after a final snapshot: snapshot version %d (want %d), replayed %v",
			s3.Manifest().StoreVersion, version, testutil.ToFloat64(s3.m.ReplayedChanges.WithLabelValues("added")))
	}
	checkExact(t, s3.Shard, g, st, 10, nil)
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBadSnapshotRebuilds damages or invalidates the snapshot of a closed
// shard in several ways; each time the shard must open with every paper
// (rebuilt from the store), count the rebuild and write a good snapshot.
func TestBadSnapshotRebuilds(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		reason string
		// damage runs on the closed shard's directory; older is a copy of
		// the directory taken after the first snapshot.
		damage func(t *testing.T, dir, older string, m *snapshot.Manifest)
	}{
		{"flipped byte", "corrupt", func(t *testing.T, dir, _ string, m *snapshot.Manifest) {
			path := filepath.Join(dir, m.Payload)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-100] ^= 1
			os.WriteFile(path, data, 0o644)
		}},
		{"truncated", "corrupt", func(t *testing.T, dir, _ string, m *snapshot.Manifest) {
			os.Truncate(filepath.Join(dir, m.Payload), m.PayloadBytes-1)
		}},
		{"manifest garbage", "corrupt", func(t *testing.T, dir, _ string, _ *snapshot.Manifest) {
			os.WriteFile(filepath.Join(dir, snapshot.ManifestName), []byte("\x00\x00garbage"), 0o644)
		}},
		{"deleted", "no_snapshot", func(t *testing.T, dir, _ string, m *snapshot.Manifest) {
			os.Remove(filepath.Join(dir, snapshot.ManifestName))
			os.Remove(filepath.Join(dir, m.Payload))
		}},
		{"older than compacted tombstones", "compacted", func(t *testing.T, dir, older string, m *snapshot.Manifest) {
			// Put back the first snapshot; the store has compacted the
			// tombstones of the deletions it lacks.
			os.Remove(filepath.Join(dir, m.Payload))
			copyFiles(t, older, dir, snapshot.ManifestName, "index-1.faiss")
		}},
		{"store restored from an older backup", "version_ahead", func(t *testing.T, dir, older string, _ *snapshot.Manifest) {
			for _, f := range []string{StoreFile, StoreFile + "-wal", StoreFile + "-shm"} {
				os.Remove(filepath.Join(dir, f))
			}
			copyFiles(t, older, dir, StoreFile, StoreFile+"-wal")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, older := t.TempDir(), t.TempDir()
			g := synth.New(synth.Spec{Dim: testDim, Seed: 4}, 300)
			st := state{}
			s := openShard(t, dir, testConfig())
			ps := papers(g, 0, 300)
			mustUpsert(t, s.Shard, ps)
			st.apply(ps)
			if err := s.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			copyFiles(t, dir, older, snapshot.ManifestName, "index-1.faiss", StoreFile, StoreFile+"-wal")

			s = openShard(t, dir, testConfig())
			if _, _, err := s.Delete(ctx, []string{ps[0].ID, ps[1].ID}); err != nil {
				t.Fatal(err)
			}
			delete(st, ps[0].ID)
			delete(st, ps[1].ID)
			if err := s.Close(ctx, true); err != nil { // compacts the two tombstones
				t.Fatal(err)
			}
			m, err := snapshot.ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir, older, &m)
			if tt.reason == "version_ahead" {
				st = state{}
				st.apply(ps) // the older store still has both papers
			}

			s = openShard(t, dir, testConfig())
			if got := testutil.ToFloat64(s.m.Rebuilds.WithLabelValues(tt.reason)); got != 1 {
				t.Errorf("rebuilds{reason=%q} = %v, want 1", tt.reason, got)
			}
			if got := s.Gauges().IndexedVectors; got != int64(len(st)) {
				t.Fatalf("rebuilt index holds %d vectors, want %d", got, len(st))
			}
			checkExact(t, s.Shard, g, st, 10, nil)
			waitFor(t, "a fresh snapshot", func() bool {
				m := s.Manifest()
				return m != nil && m.StoreVersion == s.Applied()
			})
			if _, _, err := snapshot.Load(dir); err != nil {
				t.Errorf("the fresh snapshot does not load: %v", err)
			}
		})
	}
}

func copyFiles(t *testing.T, from, to string, names ...string) {
	t.Helper()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(from, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainingInBackground grows a shard past FlatThreshold while writing
// and searching concurrently: it must become IVF without losing a write,
// snapshot the trained index, and retrain with a larger nlist once it has
// grown RetrainFactor times past what its nlist suits.
func TestTrainingInBackground(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.FlatThreshold = 400
	cfg.TrainPointsPerList = 39
	dir := t.TempDir()
	s := openShard(t, dir, cfg)
	g := synth.New(synth.Spec{Dim: testDim, Seed: 5}, 3000)
	st := state{}

	write := func(n0, n int) {
		for i := n0; i < n0+n; i += 50 {
			ps := papers(g, i, 50)
			mustUpsert(t, s.Shard, ps)
			st.apply(ps)
			if _, err := s.SearchDense(ctx, g.Vector(), 5, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 600)
	waitFor(t, "training into IVF", func() bool { return s.Gauges().Kind == faiss.KindIVFFlat && !s.Training() })
	gauges := s.Gauges()
	if gauges.IndexedVectors != int64(len(st)) {
		t.Fatalf("after training: %d vectors, want %d", gauges.IndexedVectors, len(st))
	}
	if gauges.Nlist < 10 || gauges.Nlist > AutoNlist(600) {
		t.Errorf("trained nlist %d, want about AutoNlist(400..600)", gauges.Nlist)
	}
	waitFor(t, "the trained index's snapshot", func() bool {
		m := s.Manifest()
		return m != nil && m.Kind == "ivf_flat"
	})
	first := gauges.Nlist

	// Grow well past RetrainFactor x capacity while writing.
	need := int(cfg.RetrainFactor*float64(NlistCapacity(first))) + 100
	write(600, need-600)
	waitFor(t, "retraining with a larger nlist", func() bool { return s.Gauges().Nlist > first && !s.Training() })
	if got := s.Gauges().IndexedVectors; got != int64(len(st)) {
		t.Fatalf("after retraining: %d vectors, want %d", got, len(st))
	}
	// A paper's own vector finds it on IVF even at nprobe 1.
	q := st[papers(g, 0, 1)[0].ID].Vector
	res, err := s.SearchDense(ctx, q, 1, 1, nil)
	if err != nil || len(res.Hits[0]) != 1 {
		t.Fatalf("self search: %v, %v", res, err)
	}
	if got := ids(t, s.Shard, res.Hits[0]); got[0] != "2501.00000" {
		t.Errorf("self search found %v", got)
	}
	if ok := testutil.ToFloat64(s.m.Trainings.WithLabelValues("ok")); ok < 2 {
		t.Errorf("%v successful trainings, want 2", ok)
	}

	// The IVF snapshot reloads as IVF.
	if err := s.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, dir, cfg)
	if g2 := s2.Gauges(); g2.Kind != faiss.KindIVFFlat || g2.IndexedVectors != int64(len(st)) {
		t.Errorf("reopened as %v with %d vectors, want ivf_flat with %d", g2.Kind, g2.IndexedVectors, len(st))
	}
}

func TestTrainErrors(t *testing.T) {
	ctx := context.Background()
	s := openShard(t, t.TempDir(), testConfig())
	if err := s.Train(ctx, 0); !errors.Is(err, ErrTooFewPapers) {
		t.Errorf("training an empty shard: %v, want ErrTooFewPapers", err)
	}
	g := synth.New(synth.Spec{Dim: testDim, Seed: 6}, 50)
	mustUpsert(t, s.Shard, papers(g, 0, 50))
	if err := s.Train(ctx, 51); !errors.Is(err, ErrTooFewPapers) {
		t.Errorf("training 50 papers into 51 lists: %v, want ErrTooFewPapers", err)
	}
	if err := s.Train(ctx, 2); err != nil {
		t.Errorf("training 50 papers into 2 lists: %v", err)
	}
	if k := s.Gauges().Kind; k != faiss.KindIVFFlat {
		t.Errorf("kind after training %v", k)
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	s := openShard(t, t.TempDir(), testConfig())
	g := synth.New(synth.Spec{Dim: testDim, Seed: 9}, 200)
	st := state{}
	ps := papers(g, 0, 100)
	mustUpsert(t, s.Shard, ps)
	st.apply(ps)
	if _, err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	ps = papers(g, 100, 100)
	mustUpsert(t, s.Shard, ps)
	st.apply(ps)
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Gauges().IndexedVectors; got != 200 {
		t.Fatalf("after reload: %d vectors, want 200", got)
	}
	checkExact(t, s.Shard, g, st, 10, nil)
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	s := openShard(t, t.TempDir(), testConfig())
	g := synth.New(synth.Spec{Dim: testDim, Seed: 10}, 100)
	mustUpsert(t, s.Shard, papers(g, 0, 100))
	if _, err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Shard: 3, Papers: 100, IndexedVectors: 100, Kind: faiss.KindFlat, StoreVersion: 1, Applied: 1, SnapshotVersion: 1}
	got := st
	got.SnapshotTime, got.SnapshotBytes, got.StoreBytes = time.Time{}, 0, 0
	if got != want || st.SnapshotBytes <= 0 || st.StoreBytes <= 0 || st.SnapshotTime.IsZero() {
		t.Errorf("Stats = %+v, want %+v with sizes and time", st, want)
	}
}

// TestWritesDuringTraining deletes, replaces and adds papers and writes a
// snapshot (which compacts tombstones) between the scan of a training and
// its catch-up: the trained index must still hold exactly the store.
func TestWritesDuringTraining(t *testing.T) {
	ctx := context.Background()
	s := openShard(t, t.TempDir(), testConfig())
	g := synth.New(synth.Spec{Dim: testDim, Seed: 12}, 500)
	st := state{}
	ps := papers(g, 0, 400)
	mustUpsert(t, s.Shard, ps)
	st.apply(ps)
	testHookAfterFill = func(sh *Shard) {
		testHookAfterFill = nil
		more := papers(g, 400, 50)
		repl := papers(g, 0, 10)
		mustUpsert(t, sh, more)
		mustUpsert(t, sh, repl)
		st.apply(more)
		st.apply(repl)
		if _, _, err := sh.Delete(ctx, []string{ps[200].ID, ps[201].ID}); err != nil {
			t.Error(err)
		}
		delete(st, ps[200].ID)
		delete(st, ps[201].ID)
		if wrote, err := sh.Snapshot(ctx); err != nil || !wrote {
			t.Errorf("snapshot during training: %v, %v", wrote, err)
		}
	}
	t.Cleanup(func() { testHookAfterFill = nil })
	if err := s.Train(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if got := s.Gauges(); got.Kind != faiss.KindIVFFlat || got.IndexedVectors != int64(len(st)) {
		t.Fatalf("after training: %v with %d vectors, want ivf_flat with %d", got.Kind, got.IndexedVectors, len(st))
	}
	for id, p := range st {
		res, err := s.SearchDense(ctx, p.Vector, 1, 8, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(t, s.Shard, res.Hits[0]); len(got) != 1 || got[0] != id {
			t.Fatalf("paper %s searched by its own vector: %v", id, got)
		}
	}
	// The deleted papers' old keys are gone from the index too.
	if n := s.Gauges().IndexedVectors; n != int64(len(st)) {
		t.Errorf("%d vectors for %d papers", n, len(st))
	}
}
