package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotCached reports, in offline mode, a model that is not in the cache.
var ErrNotCached = errors.New("not in the cache")

// staleTemp is the age after which a temporary download directory is taken
// to be left over by a process that died, and removed.
const staleTemp = 24 * time.Hour

// cache is the cache directory of one repository.
type cache struct {
	dir string // {root}/{org}--{name}
}

func newCache(root, org, name string) cache {
	return cache{dir: filepath.Join(root, org+"--"+name)}
}

func (c cache) snapshot(commit string) string { return filepath.Join(c.dir, commit) }

func (c cache) refPath(rev string) string {
	return filepath.Join(c.dir, "refs", filepath.FromSlash(rev))
}

// readRef returns the commit that rev last resolved to; a commit hash
// resolves to itself.
func (c cache) readRef(rev string) (string, error) {
	if isCommit(rev) {
		return rev, nil
	}
	b, err := os.ReadFile(c.refPath(rev))
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(b))
	if !isCommit(commit) {
		return "", fmt.Errorf("hub: %s does not hold a commit hash", c.refPath(rev))
	}
	return commit, nil
}

// writeRef records that rev resolves to commit, replacing the file
// atomically so that a concurrent reader never sees half a hash.
func (c cache) writeRef(rev, commit string) error {
	if rev == commit {
		return nil
	}
	p := c.refPath(rev)
	if old, err := c.readRef(rev); err == nil && old == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-ref-")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	_, err = f.WriteString(commit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// lookup finds, without the network, the cached snapshot of rev that has
// the ONNX model onnxFile (empty: the default one).
func (c cache) lookup(repoID, rev, onnxFile string) (Snapshot, error) {
	commit, err := c.readRef(rev)
	if errors.Is(err, fs.ErrNotExist) {
		return Snapshot{}, fmt.Errorf("hub: %s at revision %q, looked up in %s: %w", repoID, rev, c.dir, ErrNotCached)
	}
	if err != nil {
		return Snapshot{}, err
	}
	candidates := defaultONNX
	if onnxFile != "" {
		candidates = []string{onnxFile}
	}
	dir := c.snapshot(commit)
	for _, name := range candidates {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err == nil && fi.Mode().IsRegular() {
			return Snapshot{Dir: dir, Commit: commit, ONNXFile: name}, nil
		}
	}
	return Snapshot{}, fmt.Errorf("hub: %s at revision %q (commit %s) with %s, looked up in %s: %w",
		repoID, rev, commit, strings.Join(candidates, " or "), c.dir, ErrNotCached)
}

// missing returns the files of want that the snapshot of commit does not
// hold with the listed size: all of them when there is no snapshot yet.
// Sizes are checked rather than digests so that a cached start costs a few
// stat calls, not a read of the whole model.
func (c cache) missing(commit string, want []remoteFile) []remoteFile {
	var out []remoteFile
	dir := c.snapshot(commit)
	for _, f := range want {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.name)))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.size {
			out = append(out, f)
		}
	}
	return out
}

// tempDir makes a directory to download into, inside the repository's cache
// directory so that renaming it into place stays on one file system. It
// first removes temporary directories that crashed downloads left behind.
func (c cache) tempDir() (string, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	if entries, err := os.ReadDir(c.dir); err == nil {
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
				os.RemoveAll(filepath.Join(c.dir, e.Name()))
			}
		}
	}
	tmp, err := os.MkdirTemp(c.dir, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("hub: %w", err)
	}
	return tmp, nil
}

// install moves files, downloaded and verified in tmp, into the snapshot of
// commit. Without a snapshot, tmp becomes it in one rename. With one (made
// with another ONNX variant, or just now by a concurrent download), the
// files are renamed in one by one in their order, the ONNX model last, so
// that the model file appears only once all it needs is there.
func (c cache) install(tmp, commit string, files []remoteFile) error {
	dst := c.snapshot(commit)
	err := os.Rename(tmp, dst)
	if err == nil {
		return nil
	}
	if fi, serr := os.Stat(dst); serr != nil || !fi.IsDir() {
		return fmt.Errorf("hub: %w", err)
	}
	for _, f := range files {
		to := filepath.Join(dst, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(f.name)), to); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	return nil
}
