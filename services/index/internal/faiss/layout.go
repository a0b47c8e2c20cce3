package faiss

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// checkLayout walks serialized index data of size bytes, as written by
// faiss::write_index for the two kinds this package builds, and checks every
// declared count against the bytes that actually follow. It reads only the
// small header fields and the IVF list sizes, skipping over vector data.
//
// It exists because FAISS 1.7.3 reads a count and resizes a std::vector to
// it before reading the elements: a flipped bit in a count can make it
// allocate and zero-fill gigabytes (anything below 2^40 elements passes its
// own check) before the short read is noticed. After checkLayout succeeds
// every allocation FAISS makes while reading is bounded by size.
//
// The format, little-endian, with "hdr" the common index header
// (d int32, ntotal int64, two unused int64, is_trained uint8,
// metric_type int32, and a float32 metric_arg when metric_type > 1):
//
//	flat:  "IxM2" hdr <flat> id_map_len uint64 id_map [id_map_len]int64
//	<flat>: "IxFI" hdr n uint64 data [n]float32          (n = ntotal*d)
//	ivf:   "IwFl" hdr nlist uint64 nprobe uint64 <flat> (the quantizer)
//	       direct_map_type uint8 direct_map_len uint64 (0, 0: none)
//	       "ilar" nlist uint64 code_size uint64
//	       ("full" m uint64 [m]uint64 list sizes, or
//	        "sprs" m uint64 [m/2](list uint64, size uint64) pairs)
//	       for each non-empty list: codes [size*code_size]byte ids [size]int64
func checkLayout(r io.ReaderAt, size int64) error {
	w := &walker{r: r, size: size}
	kind, _, _, err := w.index(0)
	if err != nil {
		return err
	}
	if kind != "IxM2" && kind != "IwFl" {
		return fmt.Errorf("unsupported index type %q", kind)
	}
	if w.off != size {
		return fmt.Errorf("%d bytes of trailing data after index", size-w.off)
	}
	return nil
}

type walker struct {
	r    io.ReaderAt
	size int64
	off  int64
	buf  [8]byte
}

var errShort = errors.New("data ends inside the index")

// readAtError marks a failure of the underlying reader, as opposed to bad
// data.
type readAtError struct{ err error }

func (e *readAtError) Error() string { return e.err.Error() }
func (e *readAtError) Unwrap() error { return e.err }

func (w *walker) read(n int) ([]byte, error) {
	if int64(n) > w.size-w.off {
		return nil, errShort
	}
	if _, err := w.r.ReadAt(w.buf[:n], w.off); err != nil {
		return nil, &readAtError{err}
	}
	w.off += int64(n)
	return w.buf[:n], nil
}

func (w *walker) u8() (uint8, error) {
	b, err := w.read(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (w *walker) u32() (uint32, error) {
	b, err := w.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (w *walker) u64() (uint64, error) {
	b, err := w.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (w *walker) fourcc() (string, error) {
	b, err := w.read(4)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// skip passes over count elements of elem bytes each.
func (w *walker) skip(count, elem uint64) error {
	if count > 0 && elem > 0 && count > uint64(math.MaxInt64)/elem {
		return errShort
	}
	n := count * elem
	if n > uint64(w.size-w.off) {
		return errShort
	}
	w.off += int64(n)
	return nil
}

// header reads the common index header and returns d and ntotal.
func (w *walker) header() (int64, int64, error) {
	d, err := w.u32()
	if err != nil {
		return 0, 0, err
	}
	ntotal, err := w.u64()
	if err != nil {
		return 0, 0, err
	}
	if err := w.skip(2, 8); err != nil { // the two unused fields
		return 0, 0, err
	}
	if _, err := w.u8(); err != nil { // is_trained
		return 0, 0, err
	}
	metric, err := w.u32()
	if err != nil {
		return 0, 0, err
	}
	if metric > 1 {
		if err := w.skip(1, 4); err != nil { // metric_arg
			return 0, 0, err
		}
	}
	if int32(d) < 1 || int32(d) > MaxDim {
		return 0, 0, fmt.Errorf("dimension %d out of range", int32(d))
	}
	if int64(ntotal) < 0 || ntotal > uint64(w.size) {
		return 0, 0, fmt.Errorf("ntotal %d exceeds the data", ntotal)
	}
	return int64(d), int64(ntotal), nil
}

// index walks one index and returns its type tag, dimension and ntotal.
func (w *walker) index(depth int) (string, int64, int64, error) {
	kind, err := w.fourcc()
	if err != nil {
		return "", 0, 0, err
	}
	d, ntotal, err := w.header()
	if err != nil {
		return "", 0, 0, err
	}
	switch {
	case kind == "IxFI":
		n, err := w.u64()
		if err != nil {
			return "", 0, 0, err
		}
		if n != uint64(ntotal)*uint64(d) {
			return "", 0, 0, fmt.Errorf("flat data holds %d floats, want %d x %d", n, ntotal, d)
		}
		err = w.skip(n, 4)
		return kind, d, ntotal, err

	case kind == "IxM2" && depth == 0:
		sub, sd, sn, err := w.index(depth + 1)
		if err != nil {
			return "", 0, 0, err
		}
		if sub != "IxFI" || sd != d || sn != ntotal {
			return "", 0, 0, fmt.Errorf("id map over %q (d=%d, ntotal=%d), want IxFI (d=%d, ntotal=%d)", sub, sd, sn, d, ntotal)
		}
		n, err := w.u64()
		if err != nil {
			return "", 0, 0, err
		}
		if n != uint64(ntotal) {
			return "", 0, 0, fmt.Errorf("id map holds %d ids, want %d", n, ntotal)
		}
		err = w.skip(n, 8)
		return kind, d, ntotal, err

	case kind == "IwFl" && depth == 0:
		err := w.ivf(d, ntotal)
		return kind, d, ntotal, err
	}
	return "", 0, 0, fmt.Errorf("unsupported index type %q", kind)
}

func (w *walker) ivf(d, ntotal int64) error {
	nlist, err := w.u64()
	if err != nil {
		return err
	}
	if nlist < 1 || nlist > MaxNlist {
		return fmt.Errorf("nlist %d out of range", nlist)
	}
	if _, err := w.u64(); err != nil { // nprobe
		return err
	}
	q, qd, _, err := w.index(1)
	if err != nil {
		return err
	}
	if q != "IxFI" || qd != d {
		return fmt.Errorf("quantizer is %q with d=%d, want IxFI with d=%d", q, qd, d)
	}
	dmType, err := w.u8()
	if err != nil {
		return err
	}
	dmLen, err := w.u64()
	if err != nil {
		return err
	}
	if dmType != 0 || dmLen != 0 {
		return fmt.Errorf("unsupported direct map (type %d, %d entries)", dmType, dmLen)
	}

	tag, err := w.fourcc()
	if err != nil {
		return err
	}
	if tag != "ilar" {
		return fmt.Errorf("unsupported inverted lists %q", tag)
	}
	if n, err := w.u64(); err != nil {
		return err
	} else if n != nlist {
		return fmt.Errorf("inverted lists have nlist %d, want %d", n, nlist)
	}
	codeSize, err := w.u64()
	if err != nil {
		return err
	}
	if codeSize != uint64(d)*4 {
		return fmt.Errorf("code size %d, want %d", codeSize, d*4)
	}
	listType, err := w.fourcc()
	if err != nil {
		return err
	}
	m, err := w.u64()
	if err != nil {
		return err
	}
	if m > uint64(w.size-w.off)/8 {
		return errShort
	}
	sizes := make([]byte, 8*m)
	if m > 0 {
		if _, err := w.r.ReadAt(sizes, w.off); err != nil {
			return &readAtError{err}
		}
	}
	w.off += int64(8 * m)
	word := func(i uint64) uint64 { return binary.LittleEndian.Uint64(sizes[8*i:]) }

	var counts []uint64 // sizes of the non-empty lists, in list order
	switch listType {
	case "full":
		if m != nlist {
			return fmt.Errorf("%d list sizes for %d lists", m, nlist)
		}
		for i := range m {
			counts = append(counts, word(i))
		}
	case "sprs":
		if m%2 != 0 {
			return fmt.Errorf("odd sparse list size count %d", m)
		}
		for i := uint64(0); i < m; i += 2 {
			if word(i) >= nlist {
				return fmt.Errorf("list number %d out of range", word(i))
			}
			counts = append(counts, word(i+1))
		}
	default:
		return fmt.Errorf("unsupported list type %q", listType)
	}
	var total uint64
	for _, n := range counts {
		if n > uint64(ntotal) {
			return fmt.Errorf("list of %d vectors exceeds ntotal %d", n, ntotal)
		}
		total += n
		if err := w.skip(n, codeSize+8); err != nil {
			return err
		}
	}
	if total != uint64(ntotal) {
		return fmt.Errorf("inverted lists hold %d vectors, want %d", total, ntotal)
	}
	return nil
}
