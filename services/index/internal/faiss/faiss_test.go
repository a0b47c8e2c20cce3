package faiss

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestFlatExact(t *testing.T) {
	x := mustFlat(t, 3)
	// Hand-checkable unit vectors; 40 lies between 10 and 20.
	err := x.Add([]int64{10, 20, 30, 40}, []float32{
		1, 0, 0,
		0, 1, 0,
		0, 0, 1,
		0.6, 0.8, 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Ntotal(); got != 4 {
		t.Fatalf("Ntotal = %d, want 4", got)
	}
	tests := []struct {
		name      string
		query     []float32
		k         int
		wantIDs   []int64
		wantDists []float32
	}{
		{"axis x", []float32{1, 0, 0}, 2, []int64{10, 40}, []float32{1, 0.6}},
		{"axis y", []float32{0, 1, 0}, 2, []int64{20, 40}, []float32{1, 0.8}},
		{"mixed", []float32{0, 0.6, 0.8}, 3, []int64{30, 20, 40}, []float32{0.8, 0.6, 0.48}},
		{"k above ntotal pads", []float32{0, 0, 1}, 6, []int64{30}, []float32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, l, err := x.Search(tt.query, tt.k, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(d) != tt.k || len(l) != tt.k {
				t.Fatalf("got %d distances and %d labels, want %d", len(d), len(l), tt.k)
			}
			if !slices.Equal(l[:len(tt.wantIDs)], tt.wantIDs) {
				t.Errorf("labels = %v, want prefix %v", l, tt.wantIDs)
			}
			for i, w := range tt.wantDists {
				if math.Abs(float64(d[i]-w)) > 1e-6 {
					t.Errorf("distance %d = %v, want %v", i, d[i], w)
				}
			}
			if tt.k > 4 {
				// The three vectors orthogonal to z tie at 0; the rest is
				// padding.
				for i := 4; i < tt.k; i++ {
					if l[i] != -1 || !math.IsInf(float64(d[i]), -1) {
						t.Errorf("result %d = (%d, %v), want (-1, -Inf)", i, l[i], d[i])
					}
				}
			}
		})
	}

	// A batch returns the rows in query order.
	d, l, err := x.Search([]float32{1, 0, 0, 0, 0, 1}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l, []int64{10, 30}) || d[0] != 1 || d[1] != 1 {
		t.Errorf("batch = %v %v, want [10 30] [1 1]", l, d)
	}
}

func TestFlatRemoveAndDuplicates(t *testing.T) {
	x := mustFlat(t, 2)
	if err := x.Add([]int64{1, 2, 3}, []float32{1, 0, 0, 1, 0.8, 0.6}); err != nil {
		t.Fatal(err)
	}
	n, err := x.Remove([]int64{2, 99})
	if err != nil || n != 1 {
		t.Fatalf("Remove = %d, %v; want 1, nil", n, err)
	}
	if x.Ntotal() != 2 {
		t.Fatalf("Ntotal = %d, want 2", x.Ntotal())
	}
	_, l, err := x.Search([]float32{0, 1}, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l, []int64{3, 1, -1}) {
		t.Errorf("labels after remove = %v, want [3 1 -1]", l)
	}
	if n, err := x.Remove([]int64{2}); err != nil || n != 0 {
		t.Errorf("second Remove = %d, %v; want 0, nil", n, err)
	}

	// The removed id can come back; stored ones cannot be added twice.
	if err := x.Add([]int64{2}, []float32{0, 1}); err != nil {
		t.Fatalf("re-adding a removed id: %v", err)
	}
	if err := x.Add([]int64{4, 3}, []float32{1, 0, 1, 0}); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("adding a stored id: err = %v, want ErrDuplicateID", err)
	}
	if x.Ntotal() != 3 {
		t.Fatalf("a refused Add changed Ntotal to %d", x.Ntotal())
	}
	_, l, _ = x.Search([]float32{0, 1}, 1, 0)
	if l[0] != 2 {
		t.Errorf("best match = %d, want re-added 2", l[0])
	}

	// Reset forgets every id, including in IndexIDMap2's reverse map.
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	if x.Ntotal() != 0 {
		t.Fatalf("Ntotal after Reset = %d", x.Ntotal())
	}
	if err := x.Add([]int64{1, 2, 3}, []float32{1, 0, 0, 1, 1, 0}); err != nil {
		t.Fatalf("Add after Reset: %v", err)
	}
}

func TestIVFRemoveAndReset(t *testing.T) {
	const dim, nlist = 8, 4
	r := newRand(3)
	x := mustIVF(t, dim, nlist)
	data := randomUnit(r, 400, dim)
	if err := x.Train(data); err != nil {
		t.Fatal(err)
	}
	ids := sequentialIDs(400, 1000, 1)
	if err := x.Add(ids, data); err != nil {
		t.Fatal(err)
	}
	n, err := x.Remove([]int64{1000, 1001, 5})
	if err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v; want 2, nil", n, err)
	}
	// With every list probed the removed vectors would be their own best
	// match; they must be gone.
	_, l, err := x.Search(data[:2*dim], 1, nlist)
	if err != nil {
		t.Fatal(err)
	}
	if l[0] == 1000 || l[1] == 1001 {
		t.Errorf("removed ids still returned: %v", l)
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	if x.Ntotal() != 0 || !x.IsTrained() {
		t.Fatalf("after Reset: Ntotal %d, IsTrained %v; want 0, true", x.Ntotal(), x.IsTrained())
	}
	if err := x.Add(ids[:10], data[:10*dim]); err != nil {
		t.Fatalf("Add after Reset: %v", err)
	}
}

func TestSearchFiltered(t *testing.T) {
	const dim, n, nlist, k = 16, 2000, 16, 10
	r := newRand(7)
	data := randomUnit(r, n, dim)
	queries := randomUnit(r, 20, dim)

	idSets := []struct {
		name string
		ids  []int64
	}{
		// Dense ids make SearchFiltered use a bitmap selector, sparse
		// huge ids a hash set; both must select the same way.
		{"dense ids", sequentialIDs(n, 5, 3)},
		{"sparse ids", sequentialIDs(n, 1<<40, 1<<20)},
	}
	kinds := []struct {
		name   string
		build  func(t *testing.T) *Index
		nprobe int
	}{
		{"flat", func(t *testing.T) *Index { return mustFlat(t, dim) }, 0},
		{"ivf exhaustive", func(t *testing.T) *Index {
			x := mustIVF(t, dim, nlist)
			if err := x.Train(data); err != nil {
				t.Fatal(err)
			}
			return x
		}, nlist},
	}
	for _, kind := range kinds {
		for _, set := range idSets {
			t.Run(kind.name+"/"+set.name, func(t *testing.T) {
				x := kind.build(t)
				if err := x.Add(set.ids, data); err != nil {
					t.Fatal(err)
				}
				cases := []struct {
					name  string
					allow []int64
				}{
					{"many allowed", pick(set.ids, 0, 40)},
					{"fewer than k allowed", pick(set.ids, 3, 400)},
					{"some allowed ids not stored", append(pick(set.ids, 1, 60), 1, 2, 1<<50)},
					{"none stored", []int64{1, 2, 4}},
					{"empty", nil},
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						allowed := map[int64]bool{}
						for _, id := range c.allow {
							allowed[id] = true
						}
						gotD, gotL, err := x.SearchFiltered(queries, k, kind.nprobe, c.allow)
						if err != nil {
							t.Fatal(err)
						}
						wantD, wantL := bruteForce(data, set.ids, dim, queries, k,
							func(id int64) bool { return allowed[id] })
						checkSameResults(t, gotD, gotL, wantD, wantL)
					})
				}
			})
		}
	}

	t.Run("ivf few probes returns only allowed ids", func(t *testing.T) {
		x := mustIVF(t, dim, nlist)
		if err := x.Train(data); err != nil {
			t.Fatal(err)
		}
		ids := sequentialIDs(n, 0, 1)
		if err := x.Add(ids, data); err != nil {
			t.Fatal(err)
		}
		allow := pick(ids, 0, 35)
		_, l, err := x.SearchFiltered(queries, k, 2, allow)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range l {
			if id != -1 && !slices.Contains(allow, id) {
				t.Fatalf("id %d is not in the allow-list", id)
			}
		}
	})
}

// pick returns ids[first], ids[first+stride], ..., an allow-list spread
// over the whole index.
func pick(ids []int64, first, stride int) []int64 {
	var out []int64
	for i := first; i < len(ids); i += stride {
		out = append(out, ids[i])
	}
	return out
}

func TestErrors(t *testing.T) {
	const dim = 4
	flat := mustFlat(t, dim)
	if err := flat.Add([]int64{1, 2}, []float32{1, 0, 0, 0, 0, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	untrained := mustIVF(t, dim, 4)
	trained := mustIVF(t, dim, 2)
	if err := trained.Train(randomUnit(newRand(1), 100, dim)); err != nil {
		t.Fatal(err)
	}
	closed := mustFlat(t, dim)
	closed.Close()
	closedIVF := mustIVF(t, dim, 2)
	closedIVF.Close()

	vec := []float32{1, 0, 0, 0}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	search := func(x *Index, q []float32, k int) func() error {
		return func() error { _, _, err := x.Search(q, k, 1); return err }
	}
	filtered := func(x *Index, allow []int64) func() error {
		return func() error { _, _, err := x.SearchFiltered(vec, 1, 1, allow); return err }
	}
	newErr := func(f func() (*Index, error)) func() error {
		return func() error {
			x, err := f()
			if x != nil {
				x.Close()
			}
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"flat dim 0", newErr(func() (*Index, error) { return NewFlat(0) }), ErrInvalidArgument},
		{"flat dim too large", newErr(func() (*Index, error) { return NewFlat(MaxDim + 1) }), ErrInvalidArgument},
		{"ivf nlist 0", newErr(func() (*Index, error) { return NewIVFFlat(dim, 0) }), ErrInvalidArgument},
		{"ivf dim -1", newErr(func() (*Index, error) { return NewIVFFlat(-1, 4) }), ErrInvalidArgument},

		{"add wrong dimension", func() error { return flat.Add([]int64{3}, []float32{1, 0, 0}) }, ErrInvalidArgument},
		{"add id count mismatch", func() error { return flat.Add([]int64{3, 4}, vec) }, ErrInvalidArgument},
		{"add negative id", func() error { return flat.Add([]int64{-5}, vec) }, ErrInvalidArgument},
		{"add NaN", func() error { return flat.Add([]int64{3}, []float32{nan, 0, 0, 0}) }, ErrInvalidArgument},
		{"add Inf", func() error { return flat.Add([]int64{3}, []float32{0, inf, 0, 0}) }, ErrInvalidArgument},
		{"add repeated id", func() error { return flat.Add([]int64{7, 7}, append(vec, vec...)) }, ErrDuplicateID},
		{"add stored id", func() error { return flat.Add([]int64{2}, vec) }, ErrDuplicateID},
		{"add to untrained ivf", func() error { return untrained.Add([]int64{1}, vec) }, ErrNotTrained},

		{"search wrong dimension", search(flat, []float32{1, 0, 0, 0, 1}, 1), ErrInvalidArgument},
		{"search k 0", search(flat, vec, 0), ErrInvalidArgument},
		{"search k -1", search(flat, vec, -1), ErrInvalidArgument},
		{"search k too large", search(flat, vec, MaxK+1), ErrInvalidArgument},
		{"search no queries", search(flat, nil, 1), ErrInvalidArgument},
		{"search NaN", search(flat, []float32{0, nan, 0, 0}, 1), ErrInvalidArgument},
		{"search untrained ivf", search(untrained, vec, 1), ErrNotTrained},
		{"filtered negative id", filtered(flat, []int64{-1}), ErrInvalidArgument},
		{"filtered untrained ivf", filtered(untrained, []int64{1}), ErrNotTrained},
		{"filtered empty untrained ivf", filtered(untrained, []int64{}), ErrNotTrained},

		{"train too few vectors", func() error { return untrained.Train(randomUnit(newRand(2), 3, dim)) }, ErrInvalidArgument},
		{"train wrong dimension", func() error { return untrained.Train(make([]float32, 4*dim+1)) }, ErrInvalidArgument},
		{"train twice", func() error { return trained.Train(randomUnit(newRand(2), 10, dim)) }, ErrInvalidArgument},
		{"remove negative id", func() error { _, err := flat.Remove([]int64{-1}); return err }, ErrInvalidArgument},

		{"closed add", func() error { return closed.Add([]int64{1}, vec) }, ErrClosed},
		{"closed search", search(closed, vec, 1), ErrClosed},
		{"closed filtered", filtered(closed, []int64{1}), ErrClosed},
		{"closed filtered empty", filtered(closed, []int64{}), ErrClosed},
		{"closed remove", func() error { _, err := closed.Remove([]int64{1}); return err }, ErrClosed},
		{"closed reset", closed.Reset, ErrClosed},
		{"closed train", func() error { return closedIVF.Train(randomUnit(newRand(2), 10, dim)) }, ErrClosed},
		{"closed marshal", func() error { _, err := closed.MarshalBinary(); return err }, ErrClosed},
		{"closed write file", func() error { return closed.WriteFile(t.TempDir() + "/x") }, ErrClosed},
		{"closed twice", closed.Close, nil},
		{"zero Index search", search(new(Index), vec, 1), ErrClosed},
		{"zero Index add", func() error { return new(Index).Add([]int64{1}, vec) }, ErrClosed},
		{"zero Index remove", func() error { _, err := new(Index).Remove([]int64{1}); return err }, ErrClosed},
		{"zero Index close", new(Index).Close, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "faiss: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	if closed.Ntotal() != 0 || closed.IsTrained() {
		t.Errorf("closed index reports Ntotal %d, IsTrained %v", closed.Ntotal(), closed.IsTrained())
	}
	if flat.Ntotal() != 2 {
		t.Errorf("refused calls changed Ntotal to %d", flat.Ntotal())
	}
}

func TestKindAccessors(t *testing.T) {
	flat := mustFlat(t, 8)
	ivf := mustIVF(t, 8, 5)
	tests := []struct {
		x       *Index
		kind    Kind
		name    string
		nlist   int
		trained bool
	}{
		{flat, KindFlat, "flat", 0, true},
		{ivf, KindIVFFlat, "ivf_flat", 5, false},
	}
	for _, tt := range tests {
		if tt.x.Kind() != tt.kind || tt.x.Kind().String() != tt.name || tt.x.Dim() != 8 ||
			tt.x.Nlist() != tt.nlist || tt.x.IsTrained() != tt.trained || tt.x.Ntotal() != 0 {
			t.Errorf("%v: Kind %v, Dim %d, Nlist %d, IsTrained %v, Ntotal %d", tt.name,
				tt.x.Kind(), tt.x.Dim(), tt.x.Nlist(), tt.x.IsTrained(), tt.x.Ntotal())
		}
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); !strings.HasPrefix(v, "1.") {
		t.Errorf("Version = %q", v)
	}
	opts, err := CompileOptions()
	if err != nil || opts == "" {
		t.Errorf("CompileOptions = %q, %v", opts, err)
	}
	t.Logf("FAISS %s, compile options %q", Version(), opts)
}

// TestCleanup checks that Close and the cleanup safety net never free an
// index twice, and that forgotten indexes are freed without crashing.
func TestCleanup(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 50 {
		x, err := NewFlat(4)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Add([]int64{1}, []float32{1, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			wg.Go(func() { x.Close(); x.Close() })
		}
	}
	wg.Wait()
	for range 3 {
		runtime.GC()
	}
}
