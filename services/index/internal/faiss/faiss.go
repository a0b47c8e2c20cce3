// Package faiss is the index service's binding to the FAISS similarity
// search library.
//
// Debian 12 ships FAISS 1.7.3 as a C++ library without the C API, so the
// package carries its own small extern "C" shim (shim.h, shim.cpp) over the
// few C++ calls the service needs, and links libfaiss.a statically. Every
// C++ exception is caught in the shim and returned as an error; none crosses
// into Go.
//
// # Index kinds
//
// Both kinds score by inner product (METRIC_INNER_PRODUCT), which is cosine
// similarity when, as in this service, the vectors are unit length. Callers
// normalize vectors; this package does not check norms.
//
//   - [KindFlat] is exact search: IndexIDMap2 over IndexFlatIP. It is used
//     while a shard is small and needs no training.
//   - [KindIVFFlat] is IndexIVFFlat with an IndexFlatIP coarse quantizer. It
//     must be trained before vectors are added and is approximate; nprobe,
//     given per search, trades recall for speed.
//
// Ids are caller-chosen non-negative int64 values; -1 in search results
// means "no result".
//
// # Concurrency and threads
//
// An [Index] is safe for concurrent use. Searches share a read lock and run
// in parallel; Train, Add, Remove, Reset and Close take the write lock.
//
// FAISS parallelizes inside one call with OpenMP and OpenBLAS. Both read
// OMP_NUM_THREADS once, when the process starts; this package never changes
// the thread count. A server that already runs many searches concurrently
// should set OMP_NUM_THREADS=1 (or a small number), because every
// concurrent call otherwise starts its own team of one thread per core.
//
// # Performance
//
// Debian's libfaiss is built with OPTIMIZE GENERIC (see [CompileOptions]):
// its inner-product kernel is a scalar loop, about 1 GFLOP/s per core,
// even on CPUs with AVX2 or AVX-512. That loop does the work of IVF list
// scans and of flat searches with fewer than 20 queries per call. Flat
// searches with 20 or more queries per call go through BLAS (OpenBLAS,
// which does use the CPU's vector units), so batching queries pays off on
// flat indexes. A FAISS built with FAISS_OPT_LEVEL=avx2 would speed up the
// rest without changes here.
//
// # Memory
//
// Index data lives on the C++ heap, which the Go garbage collector neither
// sees nor counts. Call [Index.Close] when an index is no longer needed; a
// cleanup attached to each Index frees a forgotten one eventually, but only
// as a safety net.
package faiss

/*
#cgo CXXFLAGS: -std=c++17 -O2 -fopenmp
#cgo LDFLAGS: -lfaiss -llapack -lblas -fopenmp -lstdc++ -lm
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Errors returned by this package, to be tested with errors.Is.
var (
	// ErrClosed reports use of an Index after Close.
	ErrClosed = errors.New("index is closed")
	// ErrNotTrained reports adding to or searching an untrained IVF index.
	ErrNotTrained = errors.New("index is not trained")
	// ErrInvalidArgument reports input rejected before it reached FAISS.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrDuplicateID reports an Add whose ids repeat, or, for a flat index,
	// are already stored.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrCorrupt reports serialized data that could not be read back as an
	// index of a supported kind.
	ErrCorrupt = errors.New("corrupt index data")
)

// Error is a C++ exception raised inside FAISS or the shim, carried across
// the C boundary as its message.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Limits that keep arguments within what the C side can represent and that
// catch nonsense values early.
const (
	MaxDim   = 1 << 16
	MaxNlist = 1 << 24
	MaxK     = 1 << 20
)

// Kind is the FAISS structure behind an Index.
type Kind int

const (
	KindFlat    Kind = C.FS_KIND_FLAT
	KindIVFFlat Kind = C.FS_KIND_IVF_FLAT
)

func (k Kind) String() string {
	switch k {
	case KindFlat:
		return "flat"
	case KindIVFFlat:
		return "ivf_flat"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Index owns one FAISS index.
type Index struct {
	mu  sync.RWMutex
	ptr *C.fs_index // nil once closed; guarded by mu

	cleanup runtime.Cleanup

	// Immutable after construction.
	kind  Kind
	dim   int
	nlist int

	// Copies of FAISS state, refreshed under the write lock after every
	// mutation, so that these accessors never wait for a long Add or Train.
	ntotal  atomic.Int64
	trained atomic.Bool
}

// NewFlat returns an empty exact inner-product index for vectors of dim
// components.
func NewFlat(dim int) (*Index, error) {
	if dim < 1 || dim > MaxDim {
		return nil, fmt.Errorf("faiss: new flat: %w: dimension %d not in [1, %d]", ErrInvalidArgument, dim, MaxDim)
	}
	var p *C.fs_index
	var msg *C.char
	rc := C.fs_new_flat_ip(C.int(dim), &p, &msg)
	if err := cError("new flat", rc, msg); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

// NewIVFFlat returns an untrained inner-product IVF index with nlist
// inverted lists for vectors of dim components.
func NewIVFFlat(dim, nlist int) (*Index, error) {
	if dim < 1 || dim > MaxDim {
		return nil, fmt.Errorf("faiss: new ivf: %w: dimension %d not in [1, %d]", ErrInvalidArgument, dim, MaxDim)
	}
	if nlist < 1 || nlist > MaxNlist {
		return nil, fmt.Errorf("faiss: new ivf: %w: nlist %d not in [1, %d]", ErrInvalidArgument, nlist, MaxNlist)
	}
	var p *C.fs_index
	var msg *C.char
	rc := C.fs_new_ivfflat_ip(C.int(dim), C.size_t(nlist), &p, &msg)
	if err := cError("new ivf", rc, msg); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

// wrap gives p a Go owner. p must be a valid index no other owner frees.
func wrap(p *C.fs_index) *Index {
	x := &Index{
		ptr:   p,
		kind:  Kind(C.fs_kind(p)),
		dim:   int(C.fs_dim(p)),
		nlist: int(C.fs_nlist(p)),
	}
	x.refresh()
	x.cleanup = runtime.AddCleanup(x, func(p *C.fs_index) { C.fs_free(p) }, p)
	return x
}

// refresh copies FAISS state into the atomics; the caller holds mu.
func (x *Index) refresh() {
	x.ntotal.Store(int64(C.fs_ntotal(x.ptr)))
	x.trained.Store(C.fs_is_trained(x.ptr) != 0)
}

// Close frees the FAISS index. It waits for running calls to finish; later
// calls return ErrClosed. Close is idempotent and always returns nil.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return nil
	}
	x.cleanup.Stop()
	C.fs_free(x.ptr)
	x.ptr = nil
	x.ntotal.Store(0)
	x.trained.Store(false)
	return nil
}

// Kind reports the index structure.
func (x *Index) Kind() Kind { return x.kind }

// Dim reports the vector dimension.
func (x *Index) Dim() int { return x.dim }

// Nlist reports the number of inverted lists, 0 for a flat index.
func (x *Index) Nlist() int { return x.nlist }

// Ntotal reports the number of stored vectors, 0 after Close.
func (x *Index) Ntotal() int64 { return x.ntotal.Load() }

// IsTrained reports whether the index accepts vectors: always true for a
// flat index, true for an IVF index after Train. It is false after Close.
func (x *Index) IsTrained() bool { return x.trained.Load() }

// ownNprobe reports the nprobe stored in the IVF index itself. The package
// never changes it; tests check that per-request nprobe does not leak.
func (x *Index) ownNprobe() (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.ptr == nil {
		return 0, ErrClosed
	}
	return int(C.fs_own_nprobe(x.ptr)), nil
}

// Train trains the coarse quantizer of an IVF index by k-means on vectors
// (row-major, Dim components each), which must hold at least Nlist of them;
// FAISS warns on stderr below 39 per list and samples at most 256 per list.
// Training is deterministic for given vectors. Train on a flat index only
// validates its input. An IVF index is trained once: to retrain, build a
// new index.
func (x *Index) Train(vectors []float32) error {
	n, err := x.rows("train", vectors)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return fmt.Errorf("faiss: train: %w", ErrClosed)
	}
	if x.kind == KindFlat {
		return nil
	}
	if x.trained.Load() {
		return fmt.Errorf("faiss: train: %w: index is already trained", ErrInvalidArgument)
	}
	if n < x.nlist {
		return fmt.Errorf("faiss: train: %w: %d training vectors for %d lists", ErrInvalidArgument, n, x.nlist)
	}
	var msg *C.char
	rc := C.fs_train(x.ptr, C.int64_t(n), (*C.float)(unsafe.Pointer(&vectors[0])), &msg)
	x.refresh()
	return cError("train", rc, msg)
}

// Add stores vectors (row-major, Dim components each) under ids, one id per
// vector. Ids must be non-negative and distinct within the call. A flat
// index also refuses ids it already stores (ErrDuplicateID, nothing added);
// an IVF index cannot check that cheaply and would store both copies, so
// callers replace a vector by removing its id first.
func (x *Index) Add(ids []int64, vectors []float32) error {
	n, err := x.rows("add", vectors)
	if err != nil {
		return err
	}
	if len(ids) != n {
		return fmt.Errorf("faiss: add: %w: %d ids for %d vectors", ErrInvalidArgument, len(ids), n)
	}
	if err := checkIDs("add", ids); err != nil {
		return err
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return fmt.Errorf("faiss: add: %w: %d repeats within the batch", ErrDuplicateID, sorted[i])
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return fmt.Errorf("faiss: add: %w", ErrClosed)
	}
	if !x.trained.Load() {
		return fmt.Errorf("faiss: add: %w", ErrNotTrained)
	}
	if n == 0 {
		return nil
	}
	var dup C.int64_t
	var msg *C.char
	rc := C.fs_add(x.ptr, C.int64_t(n), (*C.float)(unsafe.Pointer(&vectors[0])),
		(*C.int64_t)(unsafe.Pointer(&ids[0])), &dup, &msg)
	x.refresh()
	if rc == C.FS_DUPLICATE_ID {
		return fmt.Errorf("faiss: add: %w: %d is already stored", ErrDuplicateID, int64(dup))
	}
	return cError("add", rc, msg)
}

// Remove deletes the vectors stored under ids and reports how many it
// removed; ids that are not stored are ignored. It scans the whole index,
// so callers batch removals.
func (x *Index) Remove(ids []int64) (int, error) {
	if err := checkIDs("remove", ids); err != nil {
		return 0, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return 0, fmt.Errorf("faiss: remove: %w", ErrClosed)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var removed C.size_t
	var msg *C.char
	rc := C.fs_remove(x.ptr, C.int64_t(len(ids)), (*C.int64_t)(unsafe.Pointer(&ids[0])), &removed, &msg)
	x.refresh()
	if err := cError("remove", rc, msg); err != nil {
		return 0, err
	}
	return int(removed), nil
}

// Reset removes every vector. An IVF index stays trained.
func (x *Index) Reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return fmt.Errorf("faiss: reset: %w", ErrClosed)
	}
	var msg *C.char
	rc := C.fs_reset(x.ptr, &msg)
	x.refresh()
	return cError("reset", rc, msg)
}

// Search finds the k stored vectors with the largest inner product with
// each query (row-major, Dim components each). Results are row-major too:
// distances[i*k+j] and labels[i*k+j] are the j-th best score and id for
// query i, best first. When fewer than k results exist the rest of the row
// holds label -1 and distance -Inf.
//
// nprobe is the number of inverted lists an IVF index visits, clamped to
// [1, Nlist]; it applies to this call only (it is passed to FAISS as
// SearchParametersIVF and never written into the shared index). A flat
// index ignores it.
func (x *Index) Search(queries []float32, k, nprobe int) (distances []float32, labels []int64, err error) {
	return x.search("search", queries, k, nprobe, nil, false)
}

// SearchFiltered is Search restricted to the ids in allow, for category
// filters. Ids in allow that are not stored are ignored; an empty allow
// yields no results. On a flat index the result is exact: k results come
// back whenever k allowed vectors exist. On an IVF index only the nprobe
// visited lists are searched, so fewer may come back; nprobe = Nlist makes
// it exhaustive over the allowed ids, at the cost of one membership test
// per stored vector plus one inner product per allowed vector.
func (x *Index) SearchFiltered(queries []float32, k, nprobe int, allow []int64) (distances []float32, labels []int64, err error) {
	if allow == nil {
		allow = []int64{}
	}
	return x.search("search filtered", queries, k, nprobe, allow, true)
}

func (x *Index) search(op string, queries []float32, k, nprobe int, allow []int64, filtered bool) ([]float32, []int64, error) {
	n, err := x.rows(op, queries)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("faiss: %s: %w: no queries", op, ErrInvalidArgument)
	}
	if k < 1 || k > MaxK {
		return nil, nil, fmt.Errorf("faiss: %s: %w: k = %d not in [1, %d]", op, ErrInvalidArgument, k, MaxK)
	}
	if err := checkIDs(op, allow); err != nil {
		return nil, nil, err
	}
	distances := make([]float32, n*k)
	labels := make([]int64, n*k)
	if filtered && len(allow) == 0 {
		// Nothing is allowed; still report ErrClosed and ErrNotTrained as
		// any other search would.
		if err := x.checkSearchable(op); err != nil {
			return nil, nil, err
		}
		fillEmpty(distances, labels)
		return distances, labels, nil
	}
	sel := newSelector(allow, filtered)

	x.mu.RLock()
	defer x.mu.RUnlock()
	if err := x.checkSearchableLocked(op); err != nil {
		return nil, nil, err
	}
	if nprobe < 1 {
		nprobe = 1
	}
	if x.nlist > 0 && nprobe > x.nlist {
		nprobe = x.nlist
	}
	var msg *C.char
	rc := C.fs_search(x.ptr, C.int64_t(n), (*C.float)(unsafe.Pointer(&queries[0])), C.int64_t(k),
		C.size_t(nprobe), sel.kind, sel.ids, sel.bitmap, sel.n,
		(*C.float)(unsafe.Pointer(&distances[0])), (*C.int64_t)(unsafe.Pointer(&labels[0])), &msg)
	runtime.KeepAlive(sel)
	if err := cError(op, rc, msg); err != nil {
		return nil, nil, err
	}
	for i, l := range labels {
		if l < 0 {
			labels[i] = -1
			distances[i] = float32(math.Inf(-1))
		}
	}
	return distances, labels, nil
}

func (x *Index) checkSearchable(op string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.checkSearchableLocked(op)
}

func (x *Index) checkSearchableLocked(op string) error {
	if x.ptr == nil {
		return fmt.Errorf("faiss: %s: %w", op, ErrClosed)
	}
	if !x.trained.Load() {
		return fmt.Errorf("faiss: %s: %w", op, ErrNotTrained)
	}
	return nil
}

func fillEmpty(distances []float32, labels []int64) {
	for i := range labels {
		labels[i] = -1
		distances[i] = float32(math.Inf(-1))
	}
}

// selector is the C view of an allow-list.
type selector struct {
	kind   C.int
	ids    *C.int64_t
	bitmap *C.uint8_t
	n      C.size_t
	keep   any // the Go memory ids or bitmap point into
}

// newSelector picks the cheaper FAISS selector for allow. A bitmap
// (IDSelectorBitmap) costs one bit per id up to the largest allowed id and
// a single load per membership test; a hash set (IDSelectorBatch) costs
// tens of bytes per allowed id and a hash lookup per test. Ids here are
// store row ids, dense enough that the bitmap usually wins.
func newSelector(allow []int64, filtered bool) selector {
	if !filtered {
		return selector{kind: C.FS_SEL_NONE}
	}
	maxID := slices.Max(allow)
	if maxID/8 <= 32*int64(len(allow))+4096 {
		bitmap := make([]byte, maxID/8+1)
		for _, id := range allow {
			bitmap[id>>3] |= 1 << (id & 7)
		}
		return selector{
			kind:   C.FS_SEL_BITMAP,
			bitmap: (*C.uint8_t)(unsafe.Pointer(&bitmap[0])),
			n:      C.size_t(len(bitmap)),
			keep:   bitmap,
		}
	}
	return selector{
		kind: C.FS_SEL_BATCH,
		ids:  (*C.int64_t)(unsafe.Pointer(&allow[0])),
		n:    C.size_t(len(allow)),
		keep: allow,
	}
}

// rows validates a row-major matrix of Dim-component vectors and returns
// its row count. Non-finite components are rejected here because FAISS does
// not check them: a NaN poisons k-means and makes result order meaningless.
func (x *Index) rows(op string, v []float32) (int, error) {
	if x.dim == 0 { // the zero Index, which behaves as closed
		return 0, fmt.Errorf("faiss: %s: %w", op, ErrClosed)
	}
	if len(v)%x.dim != 0 {
		return 0, fmt.Errorf("faiss: %s: %w: %d values is not a multiple of dimension %d", op, ErrInvalidArgument, len(v), x.dim)
	}
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return 0, fmt.Errorf("faiss: %s: %w: non-finite value %v in vector %d", op, ErrInvalidArgument, f, i/x.dim)
		}
	}
	return len(v) / x.dim, nil
}

func checkIDs(op string, ids []int64) error {
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("faiss: %s: %w: negative id %d", op, ErrInvalidArgument, id)
		}
	}
	return nil
}

// cError turns a shim failure into a Go error for op; see shimError.
func cError(op string, rc C.int, msg *C.char) error {
	if e := shimError(rc, msg); e != nil {
		return fmt.Errorf("faiss: %s: %w", op, e)
	}
	return nil
}

// shimError returns nil when rc reports success and otherwise the shim's
// message, which it frees.
func shimError(rc C.int, msg *C.char) *Error {
	if rc == 0 {
		return nil
	}
	if msg == nil {
		return &Error{Msg: "failed (out of memory for the error message)"}
	}
	defer C.free(unsafe.Pointer(msg))
	return &Error{Msg: C.GoString(msg)}
}

// Version reports the FAISS version the package is built with.
func Version() string {
	var major, minor, patch C.int
	C.fs_version(&major, &minor, &patch)
	return fmt.Sprintf("%d.%d.%d", major, minor, patch)
}

// CompileOptions reports how the linked FAISS library was compiled, e.g.
// "OPTIMIZE GENERIC" for Debian's build, which has no AVX2 kernels.
func CompileOptions() (string, error) {
	var out, msg *C.char
	rc := C.fs_compile_options(&out, &msg)
	if err := cError("compile options", rc, msg); err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoString(out), nil
}
