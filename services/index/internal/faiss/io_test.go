package faiss

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// persistCase builds an index in a state worth saving.
type persistCase struct {
	name  string
	build func(t *testing.T) *Index
}

// persistCases returns indexes of dimension 8 holding up to n vectors.
func persistCases(n int) []persistCase {
	const dim = 8
	r := newRand(11)
	data := randomUnit(r, n, dim)
	ids := sequentialIDs(n, 1<<33, 7)
	train := randomUnit(r, 300, dim)
	trainedIVF := func(t *testing.T, nlist int) *Index {
		x := mustIVF(t, dim, nlist)
		if err := x.Train(train); err != nil {
			t.Fatal(err)
		}
		return x
	}
	return []persistCase{
		{"flat empty", func(t *testing.T) *Index { return mustFlat(t, dim) }},
		{"flat", func(t *testing.T) *Index {
			x := mustFlat(t, dim)
			if err := x.Add(ids, data); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Remove(ids[10:15]); err != nil {
				t.Fatal(err)
			}
			return x
		}},
		{"ivf untrained", func(t *testing.T) *Index { return mustIVF(t, dim, 4) }},
		{"ivf trained empty", func(t *testing.T) *Index { return trainedIVF(t, 4) }},
		// Few vectors over many lists are stored as sparse lists ("sprs"),
		// many as full ones ("full").
		{"ivf sparse lists", func(t *testing.T) *Index {
			x := trainedIVF(t, 6)
			if err := x.Add(ids[:2], data[:2*dim]); err != nil {
				t.Fatal(err)
			}
			return x
		}},
		{"ivf full lists", func(t *testing.T) *Index {
			x := trainedIVF(t, 6)
			if err := x.Add(ids, data); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Remove(ids[:5]); err != nil {
				t.Fatal(err)
			}
			return x
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	ways := []struct {
		name string
		save func(t *testing.T, x *Index) (*Index, error)
	}{
		{"file", func(t *testing.T, x *Index) (*Index, error) {
			path := filepath.Join(t.TempDir(), "index.faiss")
			if err := x.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			return ReadFile(path)
		}},
		{"bytes", func(t *testing.T, x *Index) (*Index, error) {
			b, err := x.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return Unmarshal(b)
		}},
		{"writer", func(t *testing.T, x *Index) (*Index, error) {
			var buf bytes.Buffer
			n, err := x.WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) {
				t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
			}
			b, err := x.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, buf.Bytes()) {
				t.Fatal("WriteTo and MarshalBinary disagree")
			}
			return Unmarshal(buf.Bytes())
		}},
	}
	queries := randomUnit(newRand(12), 5, 8)
	for _, c := range persistCases(300) {
		for _, way := range ways {
			t.Run(c.name+"/"+way.name, func(t *testing.T) {
				x := c.build(t)
				y, err := way.save(t, x)
				if err != nil {
					t.Fatal(err)
				}
				defer y.Close()
				if y.Kind() != x.Kind() || y.Dim() != x.Dim() || y.Nlist() != x.Nlist() ||
					y.Ntotal() != x.Ntotal() || y.IsTrained() != x.IsTrained() {
					t.Fatalf("read back %v d=%d nlist=%d ntotal=%d trained=%v, wrote %v d=%d nlist=%d ntotal=%d trained=%v",
						y.Kind(), y.Dim(), y.Nlist(), y.Ntotal(), y.IsTrained(),
						x.Kind(), x.Dim(), x.Nlist(), x.Ntotal(), x.IsTrained())
				}
				if np, err := y.ownNprobe(); err != nil || (y.Kind() == KindIVFFlat && np != 1) {
					t.Errorf("own nprobe after reading = %d, %v", np, err)
				}
				if !x.IsTrained() {
					return
				}
				for _, nprobe := range []int{1, 100} {
					xd, xl, err := x.Search(queries, 7, nprobe)
					if err != nil {
						t.Fatal(err)
					}
					yd, yl, err := y.Search(queries, 7, nprobe)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(xl, yl) || !slices.Equal(xd, yd) {
						t.Fatalf("nprobe %d: results differ after reading:\n%v\n%v", nprobe, xl, yl)
					}
				}
				// The read index is fully functional, including the flat
				// reverse map that refuses stored ids.
				if y.Ntotal() > 0 {
					_, l, _ := y.Search(queries[:8], 1, 100)
					if y.Kind() == KindFlat {
						if err := y.Add(l[:1], queries[:8]); !errors.Is(err, ErrDuplicateID) {
							t.Errorf("adding stored id %d after reading: %v", l[0], err)
						}
					}
					if n, err := y.Remove(l[:1]); err != nil || n != 1 {
						t.Errorf("Remove after reading = %d, %v", n, err)
					}
				}
				if err := y.Add([]int64{1}, queries[:8]); err != nil {
					t.Errorf("Add after reading: %v", err)
				}
			})
		}
	}
}

// serialized returns small serialized indexes of every kind and state,
// small so that tests can damage every byte of them.
func serialized(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, c := range persistCases(40) {
		if c.name == "flat empty" || c.name == "ivf untrained" {
			continue
		}
		x := c.build(t)
		b, err := x.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out[c.name] = b
	}
	return out
}

// TestCorruptTruncated cuts serialized indexes at every length.
func TestCorruptTruncated(t *testing.T) {
	for name, data := range serialized(t) {
		t.Run(name, func(t *testing.T) {
			for n := range len(data) {
				x, err := Unmarshal(data[:n])
				if !errors.Is(err, ErrCorrupt) {
					x.Close()
					t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(data), err)
				}
				if n == 0 {
					continue
				}
				// FAISS alone also notices every truncation, as a short
				// read; the layout check only makes it cheaper.
				if x, err := unmarshalUnchecked(data[:n]); err == nil {
					x.Close()
					t.Fatalf("FAISS read an index truncated to %d of %d bytes", n, len(data))
				}
			}
		})
	}
}

// TestCorruptFlipped flips every byte of serialized indexes. A flip may go
// unnoticed where the format has no redundancy (vector components, ids,
// unused header fields), but it must never crash or yield an index that
// breaks when used.
func TestCorruptFlipped(t *testing.T) {
	for name, data := range serialized(t) {
		t.Run(name, func(t *testing.T) {
			undetected := 0
			bad := slices.Clone(data)
			for i := range data {
				for _, mask := range []byte{0xff, 0x01, 0x80} {
					bad[i] = data[i] ^ mask
					x, err := Unmarshal(bad)
					bad[i] = data[i]
					if err != nil {
						if !errors.Is(err, ErrCorrupt) {
							t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt", i, mask, err)
						}
						continue
					}
					undetected++
					exercise(t, x)
					x.Close()
				}
			}
			t.Logf("%d bytes x 3 flips: %d read back without error", len(data), undetected)
		})
	}
}

// exercise uses every operation of an index read from damaged data.
func exercise(t *testing.T, x *Index) {
	t.Helper()
	q := make([]float32, x.Dim())
	q[0] = 1
	if x.IsTrained() {
		if _, _, err := x.Search(q, 3, x.Nlist()); err != nil {
			t.Errorf("search: %v", err)
		}
		if _, _, err := x.SearchFiltered(q, 3, x.Nlist(), []int64{1, 2, 3}); err != nil {
			t.Errorf("filtered search: %v", err)
		}
	}
	if _, err := x.Remove([]int64{1}); err != nil {
		t.Errorf("remove: %v", err)
	}
	if _, err := x.MarshalBinary(); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

func TestCorruptOther(t *testing.T) {
	data := serialized(t)
	flat := data["flat"]
	// Layout of a flat index: "IxM2", a 33-byte header, the IndexFlatIP
	// ("IxFI", header, float count, floats), then the id count and ids.
	const hdr = 4 + 33
	n := binary.LittleEndian.Uint64(flat[4+4:]) // ntotal
	idsAt := len(flat) - 8*int(n)
	idCountAt := idsAt - 8

	patch := func(b []byte, off int, v uint64) []byte {
		b = slices.Clone(b)
		binary.LittleEndian.PutUint64(b[off:], v)
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"trailing byte", append(slices.Clone(flat), 0)},
		{"two indexes", append(slices.Clone(flat), flat...)},
		{"empty", nil},
		{"not an index", []byte("this is not a FAISS index at all, just text")},
		// A valid FAISS index of a kind this package never builds.
		{"bare IndexFlatIP", flat[hdr:idCountAt]},
		// Counts FAISS 1.7.3 would trust for allocation: 2^39 ids passes
		// its own limit of 2^40 and would zero-fill 4 TiB.
		{"huge id count", patch(flat, idCountAt, 1<<39)},
		{"huge float count", patch(flat, hdr+4+33, 1<<39)},
		// Well-formed layout that only the shim's structural check
		// rejects: a repeated id and a negative id.
		{"repeated id", patch(flat, idsAt, binary.LittleEndian.Uint64(flat[idsAt+8:]))},
		{"negative id", patch(flat, idsAt, ^uint64(0))},
		// Inner-product data relabelled as L2 (metric_type 1).
		{"wrong metric", func() []byte {
			b := slices.Clone(flat)
			binary.LittleEndian.PutUint32(b[4+4+8+8+8+1:], 1)
			binary.LittleEndian.PutUint32(b[hdr+4+4+8+8+8+1:], 1)
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Unmarshal(tt.data)
			if !errors.Is(err, ErrCorrupt) {
				if x != nil {
					x.Close()
				}
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			t.Logf("%v", err)
			path := filepath.Join(t.TempDir(), "bad.faiss")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if x, err := ReadFile(path); !errors.Is(err, ErrCorrupt) {
				if x != nil {
					x.Close()
				}
				t.Fatalf("ReadFile: err = %v, want ErrCorrupt", err)
			}
		})
	}

	t.Run("shim errors are *Error", func(t *testing.T) {
		_, err := Unmarshal(patch(flat, idsAt, ^uint64(0)))
		var fe *Error
		if !errors.As(err, &fe) || fe.Msg == "" {
			t.Fatalf("err = %v, want a *Error", err)
		}
	})
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadFile(dir); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("directory: err = %v, want an I/O error", err)
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	limit int
	err   error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, w.err
	}
	w.limit -= len(p)
	return len(p), nil
}

type panickingWriter struct{}

func (panickingWriter) Write(p []byte) (int, error) { panic("writer exploded") }

func TestWriteToErrors(t *testing.T) {
	x := mustFlat(t, 64)
	data := randomUnit(newRand(5), 5000, 64) // more than one 1 MiB chunk
	if err := x.Add(sequentialIDs(5000, 0, 1), data); err != nil {
		t.Fatal(err)
	}
	diskFull := errors.New("disk full")
	for _, limit := range []int{0, 10, 1 << 20, 1<<20 + 5} {
		_, err := x.WriteTo(&failingWriter{limit: limit, err: diskFull})
		if !errors.Is(err, diskFull) {
			t.Errorf("limit %d: err = %v, want the writer's error", limit, err)
		}
	}

	func() {
		defer func() {
			if v := recover(); v != "writer exploded" {
				t.Errorf("recovered %v, want the writer's panic", v)
			}
		}()
		x.WriteTo(panickingWriter{})
		t.Error("WriteTo returned despite the panic")
	}()
	// The panic passed through without leaking the read lock.
	if err := x.Add([]int64{99999}, data[:64]); err != nil {
		t.Errorf("Add after a panicking WriteTo: %v", err)
	}

	// A failed WriteFile leaves no file behind.
	if err := x.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	var sink bytes.Buffer
	if _, err := x.WriteTo(io.MultiWriter(&sink, io.Discard)); err != nil {
		t.Errorf("WriteTo through a MultiWriter: %v", err)
	}
}
