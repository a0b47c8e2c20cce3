// Package snapshot saves and loads the FAISS index of one shard as a
// snapshot: a payload file in FAISS's format plus a manifest that says what
// the payload is and which store version it contains.
//
// # Files
//
// A shard directory holds at most one live snapshot:
//
//	snapshot.json        the manifest (Manifest, JSON)
//	index-<gen>.faiss    the payload it names; gen grows by one per snapshot
//
// plus, only after a crash, leftover *.tmp files and payloads no manifest
// names, which Clean removes.
//
// # Atomicity
//
// Write never modifies a file a manifest may name. It writes the payload to
// a temporary file, hashing it as it goes, fsyncs it and renames it to its
// final, new name; then writes the manifest the same way (temporary file,
// fsync, rename over snapshot.json) and fsyncs the directory, which makes
// both renames durable. Only then does it delete the previous payload. A
// crash at any point leaves snapshot.json naming a complete payload: the
// previous one until the manifest rename, the new one after it.
//
// # Verification
//
// FAISS's format has no checksum, and a flipped bit in vector data reads
// back as a silently different vector. The manifest records the payload's
// size and SHA-256; Load verifies both before handing the file to FAISS,
// and then checks that the index FAISS built has the kind, dimension,
// number of lists and number of vectors the manifest states. Any mismatch
// is an error wrapping ErrCorrupt: the caller rebuilds from the store.
package snapshot

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// ManifestName is the manifest's file name in a shard directory.
const ManifestName = "snapshot.json"

const (
	payloadPrefix = "index-"
	payloadSuffix = ".faiss"
	tmpSuffix     = ".tmp"
)

// Errors, to be tested with errors.Is.
var (
	// ErrNoSnapshot reports a directory without a manifest.
	ErrNoSnapshot = errors.New("no snapshot")
	// ErrCorrupt reports a manifest or payload that fails verification.
	ErrCorrupt = errors.New("corrupt snapshot")
)

// Manifest describes one snapshot.
type Manifest struct {
	Format int `json:"format"`
	// Generation numbers the shard's snapshots; the payload's name holds it.
	Generation int64 `json:"generation"`
	// Model and Dim are the store's; a snapshot never serves another model.
	Model string `json:"model"`
	Dim   int    `json:"dim"`
	// Kind is "flat" or "ivf_flat" (faiss.Kind.String); Nlist is 0 for flat.
	Kind  string `json:"kind"`
	Nlist int    `json:"nlist"`
	// Ntotal is the number of vectors in the payload.
	Ntotal int64 `json:"ntotal"`
	// StoreVersion is the store version the index holds exactly.
	StoreVersion int64 `json:"store_version"`
	// Payload is the payload's file name, relative to the directory.
	Payload      string    `json:"payload"`
	PayloadBytes int64     `json:"payload_bytes"`
	SHA256       string    `json:"sha256"`
	Created      time.Time `json:"created"`
}

// Info is what a caller states about the index it snapshots; Write fills in
// the rest of the Manifest.
type Info struct {
	Model        string
	Dim          int
	Kind         faiss.Kind
	Nlist        int
	Ntotal       int64
	StoreVersion int64
}

// Write saves a snapshot in dir, whose previous manifest (if any) is prev
// (nil when there is none), and returns the new manifest. write must write
// the index in FAISS's format to w (faiss.Index.WriteTo) and return the
// Info of exactly what it wrote; the caller holds whatever locks keep the
// index and its version consistent for the duration of write, and only
// that long: the fsyncs and renames happen after write returns.
func Write(dir string, prev *Manifest, write func(w io.Writer) (Info, error)) (m Manifest, err error) {
	gen := int64(1)
	if prev != nil {
		gen = prev.Generation + 1
	}
	payload := payloadPrefix + strconv.FormatInt(gen, 10) + payloadSuffix
	tmp := filepath.Join(dir, payload+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Manifest{}, fmt.Errorf("snapshot: create payload: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	cw := &countingWriter{w: bw}
	info, err := write(cw)
	if err != nil {
		return Manifest{}, fmt.Errorf("snapshot: write payload: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: write payload: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: sync payload: %w", err)
	}
	if err := f.Close(); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: close payload: %w", err)
	}
	final := filepath.Join(dir, payload)
	if err := os.Rename(tmp, final); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: rename payload: %w", err)
	}
	m = Manifest{
		Format:       FormatVersion,
		Generation:   gen,
		Model:        info.Model,
		Dim:          info.Dim,
		Kind:         info.Kind.String(),
		Nlist:        info.Nlist,
		Ntotal:       info.Ntotal,
		StoreVersion: info.StoreVersion,
		Payload:      payload,
		PayloadBytes: cw.n,
		SHA256:       hex.EncodeToString(h.Sum(nil)),
		Created:      time.Now().UTC(),
	}
	if renamed, err := writeManifest(dir, &m); err != nil {
		if !renamed {
			os.Remove(final)
		}
		return Manifest{}, err
	}
	if prev != nil && prev.Payload != payload && validPayloadName(prev.Payload) {
		// The new manifest is durable; the old payload is garbage. Failing
		// to delete it only wastes space until Clean.
		os.Remove(filepath.Join(dir, prev.Payload))
	}
	return m, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeManifest replaces dir's manifest atomically and durably. renamed
// reports whether the new manifest replaced the old one, even if making
// that durable failed afterwards.
func writeManifest(dir string, m *Manifest) (renamed bool, err error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, fmt.Errorf("snapshot: encode manifest: %w", err)
	}
	data = append(data, '\n')
	tmp := filepath.Join(dir, ManifestName+tmpSuffix)
	if err := writeFileSync(tmp, data); err != nil {
		return false, fmt.Errorf("snapshot: write manifest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestName)); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("snapshot: rename manifest: %w", err)
	}
	if err := SyncDir(dir); err != nil {
		return true, fmt.Errorf("snapshot: %w", err)
	}
	return true, nil
}

// writeFileSync writes data to a new file at path and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// WriteFileAtomic replaces path with data durably: temporary file, fsync,
// rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + tmpSuffix
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ReadManifest reads and validates dir's manifest. It fails with
// ErrNoSnapshot when there is none and ErrCorrupt when it is unreadable.
func ReadManifest(dir string) (Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("snapshot: %s: %w", dir, ErrNoSnapshot)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("snapshot: read manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: %s: manifest: %w: %w", dir, ErrCorrupt, err)
	}
	var problems []string
	if m.Format != FormatVersion {
		problems = append(problems, fmt.Sprintf("format %d, want %d", m.Format, FormatVersion))
	}
	if !validPayloadName(m.Payload) {
		problems = append(problems, fmt.Sprintf("payload name %q", m.Payload))
	}
	if m.Dim < 1 || m.Dim > faiss.MaxDim {
		problems = append(problems, fmt.Sprintf("dimension %d", m.Dim))
	}
	if m.Ntotal < 0 || m.StoreVersion < 0 || m.PayloadBytes <= 0 || m.Nlist < 0 {
		problems = append(problems, "negative counts")
	}
	if len(m.SHA256) != 2*sha256.Size {
		problems = append(problems, "missing SHA-256")
	}
	if m.Kind != faiss.KindFlat.String() && m.Kind != faiss.KindIVFFlat.String() {
		problems = append(problems, fmt.Sprintf("kind %q", m.Kind))
	}
	if len(problems) > 0 {
		return Manifest{}, fmt.Errorf("snapshot: %s: manifest: %w: %s", dir, ErrCorrupt, strings.Join(problems, "; "))
	}
	return m, nil
}

func validPayloadName(name string) bool {
	n, ok := strings.CutPrefix(name, payloadPrefix)
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, payloadSuffix)
	if !ok {
		return false
	}
	g, err := strconv.ParseInt(n, 10, 64)
	return err == nil && g > 0 && strconv.FormatInt(g, 10) == n
}

// Load reads dir's snapshot, verifies it (see the package documentation)
// and returns the index with its manifest. Errors wrap ErrNoSnapshot or
// ErrCorrupt when the snapshot is missing or bad; other errors are I/O
// failures.
func Load(dir string) (*faiss.Index, Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, Manifest{}, err
	}
	path := filepath.Join(dir, m.Payload)
	if err := verifyPayload(path, &m); err != nil {
		return nil, m, fmt.Errorf("snapshot: %s: %w", path, err)
	}
	idx, err := faiss.ReadFile(path)
	if err != nil {
		if errors.Is(err, faiss.ErrCorrupt) {
			return nil, m, fmt.Errorf("snapshot: %s: %w: %w", path, ErrCorrupt, err)
		}
		return nil, m, fmt.Errorf("snapshot: %s: %w", path, err)
	}
	if idx.Kind().String() != m.Kind || idx.Dim() != m.Dim || idx.Nlist() != m.Nlist || idx.Ntotal() != m.Ntotal || !idx.IsTrained() {
		err := fmt.Errorf("snapshot: %s: %w: payload is %s d=%d nlist=%d ntotal=%d trained=%v, manifest says %s d=%d nlist=%d ntotal=%d",
			path, ErrCorrupt, idx.Kind(), idx.Dim(), idx.Nlist(), idx.Ntotal(), idx.IsTrained(), m.Kind, m.Dim, m.Nlist, m.Ntotal)
		idx.Close()
		return nil, m, err
	}
	return idx, m, nil
}

// verifyPayload checks the payload's size and SHA-256 against m.
func verifyPayload(path string, m *Manifest) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: payload missing", ErrCorrupt)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != m.PayloadBytes {
		return fmt.Errorf("%w: payload has %d bytes, manifest says %d", ErrCorrupt, n, m.PayloadBytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != m.SHA256 {
		return fmt.Errorf("%w: payload SHA-256 %s, manifest says %s", ErrCorrupt, sum, m.SHA256)
	}
	return nil
}

// Remove deletes dir's snapshot: first the manifest (durably), so that a
// crash never leaves a manifest naming a missing payload, then every
// payload. The shard then rebuilds from the store on its next load.
func Remove(dir string) error {
	err := os.Remove(filepath.Join(dir, ManifestName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot: remove manifest: %w", err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	_, err = Clean(dir)
	return err
}

// Clean deletes what a crash may have left in dir: temporary files and
// payloads the manifest does not name. It returns the names it removed.
func Clean(dir string) ([]string, error) {
	keep := ""
	if m, err := ReadManifest(dir); err == nil {
		keep = m.Payload
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: clean %s: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		stale := strings.HasSuffix(name, tmpSuffix) && (strings.HasPrefix(name, payloadPrefix) || name == ManifestName+tmpSuffix)
		stale = stale || (validPayloadName(name) && name != keep)
		if !stale || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("snapshot: clean %s: %w", dir, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}
