package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the hub's address when neither Options.Endpoint nor
// HF_ENDPOINT gives another (a mirror, or a test server).
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the branch downloaded when Options.Revision is empty.
const DefaultRevision = "main"

// Options configure Download. The zero value downloads the main branch of a
// public repository from huggingface.co into the default cache, taking the
// settings huggingface_hub takes from the environment from it too.
type Options struct {
	// Endpoint is the hub's base URL; default $HF_ENDPOINT, else
	// DefaultEndpoint.
	Endpoint string
	// Token is an access token for gated and private repositories; default
	// $HF_TOKEN. It is sent to the hub only, never logged or put in errors.
	Token string
	// CacheDir is the cache root; default DefaultCacheDir().
	CacheDir string
	// Revision is a branch, tag or commit hash; default DefaultRevision.
	Revision string
	// ONNXFile is the repository path of the ONNX model, such as
	// "onnx/model_qint8_avx512_vnni.onnx"; default onnx/model.onnx, else
	// model.onnx.
	ONNXFile string
	// Offline resolves the model from the cache alone, as does
	// HF_HUB_OFFLINE=1.
	Offline bool
	// HTTPClient makes the requests; default http.DefaultClient. Its Timeout
	// should be zero or long enough for the largest file: stalled transfers
	// are detected and resumed anyway.
	HTTPClient *http.Client
	// Progress, when set, is called as a file downloads with the bytes done
	// so far and the file's size, from the goroutine that called Download.
	// Files already in the cache are not reported; done goes back to zero
	// when a download restarts because a server would not resume it.
	Progress func(file string, done, total int64)
}

// Snapshot is a model in the cache.
type Snapshot struct {
	Dir      string // the model directory: the files at their repository paths
	Commit   string // the commit the files come from
	ONNXFile string // the ONNX model's path relative to Dir, slash-separated
	// HubErr is why the hub could not be asked when the cache answered in
	// its place, perhaps with an older commit than the revision names now:
	// worth a warning. It is nil when the hub was asked, or in offline mode.
	HubErr error
}

// Download makes sure the cache holds the files the embedder needs of
// repository repoID ("org/name") at opts.Revision and returns where they
// are. A commit already cached costs one listing request and no downloads;
// in offline mode, or when the hub cannot be reached, the cache answers
// alone (see Snapshot.HubErr). Cancelling ctx stops the download and leaves
// no partial snapshot.
func Download(ctx context.Context, repoID string, opts Options) (Snapshot, error) {
	return download(ctx, repoID, opts, os.Getenv)
}

// DefaultCacheDir is the cache root used when Options.CacheDir is empty:
// $ARXIVSEARCH_MODEL_CACHE, else $XDG_CACHE_HOME/arxivsearch/models, else
// ~/.cache/arxivsearch/models.
func DefaultCacheDir() (string, error) {
	return defaultCacheDir(os.Getenv)
}

func defaultCacheDir(getenv func(string) string) (string, error) {
	if dir := getenv("ARXIVSEARCH_MODEL_CACHE"); dir != "" {
		return dir, nil
	}
	// The XDG spec says to ignore a relative XDG_CACHE_HOME.
	if dir := getenv("XDG_CACHE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "arxivsearch", "models"), nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".cache", "arxivsearch", "models"), nil
	}
	return "", errors.New("hub: no cache directory: set ARXIVSEARCH_MODEL_CACHE, XDG_CACHE_HOME or HOME")
}

// download is Download with the environment passed in, so that tests do not
// depend on the HF_* variables of whoever runs them.
func download(ctx context.Context, repoID string, opts Options, getenv func(string) string) (Snapshot, error) {
	org, name, err := ParseRepoID(repoID)
	if err != nil {
		return Snapshot{}, err
	}
	rev := cmp.Or(opts.Revision, DefaultRevision)
	if err := checkRevision(rev); err != nil {
		return Snapshot{}, err
	}
	if f := opts.ONNXFile; f != "" {
		if err := checkRelPath(f); err != nil || path.Ext(f) != ".onnx" {
			return Snapshot{}, fmt.Errorf("hub: ONNX file %q: want a repository path ending in .onnx: %w", f, ErrInvalidName)
		}
	}
	root := opts.CacheDir
	if root == "" {
		if root, err = defaultCacheDir(getenv); err != nil {
			return Snapshot{}, err
		}
	}
	if root, err = filepath.Abs(root); err != nil {
		return Snapshot{}, fmt.Errorf("hub: %w", err)
	}
	c := newCache(root, org, name)

	if opts.Offline || isTrue(getenv("HF_HUB_OFFLINE")) {
		s, err := c.lookup(repoID, rev, opts.ONNXFile)
		if errors.Is(err, ErrNotCached) {
			err = fmt.Errorf("%w; offline mode is on (Offline option or HF_HUB_OFFLINE): download it once online", err)
		}
		return s, err
	}
	// A commit never changes, so a cached one needs no network at all.
	if isCommit(rev) {
		if s, err := c.lookup(repoID, rev, opts.ONNXFile); err == nil {
			return s, nil
		}
	}
	cl, err := newClient(opts, getenv)
	if err != nil {
		return Snapshot{}, err
	}
	s, err := fetchSnapshot(ctx, cl, c, repoID, rev, opts)
	var t *transientError
	if errors.As(err, &t) && ctx.Err() == nil {
		// The hub is down or unreachable: serve what the cache has, as
		// huggingface_hub does, rather than refuse to start.
		if s, cerr := c.lookup(repoID, rev, opts.ONNXFile); cerr == nil {
			s.HubErr = err
			return s, nil
		}
	}
	return s, err
}

func newClient(opts Options, getenv func(string) string) (*client, error) {
	endpoint := strings.TrimRight(cmp.Or(opts.Endpoint, getenv("HF_ENDPOINT"), DefaultEndpoint), "/")
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("hub: endpoint %q: want an http or https URL", endpoint)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	// A token pasted from a file often ends in a newline; anything else
	// that cannot go in a header is refused here, naming the token's
	// source but not the token.
	token := strings.TrimSpace(cmp.Or(opts.Token, getenv("HF_TOKEN")))
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return nil, errors.New("hub: the token (Options.Token or HF_TOKEN) contains spaces or control characters")
	}
	return &client{endpoint: endpoint, host: u.Host, token: token, http: hc}, nil
}

// fetchSnapshot resolves rev on the hub and downloads what the cache lacks
// of its commit.
func fetchSnapshot(ctx context.Context, cl *client, c cache, repoID, rev string, opts Options) (Snapshot, error) {
	commit, all, err := cl.revision(ctx, repoID, rev)
	if err != nil {
		return Snapshot{}, err
	}
	files, onnx, err := selectFiles(repoID, all, opts.ONNXFile)
	if err != nil {
		return Snapshot{}, err
	}
	if todo := c.missing(commit, files); len(todo) > 0 {
		tmp, err := c.tempDir()
		if err != nil {
			return Snapshot{}, err
		}
		defer os.RemoveAll(tmp) // gone already when renamed into place
		for _, f := range todo {
			dst := filepath.Join(tmp, filepath.FromSlash(f.name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return Snapshot{}, fmt.Errorf("hub: %w", err)
			}
			if err := cl.fetch(ctx, repoID, commit, f, dst, opts.Progress); err != nil {
				return Snapshot{}, err
			}
		}
		if err := c.install(tmp, commit, todo); err != nil {
			return Snapshot{}, err
		}
	}
	if err := c.writeRef(rev, commit); err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Dir: c.snapshot(commit), Commit: commit, ONNXFile: onnx}, nil
}

// isTrue reads a boolean environment variable the way huggingface_hub does.
func isTrue(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}
