package faiss

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/cgo"
	"unsafe"
)

// Persistence uses FAISS's own format (faiss::write_index and
// faiss::read_index), which records the index kind, so an index reads back
// as the kind it was written as.
//
// What FAISS 1.7.3 checks when reading: the type tags and that no read
// comes up short, so a truncated file fails with an exception, which the
// shim returns as an error. It checksums nothing, and it resizes vectors to
// counts read from the data before reading their elements, so a flipped bit
// in a count can make it allocate and zero-fill gigabytes first. This
// package therefore checks twice:
//
//   - before FAISS sees the data, checkLayout walks the format and checks
//     every count against the bytes that follow, so FAISS never allocates
//     more than the data could fill;
//   - after FAISS has read it, the shim checks that the index has exactly
//     the structure this package builds (types, metric, dimensions, list and
//     id-map sizes, non-negative ids, unique flat ids) and that nothing
//     follows.
//
// Neither can notice a flipped bit in vector data or in an id, which reads
// back as a silently different vector or id. Callers must store a checksum
// of the bytes (e.g. SHA-256 in a manifest written with the snapshot) and
// verify it before calling ReadFile or Unmarshal.

// WriteTo writes the index in FAISS's format to w, implementing
// io.WriterTo. It streams in chunks of up to 1 MiB, so a caller can hash
// while writing (io.MultiWriter) without holding the whole index in Go
// memory. Searches continue while it runs; mutations wait. w must not call
// methods of x that mutate it.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.ptr == nil {
		return 0, fmt.Errorf("faiss: write: %w", ErrClosed)
	}
	st := &ioState{w: w}
	h := cgo.NewHandle(st)
	defer h.Delete()
	var msg *C.char
	rc := C.fs_write(x.ptr, C.uintptr_t(h), &msg)
	return st.n, st.result("write", rc, msg, false)
}

// WriteFile writes the index to a new file at path (truncating any existing
// one), syncs it to stable storage and closes it. On failure the partial
// file is removed. WriteFile is not atomic: to replace a snapshot, write to
// a temporary name in the same directory, then rename and sync the
// directory.
func (x *Index) WriteFile(path string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return fmt.Errorf("faiss: write file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := x.WriteTo(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("faiss: write file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("faiss: write file: %w", err)
	}
	return nil
}

// MarshalBinary returns the index in FAISS's format, implementing
// encoding.BinaryMarshaler. The bytes exist twice while it runs (C++ and
// Go copies); for large indexes prefer WriteTo or WriteFile.
func (x *Index) MarshalBinary() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.ptr == nil {
		return nil, fmt.Errorf("faiss: marshal: %w", ErrClosed)
	}
	var buf *C.fs_buffer
	var data *C.uint8_t
	var n C.size_t
	var msg *C.char
	rc := C.fs_serialize(x.ptr, &buf, &data, &n, &msg)
	if err := cError("marshal", rc, msg); err != nil {
		return nil, err
	}
	defer C.fs_buffer_free(buf)
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
	return out, nil
}

// Unmarshal builds an index from data written by MarshalBinary, WriteTo or
// WriteFile. data must hold exactly one index of a kind this package
// builds; anything else fails with an error wrapping ErrCorrupt.
func Unmarshal(data []byte) (*Index, error) {
	if err := checkLayout(bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, fmt.Errorf("faiss: unmarshal: %w: %w", ErrCorrupt, err)
	}
	var p *C.fs_index
	var msg *C.char
	rc := C.fs_deserialize((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), &p, &msg)
	if e := shimError(rc, msg); e != nil {
		return nil, fmt.Errorf("faiss: unmarshal: %w: %w", ErrCorrupt, e)
	}
	return wrap(p), nil
}

// unmarshalUnchecked is Unmarshal without checkLayout. Tests use it to show
// what FAISS 1.7.3 catches by itself; it is only safe for data whose counts
// are intact, such as truncations, since FAISS allocates what they say.
func unmarshalUnchecked(data []byte) (*Index, error) {
	var p *C.fs_index
	var msg *C.char
	rc := C.fs_deserialize((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), &p, &msg)
	if err := cError("unmarshal unchecked", rc, msg); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

// ReadFile builds an index from the file at path, written by WriteFile or
// WriteTo. The file must hold exactly one index of a kind this package
// builds; anything else fails with an error wrapping ErrCorrupt. The file
// is streamed, not loaded into Go memory.
func ReadFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("faiss: read file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("faiss: read file: %w", err)
	}
	size := fi.Size()
	if err := checkLayout(f, size); err != nil {
		if re := (*readAtError)(nil); errors.As(err, &re) {
			return nil, fmt.Errorf("faiss: read file: %w", re.err)
		}
		return nil, fmt.Errorf("faiss: read file %s: %w: %w", path, ErrCorrupt, err)
	}
	st := &ioState{r: io.NewSectionReader(f, 0, size)}
	h := cgo.NewHandle(st)
	defer h.Delete()
	var p *C.fs_index
	var msg *C.char
	rc := C.fs_read(C.uintptr_t(h), &p, &msg)
	if err := st.result("read file", rc, msg, true); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

// ioState is what the shim's I/O callbacks reach through a cgo.Handle.
type ioState struct {
	w   io.Writer
	r   io.Reader
	n   int64 // bytes transferred
	err error // first error from w or r

	// A panic in w or r must not unwind through C++ frames; it is caught in
	// the callback and re-raised once the C call has returned.
	panicked bool
	panicVal any
}

// result combines the outcome of a C call with what its callbacks saw.
// A shim failure not caused by w or r means bad data when reading, so it
// wraps ErrCorrupt if corrupt is set.
func (st *ioState) result(op string, rc C.int, msg *C.char, corrupt bool) error {
	e := shimError(rc, msg)
	if st.panicked {
		panic(st.panicVal)
	}
	switch {
	case e == nil:
		return nil
	case st.err != nil:
		// The shim's message only says that the callback failed.
		return fmt.Errorf("faiss: %s: %w", op, st.err)
	case corrupt:
		return fmt.Errorf("faiss: %s: %w: %w", op, ErrCorrupt, e)
	default:
		return fmt.Errorf("faiss: %s: %w", op, e)
	}
}

func (st *ioState) recover(rc *int) {
	if v := recover(); v != nil {
		st.panicked = true
		st.panicVal = v
		*rc = -1
	}
}

//export fsGoWrite
func fsGoWrite(h C.uintptr_t, p *C.char, n C.size_t) C.int {
	st := cgo.Handle(h).Value().(*ioState)
	rc := 0
	func() {
		defer st.recover(&rc)
		buf := unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
		m, err := st.w.Write(buf)
		st.n += int64(m)
		if err == nil && m < len(buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			st.err = err
			rc = -1
		}
	}()
	return C.int(rc)
}

// fsGoRead fills up to n bytes at p and returns how many it read, 0 at the
// end of the stream or -1 on error.
//
//export fsGoRead
func fsGoRead(h C.uintptr_t, p *C.char, n C.size_t) C.int64_t {
	st := cgo.Handle(h).Value().(*ioState)
	rc := 0
	m := 0
	func() {
		defer st.recover(&rc)
		buf := unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
		var err error
		m, err = io.ReadFull(st.r, buf)
		st.n += int64(m)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			st.err = err
			rc = -1
		}
	}()
	if rc != 0 {
		return -1
	}
	return C.int64_t(m)
}
