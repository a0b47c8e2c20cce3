package hub

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const repoID = "sentence-transformers/all-MiniLM-L6-v2"

func noEnv(string) string { return "" }

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// snapshotFiles lists the regular files under dir, slash-separated.
func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// checkSnapshot checks that s holds exactly the files want of files, byte
// for byte.
func checkSnapshot(t *testing.T, s Snapshot, files map[string]*fakeFile, want []string) {
	t.Helper()
	if got := snapshotFiles(t, s.Dir); !slices.Equal(got, want) {
		t.Fatalf("snapshot files:\n got %q\nwant %q", got, want)
	}
	for _, name := range want {
		got, err := os.ReadFile(filepath.Join(s.Dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, files[name].data) {
			t.Errorf("%s: content differs from the hub's", name)
		}
	}
}

// checkNoSnapshot checks that a failed download left neither a snapshot, a
// ref nor a temporary directory in the cache.
func checkNoSnapshot(t *testing.T, cacheDir string) {
	t.Helper()
	filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if base := d.Name(); strings.HasPrefix(base, ".tmp-") || isCommit(base) || base == "refs" {
			t.Errorf("failed download left %s", p)
		}
		return nil
	})
}

func TestDownload(t *testing.T) {
	h := newFakeHub(t)
	files := minilmFiles(1)
	h.addRepo(repoID, files)
	opts := h.options(t)
	opts.Token = h.token
	var mu sync.Mutex
	progress := map[string][2]int64{}
	opts.Progress = func(file string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if last := progress[file]; done < last[0] {
			t.Errorf("progress of %s went back from %d to %d", file, last[0], done)
		}
		progress[file] = [2]int64{done, total}
	}

	s, err := download(t.Context(), repoID, opts, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(opts.CacheDir, "sentence-transformers--all-MiniLM-L6-v2", commitA)
	if s.Dir != wantDir || s.Commit != commitA || s.ONNXFile != "onnx/model.onnx" {
		t.Fatalf("Download = %+v, want dir %s, commit %s, onnx/model.onnx", s, wantDir, commitA)
	}
	checkSnapshot(t, s, files, defaultWant)
	ref, err := os.ReadFile(filepath.Join(opts.CacheDir, "sentence-transformers--all-MiniLM-L6-v2", "refs", "main"))
	if err != nil || string(ref) != commitA {
		t.Errorf("refs/main = %q, %v; want %s", ref, err, commitA)
	}
	if got := h.hitCount("resolve"); got != len(defaultWant) {
		t.Errorf("%d resolve requests, want %d", got, len(defaultWant))
	}
	if got := h.hitCount("cdn"); got != 1 {
		t.Errorf("%d CDN requests, want 1 (onnx/model.onnx)", got)
	}
	for _, a := range h.auth {
		if a != "Bearer "+h.token {
			t.Errorf("request with Authorization %q, want the token", a)
		}
	}
	for _, name := range defaultWant {
		size := int64(len(files[name].data))
		if got := progress[name]; got != [2]int64{size, size} {
			t.Errorf("last progress of %s = %v, want [%d %d]", name, got, size, size)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}

	// Cached: online, one listing request and no downloads.
	before := h.totalHits()
	progress = map[string][2]int64{}
	if s2, err := download(t.Context(), repoID, opts, noEnv); err != nil || s2 != s {
		t.Fatalf("cached Download = %+v, %v; want %+v", s2, err, s)
	}
	if got := h.totalHits() - before; got != 1 || h.hitCount("api") != 2 {
		t.Errorf("cached Download made %d requests, want the listing only", got)
	}
	if len(progress) != 0 {
		t.Errorf("cached Download reported progress %v", progress)
	}

	// Offline, by option or environment: no requests at all.
	before = h.totalHits()
	offline := opts
	offline.Offline = true
	if s2, err := download(t.Context(), repoID, offline, noEnv); err != nil || s2 != s {
		t.Fatalf("offline Download = %+v, %v; want %+v", s2, err, s)
	}
	if s2, err := download(t.Context(), repoID, opts, envMap(map[string]string{"HF_HUB_OFFLINE": "1"})); err != nil || s2 != s {
		t.Fatalf("HF_HUB_OFFLINE=1 Download = %+v, %v; want %+v", s2, err, s)
	}
	if got := h.totalHits() - before; got != 0 {
		t.Errorf("offline Download made %d requests", got)
	}

	// Another ONNX variant of the same commit joins the snapshot.
	before = h.hitCount("resolve")
	q := opts
	q.ONNXFile = "onnx/model_qint8_avx512_vnni.onnx"
	sq, err := download(t.Context(), repoID, q, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if sq.Dir != s.Dir || sq.ONNXFile != q.ONNXFile {
		t.Errorf("Download(%s) = %+v", q.ONNXFile, sq)
	}
	if got := h.hitCount("resolve") - before; got != 1 {
		t.Errorf("adding a variant made %d file requests, want 1", got)
	}
	checkSnapshot(t, sq, files, slices.Sorted(slices.Values(append(slices.Clone(defaultWant), q.ONNXFile))))
	q.Offline = true
	if s2, err := download(t.Context(), repoID, q, noEnv); err != nil || s2 != sq {
		t.Errorf("offline Download(%s) = %+v, %v; want %+v", q.ONNXFile, s2, err, sq)
	}
	q.ONNXFile = "onnx/model_O4.onnx"
	if _, err := download(t.Context(), repoID, q, noEnv); !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Download(%s), a variant never downloaded = %v, want ErrNotCached", q.ONNXFile, err)
	}
}

func TestDownloadErrors(t *testing.T) {
	tests := []struct {
		name   string
		repoID string
		setup  func(h *fakeHub, files map[string]*fakeFile, r *fakeRepo)
		opts   func(o *Options)
		want   error
		msg    []string // substrings of the error message
		noHits bool
	}{
		{
			name:  "gated without token",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.gated = true },
			want:  ErrAccess, msg: []string{"gated", "HF_TOKEN", repoID},
		},
		{
			name:  "gated with a bad token",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.gated = true },
			opts:  func(o *Options) { o.Token = "hf_wrong" },
			want:  ErrAccess, msg: []string{"rejected HF_TOKEN"},
		},
		{
			name:   "missing repository",
			repoID: "acme/no-such-model",
			want:   ErrNotFound, msg: []string{"acme/no-such-model", "not found"},
		},
		{
			name: "missing revision",
			opts: func(o *Options) { o.Revision = "v9" },
			want: ErrNotFound, msg: []string{`revision "v9"`, repoID},
		},
		{
			name:  "listing with path traversal",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.extra = []string{"../../evil"} },
			want:  ErrInvalidName, msg: []string{"unsafe", "../../evil"},
		},
		{
			name:  "listing with absolute path",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.extra = []string{"/etc/evil"} },
			want:  ErrInvalidName, msg: []string{"/etc/evil"},
		},
		{
			name: "listing without sizes",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) {
				r.rawListing = `{"sha":"` + commitA + `","siblings":[{"rfilename":"model.onnx"}]}`
			},
			msg: []string{"no size", "model.onnx"},
		},
		{
			name:  "listing without a commit",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.rawListing = `{"sha":"main","siblings":[]}` },
			msg:   []string{"commit hash"},
		},
		{
			name: "listing with a malformed sha256",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) {
				r.rawListing = `{"sha":"` + commitA + `","siblings":[{"rfilename":"model.onnx","size":3,"lfs":{"sha256":"xyz","size":3}}]}`
			},
			msg: []string{"malformed sha256"},
		},
		{
			name:  "listing that is not JSON",
			setup: func(h *fakeHub, _ map[string]*fakeFile, r *fakeRepo) { r.rawListing = "<html>busy</html>" },
			msg:   []string{"unreadable listing"},
		},
		{
			name: "wrong sha256",
			setup: func(h *fakeHub, files map[string]*fakeFile, _ *fakeRepo) {
				f := files["onnx/model.onnx"]
				f.serve = slices.Clone(f.data)
				f.serve[1000] ^= 1
			},
			want: ErrIntegrity, msg: []string{"onnx/model.onnx", "sha256"},
		},
		{
			name: "truncated",
			setup: func(h *fakeHub, files map[string]*fakeFile, _ *fakeRepo) {
				f := files["onnx/model.onnx"]
				f.serve = f.data[:len(f.data)-10]
			},
			want: ErrIntegrity, msg: []string{"onnx/model.onnx", "bytes"},
		},
		{
			name: "small file of the wrong size",
			setup: func(h *fakeHub, files map[string]*fakeFile, _ *fakeRepo) {
				f := files["tokenizer.json"]
				f.serve = append(slices.Clone(f.data), '\n')
			},
			want: ErrIntegrity, msg: []string{"tokenizer.json", "larger"},
		},
		{
			name: "no ONNX export",
			setup: func(h *fakeHub, files map[string]*fakeFile, _ *fakeRepo) {
				for name := range files {
					if strings.HasSuffix(name, ".onnx") {
						delete(files, name)
					}
				}
			},
			want: ErrNoONNX, msg: []string{"no ONNX export", "optimum", "onnx/model.onnx"},
		},
		{
			name: "ONNX variant not in the repository",
			opts: func(o *Options) { o.ONNXFile = "onnx/model_O9.onnx" },
			want: ErrNoONNX, msg: []string{"onnx/model_O9.onnx", "onnx/model_qint8_avx512_vnni.onnx"},
		},
		{
			name: "no tokenizer",
			setup: func(h *fakeHub, files map[string]*fakeFile, _ *fakeRepo) {
				delete(files, "tokenizer.json")
				delete(files, "vocab.txt")
			},
			want: ErrNotFound, msg: []string{"tokenizer.json", "vocab.txt"},
		},
		{
			name:  "hub keeps failing",
			setup: func(h *fakeHub, _ map[string]*fakeFile, _ *fakeRepo) { h.fail["api"] = 100 },
			msg:   []string{"503", "4 attempts"},
		},
		{
			name:  "CDN keeps failing",
			setup: func(h *fakeHub, _ map[string]*fakeFile, _ *fakeRepo) { h.fail["onnx/model.onnx"] = 100 },
			msg:   []string{"503", "4 attempts", "/cdn/"},
		},
		{
			name:  "CDN keeps dropping the connection",
			setup: func(h *fakeHub, _ map[string]*fakeFile, _ *fakeRepo) { h.cut["onnx/model.onnx"], h.noRange = 100, true },
			msg:   []string{"4 attempts", "/cdn/"},
		},
		{
			name:   "invalid repository id",
			repoID: "../evil",
			want:   ErrInvalidName, noHits: true,
		},
		{
			name: "unsafe ONNX option",
			opts: func(o *Options) { o.ONNXFile = "../../model.onnx" },
			want: ErrInvalidName, noHits: true,
		},
		{
			name: "unsafe revision",
			opts: func(o *Options) { o.Revision = "../../main" },
			want: ErrInvalidName, noHits: true,
		},
		{
			name: "offline and not cached",
			opts: func(o *Options) { o.Offline = true },
			want: ErrNotCached, msg: []string{repoID, "offline"}, noHits: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newFakeHub(t)
			files := minilmFiles(2)
			r := h.addRepo(repoID, files)
			if tt.setup != nil {
				tt.setup(h, files, r)
			}
			opts := h.options(t)
			if tt.opts != nil {
				tt.opts(&opts)
			}
			id := cmpOrString(tt.repoID, repoID)
			_, err := download(t.Context(), id, opts, noEnv)
			if err == nil {
				t.Fatal("Download succeeded")
			}
			t.Log(err)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "X-Amz") {
				t.Errorf("error %q shows the CDN's signed query", err)
			}
			if strings.Contains(err.Error(), "hf_") {
				t.Errorf("error %q shows the token", err)
			}
			if tt.noHits && h.totalHits() != 0 {
				t.Errorf("%d requests, want none", h.totalHits())
			}
			checkNoSnapshot(t, opts.CacheDir)
			if _, err := os.Stat(filepath.Join(filepath.Dir(opts.CacheDir), "evil")); err == nil {
				t.Error("a file was written outside the cache")
			}
		})
	}
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestRetryTransient(t *testing.T) {
	h := newFakeHub(t)
	files := minilmFiles(3)
	h.addRepo(repoID, files)
	h.fail["api"] = 2
	h.fail["onnx/model.onnx"] = 1
	h.fail["tokenizer.json"] = 3
	s, err := download(t.Context(), repoID, h.options(t), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, files, defaultWant)
	if got := h.hitCount("api"); got != 3 {
		t.Errorf("%d listing requests, want 3", got)
	}
}

// TestResume drops the connection, then stalls it, halfway through the
// model: the download resumes where it stopped with a Range request, or
// starts over when the server ignores the Range.
func TestResume(t *testing.T) {
	for _, mode := range []string{"dropped", "stalled", "no range support"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newFakeHub(t)
			files := minilmFiles(4)
			h.addRepo(repoID, files)
			switch mode {
			case "dropped":
				h.cut["onnx/model.onnx"] = 1
			case "stalled":
				h.stall["onnx/model.onnx"] = true
			default:
				h.cut["onnx/model.onnx"] = 1
				h.noRange = true
			}
			s, err := download(t.Context(), repoID, h.options(t), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshot(t, s, files, defaultWant)
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.ranges) != 1 || h.ranges[0] == "bytes=0-" || !strings.HasPrefix(h.ranges[0], "bytes=") {
				t.Errorf("Range headers %q, want one resuming past byte 0", h.ranges)
			}
		})
	}
}

// TestFlakyLink drops the connection more often than one round of retries
// allows, each time further into the file: progress earns more attempts.
func TestFlakyLink(t *testing.T) {
	h := newFakeHub(t)
	files := minilmFiles(12)
	h.addRepo(repoID, files)
	h.cut["onnx/model.onnx"] = 3 * maxAttempts
	s, err := download(t.Context(), repoID, h.options(t), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, files, defaultWant)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ranges) != 3*maxAttempts {
		t.Errorf("%d resumed requests, want %d", len(h.ranges), 3*maxAttempts)
	}
}

func TestCancelMidDownload(t *testing.T) {
	h := newFakeHub(t)
	h.addRepo(repoID, minilmFiles(5))
	h.stall["onnx/model.onnx"] = true
	opts := h.options(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts.Progress = func(file string, done, total int64) {
		if file == "onnx/model.onnx" && done > 0 {
			cancel()
		}
	}
	start := time.Now()
	_, err := download(ctx, repoID, opts, noEnv)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Download = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > stallTimeout {
		t.Errorf("cancelled Download took %v", d)
	}
	checkNoSnapshot(t, opts.CacheDir)
}

// TestHubUnreachable checks that a cached model is served when the hub
// cannot be reached, and that an uncached one fails with the cause.
func TestHubUnreachable(t *testing.T) {
	h := newFakeHub(t)
	h.addRepo(repoID, minilmFiles(6))
	opts := h.options(t)
	s, err := download(t.Context(), repoID, opts, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	s2, err := download(t.Context(), repoID, opts, noEnv)
	if err != nil || s2.HubErr == nil {
		t.Errorf("Download with the hub down = %+v, %v; want the cached snapshot and why", s2, err)
	}
	if s2.HubErr = nil; s2 != s {
		t.Errorf("Download with the hub down = %+v, want the cached %+v", s2, s)
	}
	opts.CacheDir = t.TempDir()
	if _, err := download(t.Context(), repoID, opts, noEnv); err == nil || !strings.Contains(err.Error(), "attempts") {
		t.Errorf("uncached Download with the hub down = %v, want a network error after retries", err)
	}
}

// TestRevisions checks that a moved branch gets a new snapshot beside the
// old one and that a cached commit needs no network.
func TestRevisions(t *testing.T) {
	h := newFakeHub(t)
	filesA := minilmFiles(7)
	r := h.addRepo(repoID, filesA)
	opts := h.options(t)
	sA, err := download(t.Context(), repoID, opts, noEnv)
	if err != nil {
		t.Fatal(err)
	}

	filesB := minilmFiles(8)
	h.mu.Lock()
	r.files[commitB] = filesB
	r.refs["main"] = commitB
	r.refs["v1.0"] = commitA
	h.mu.Unlock()
	sB, err := download(t.Context(), repoID, opts, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if sB.Commit != commitB || sB.Dir == sA.Dir {
		t.Fatalf("after main moved, Download = %+v", sB)
	}
	checkSnapshot(t, sA, filesA, defaultWant)
	checkSnapshot(t, sB, filesB, defaultWant)

	// A tag of a cached commit: a listing request, no downloads.
	before := h.hitCount("resolve")
	tagged := opts
	tagged.Revision = "v1.0"
	if s, err := download(t.Context(), repoID, tagged, noEnv); err != nil || s != sA {
		t.Errorf("Download(v1.0) = %+v, %v; want %+v", s, err, sA)
	}
	if h.hitCount("resolve") != before {
		t.Error("Download(v1.0) downloaded files of a cached commit")
	}
	// A cached commit: no requests at all, and no ref written for it.
	before = h.totalHits()
	pinned := opts
	pinned.Revision = commitA
	if s, err := download(t.Context(), repoID, pinned, noEnv); err != nil || s != sA {
		t.Errorf("Download(commit) = %+v, %v; want %+v", s, err, sA)
	}
	if h.totalHits() != before {
		t.Error("Download of a cached commit made requests")
	}
	refs := snapshotFiles(t, filepath.Join(filepath.Dir(sA.Dir), "refs"))
	if !slices.Equal(refs, []string{"main", "v1.0"}) {
		t.Errorf("refs %q, want main and v1.0", refs)
	}
}

// TestConcurrentDownloads runs downloads of one model into one cache at
// once, as two processes starting together would: all succeed with the same
// snapshot.
func TestConcurrentDownloads(t *testing.T) {
	h := newFakeHub(t)
	files := minilmFiles(9)
	h.addRepo(repoID, files)
	opts := h.options(t)
	var wg sync.WaitGroup
	results := make([]Snapshot, 3)
	errs := make([]error, 3)
	for i := range results {
		o := opts
		if i == 2 {
			o.ONNXFile = "onnx/model_O4.onnx"
		}
		wg.Go(func() { results[i], errs[i] = download(t.Context(), repoID, o, noEnv) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		if results[i].Dir != results[0].Dir {
			t.Errorf("download %d went to %s, download 0 to %s", i, results[i].Dir, results[0].Dir)
		}
	}
	checkSnapshot(t, results[0], files, slices.Sorted(slices.Values(append(slices.Clone(defaultWant), "onnx/model_O4.onnx"))))
	checkNoSnapshot(t, filepath.Join(opts.CacheDir, "nothing-else"))
	entries, _ := os.ReadDir(filepath.Dir(results[0].Dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

// TestEnvironment checks the settings huggingface_hub reads from the
// environment: endpoint, token and cache.
func TestEnvironment(t *testing.T) {
	h := newFakeHub(t)
	files := minilmFiles(10)
	r := h.addRepo(repoID, files)
	r.gated = true
	cacheDir := t.TempDir()
	env := envMap(map[string]string{
		"HF_ENDPOINT":             h.srv.URL + "/",
		"HF_TOKEN":                h.token + "\n",
		"ARXIVSEARCH_MODEL_CACHE": cacheDir,
	})
	s, err := download(t.Context(), repoID, Options{HTTPClient: h.srv.Client()}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Dir, cacheDir) {
		t.Errorf("snapshot %s is not in ARXIVSEARCH_MODEL_CACHE %s", s.Dir, cacheDir)
	}
	checkSnapshot(t, s, files, defaultWant)

	// Options win over the environment.
	_, err = download(t.Context(), repoID, Options{HTTPClient: h.srv.Client(), Token: "hf_wrong", CacheDir: t.TempDir()}, env)
	if !errors.Is(err, ErrAccess) {
		t.Errorf("Download with Options.Token over HF_TOKEN = %v, want ErrAccess", err)
	}
	_, err = download(t.Context(), repoID, Options{Token: "hf_a b"}, env)
	if err == nil || strings.Contains(err.Error(), "hf_a") {
		t.Errorf("Download with a token with a space = %v, want an error that does not show it", err)
	}
	_, err = download(t.Context(), repoID, Options{Endpoint: "ftp://example.com"}, env)
	if err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Errorf("Download with an ftp endpoint = %v", err)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ARXIVSEARCH_MODEL_CACHE": "/models", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/models"},
		{map[string]string{"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/arxivsearch/models"},
		{map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "/home/u"}, "/home/u/.cache/arxivsearch/models"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.cache/arxivsearch/models"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		got, err := defaultCacheDir(envMap(tt.env))
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("defaultCacheDir(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// TestStaleTemp checks that a download removes the temporary directories of
// crashed downloads, but not those of a download in progress.
func TestStaleTemp(t *testing.T) {
	h := newFakeHub(t)
	h.addRepo(repoID, minilmFiles(11))
	opts := h.options(t)
	repoDir := filepath.Join(opts.CacheDir, "sentence-transformers--all-MiniLM-L6-v2")
	old, fresh := filepath.Join(repoDir, ".tmp-old"), filepath.Join(repoDir, ".tmp-fresh")
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "onnx"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if _, err := download(t.Context(), repoID, opts, noEnv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale %s not removed: %v", old, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh %s removed: %v", fresh, err)
	}
}

// TestDownloadExported checks the exported entry point, with settings that
// make it independent of the environment.
func TestDownloadExported(t *testing.T) {
	_, err := Download(t.Context(), repoID, Options{CacheDir: t.TempDir(), Offline: true})
	if !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Download into an empty cache = %v, want ErrNotCached", err)
	}
}
