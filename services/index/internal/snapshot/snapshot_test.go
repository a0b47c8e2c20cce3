package snapshot

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
)

const testDim = 16

// newFlat returns a flat index holding n synthetic vectors with ids 1..n.
func newFlat(t *testing.T, n int) *faiss.Index {
	t.Helper()
	idx, err := faiss.NewFlat(testDim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	g := synth.New(synth.Spec{Dim: testDim, Seed: 7}, n)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if err := idx.Add(ids, g.Vectors(n)); err != nil {
		t.Fatal(err)
	}
	return idx
}

func newIVF(t *testing.T, n, nlist int) *faiss.Index {
	t.Helper()
	idx, err := faiss.NewIVFFlat(testDim, nlist)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	g := synth.New(synth.Spec{Dim: testDim, Seed: 8}, n)
	vecs := g.Vectors(n)
	if err := idx.Train(vecs); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 10)
	}
	if err := idx.Add(ids, vecs); err != nil {
		t.Fatal(err)
	}
	return idx
}

func save(t *testing.T, dir string, prev *Manifest, idx *faiss.Index, version int64) Manifest {
	t.Helper()
	m, err := Write(dir, prev, func(w io.Writer) (Info, error) {
		_, err := idx.WriteTo(w)
		return Info{Model: "m", Dim: idx.Dim(), Kind: idx.Kind(), Nlist: idx.Nlist(), Ntotal: idx.Ntotal(), StoreVersion: version}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func sameSearch(t *testing.T, a, b *faiss.Index) {
	t.Helper()
	q := synth.New(synth.Spec{Dim: testDim, Seed: 99}, 10).Vectors(5)
	_, la, err := a.Search(q, 5, a.Nlist())
	if err != nil {
		t.Fatal(err)
	}
	_, lb, err := b.Search(q, 5, b.Nlist())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(la, lb) {
		t.Errorf("loaded index answers %v, original %v", lb, la)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		idx  func(t *testing.T) *faiss.Index
	}{
		{"flat", func(t *testing.T) *faiss.Index { return newFlat(t, 300) }},
		{"ivf", func(t *testing.T) *faiss.Index { return newIVF(t, 400, 8) }},
		{"empty flat", func(t *testing.T) *faiss.Index { return newFlat(t, 0) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			idx := tt.idx(t)
			m := save(t, dir, nil, idx, 42)
			got, gm, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if gm != m {
				t.Errorf("loaded manifest %+v, wrote %+v", gm, m)
			}
			if gm.StoreVersion != 42 || gm.Kind != idx.Kind().String() || gm.Ntotal != idx.Ntotal() || gm.Generation != 1 {
				t.Errorf("manifest %+v does not describe the index", gm)
			}
			if idx.Ntotal() > 0 {
				sameSearch(t, idx, got)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"index-1.faiss", ManifestName}) {
				t.Errorf("directory holds %v", names)
			}
		})
	}
}

func TestWriteReplacesPrevious(t *testing.T) {
	dir := t.TempDir()
	m1 := save(t, dir, nil, newFlat(t, 10), 1)
	m2 := save(t, dir, &m1, newFlat(t, 20), 2)
	if m2.Generation != 2 || m2.Payload != "index-2.faiss" {
		t.Errorf("second snapshot %+v, want generation 2", m2)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"index-2.faiss", ManifestName}) {
		t.Errorf("after replacing, directory holds %v", names)
	}
	_, gm, err := Load(dir)
	if err != nil || gm.Ntotal != 20 {
		t.Fatalf("Load = %+v, %v; want the second snapshot", gm, err)
	}
}

func TestWriteFailureKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	m1 := save(t, dir, nil, newFlat(t, 10), 1)
	boom := errors.New("boom")
	_, err := Write(dir, &m1, func(w io.Writer) (Info, error) {
		w.Write([]byte("partial"))
		return Info{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the callback's error", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"index-1.faiss", ManifestName}) {
		t.Errorf("after a failed write, directory holds %v", names)
	}
	if _, gm, err := Load(dir); err != nil || gm.Generation != 1 {
		t.Errorf("Load after failed write = %+v, %v; want the first snapshot", gm, err)
	}
}

// TestLoadDetectsDamage damages a good snapshot in every way a crash, a bad
// disk or an operator can and checks that Load refuses it with ErrCorrupt
// (or ErrNoSnapshot), never returning a wrong index.
func TestLoadDetectsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, m Manifest)
		want   error
	}{
		{"flipped bit in vector data", func(t *testing.T, dir string, m Manifest) {
			path := filepath.Join(dir, m.Payload)
			data, _ := os.ReadFile(path)
			data[len(data)/2] ^= 0x10
			os.WriteFile(path, data, 0o644)
		}, ErrCorrupt},
		{"truncated payload", func(t *testing.T, dir string, m Manifest) {
			os.Truncate(filepath.Join(dir, m.Payload), m.PayloadBytes/3)
		}, ErrCorrupt},
		{"empty payload", func(t *testing.T, dir string, m Manifest) {
			os.Truncate(filepath.Join(dir, m.Payload), 0)
		}, ErrCorrupt},
		{"payload missing", func(t *testing.T, dir string, m Manifest) {
			os.Remove(filepath.Join(dir, m.Payload))
		}, ErrCorrupt},
		{"manifest truncated", func(t *testing.T, dir string, m Manifest) {
			os.Truncate(filepath.Join(dir, ManifestName), 20)
		}, ErrCorrupt},
		{"manifest states another count", func(t *testing.T, dir string, m Manifest) {
			data, _ := os.ReadFile(filepath.Join(dir, ManifestName))
			data = bytes.Replace(data, []byte(`"ntotal": 300`), []byte(`"ntotal": 301`), 1)
			os.WriteFile(filepath.Join(dir, ManifestName), data, 0o644)
		}, ErrCorrupt},
		{"manifest names another file", func(t *testing.T, dir string, m Manifest) {
			data, _ := os.ReadFile(filepath.Join(dir, ManifestName))
			data = bytes.Replace(data, []byte(`index-1.faiss`), []byte(`../x/index-1.faiss`), 1)
			os.WriteFile(filepath.Join(dir, ManifestName), data, 0o644)
		}, ErrCorrupt},
		{"manifest missing", func(t *testing.T, dir string, m Manifest) {
			os.Remove(filepath.Join(dir, ManifestName))
		}, ErrNoSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := save(t, dir, nil, newFlat(t, 300), 5)
			tt.damage(t, dir, m)
			idx, _, err := Load(dir)
			if !errors.Is(err, tt.want) {
				if idx != nil {
					idx.Close()
				}
				t.Fatalf("Load = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCleanAfterInterruptedWrite recreates what a crash in the middle of
// Write leaves behind and checks that the previous snapshot still loads and
// Clean removes the leftovers.
func TestCleanAfterInterruptedWrite(t *testing.T) {
	dir := t.TempDir()
	m1 := save(t, dir, nil, newFlat(t, 10), 1)
	// Crash after the payload rename, before the manifest rename.
	data, _ := os.ReadFile(filepath.Join(dir, m1.Payload))
	os.WriteFile(filepath.Join(dir, "index-2.faiss"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "index-3.faiss.tmp"), data[:10], 0o644)
	os.WriteFile(filepath.Join(dir, ManifestName+".tmp"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "unrelated.txt"), []byte("keep"), 0o644)

	if _, gm, err := Load(dir); err != nil || gm.Generation != 1 {
		t.Fatalf("Load = %+v, %v; want the first snapshot", gm, err)
	}
	removed, err := Clean(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{"index-2.faiss", "index-3.faiss.tmp", ManifestName + ".tmp"}; !slices.Equal(removed, want) {
		t.Errorf("Clean removed %v, want %v", removed, want)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"index-1.faiss", ManifestName, "unrelated.txt"}) {
		t.Errorf("after Clean, directory holds %v", names)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	save(t, dir, nil, newFlat(t, 10), 1)
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("after Remove, directory holds %v", names)
	}
	if _, _, err := Load(dir); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("Load after Remove = %v, want ErrNoSnapshot", err)
	}
}
