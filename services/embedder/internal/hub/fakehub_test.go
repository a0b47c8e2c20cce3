package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Keep retries and stall detection fast; set before any test runs.
	retryBackoff = time.Millisecond
	stallTimeout = 500 * time.Millisecond
	os.Exit(m.Run())
}

// fakeHub emulates the hub's listing and resolve endpoints and a CDN that
// LFS files are redirected to, with knobs for the failures a real hub and
// network produce.
type fakeHub struct {
	srv   *httptest.Server
	token string // the token gated repositories accept

	mu     sync.Mutex
	repos  map[string]*fakeRepo // by "org/name"
	hits   map[string]int       // by endpoint: "api", "resolve", "cdn"
	auth   []string             // Authorization headers received
	ranges []string             // Range headers of content requests
	fail   map[string]int       // 503s to answer first, by "api" or file name
	cut    map[string]int       // files to serve half of and drop, how many times
	stall  map[string]bool      // files to serve half of and go silent, once
	// noRange makes the server ignore Range headers, as some proxies do.
	noRange bool
}

type fakeRepo struct {
	refs  map[string]string // branch or tag → commit
	files map[string]map[string]*fakeFile
	gated bool
	// extra names are listed without being served: a hostile listing.
	extra []string
	// rawListing, when set, is served as the listing instead of the files'.
	rawListing string
}

type fakeFile struct {
	data  []byte
	lfs   bool
	serve []byte // served instead of data when non-nil: a corrupt server
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{
		token: "hf_secret",
		repos: map[string]*fakeRepo{},
		hits:  map[string]int{},
		fail:  map[string]int{},
		cut:   map[string]int{},
		stall: map[string]bool{},
	}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

// options points Download at the fake hub and a fresh cache.
func (h *fakeHub) options(t *testing.T) Options {
	return Options{Endpoint: h.srv.URL, CacheDir: t.TempDir(), HTTPClient: h.srv.Client()}
}

func (h *fakeHub) hitCount(endpoint string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[endpoint]
}

func (h *fakeHub) totalHits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, v := range h.hits {
		n += v
	}
	return n
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/models/"):
		h.serveListing(w, r, strings.TrimPrefix(p, "/api/models/"))
	case strings.HasPrefix(p, "/cdn/"):
		h.serveCDN(w, r, strings.TrimPrefix(p, "/cdn/"))
	default:
		h.serveResolve(w, r, strings.TrimPrefix(p, "/"))
	}
}

// lookupRepo finds a repository and checks access as the hub does: 404
// RepoNotFound, 401 GatedRepo without the right token.
func (h *fakeHub) lookupRepo(w http.ResponseWriter, r *http.Request, id string) (*fakeRepo, bool) {
	repo := h.repos[id]
	if repo == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return nil, false
	}
	if repo.gated {
		switch r.Header.Get("Authorization") {
		case "Bearer " + h.token:
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted.")
			return nil, false
		default:
			hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
			return nil, false
		}
	}
	return repo, true
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, `{"error":"`+msg+`"}`, status)
}

// failing answers 503 while key has failures left.
func (h *fakeHub) failing(w http.ResponseWriter, key string) bool {
	if h.fail[key] > 0 {
		h.fail[key]--
		http.Error(w, "upstream busy", http.StatusServiceUnavailable)
		return true
	}
	return false
}

func (h *fakeHub) serveListing(w http.ResponseWriter, r *http.Request, rest string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hits["api"]++
	if h.failing(w, "api") {
		return
	}
	id, rev, ok := strings.Cut(rest, "/revision/")
	if !ok || r.URL.Query().Get("blobs") != "true" {
		http.NotFound(w, r)
		return
	}
	repo, ok := h.lookupRepo(w, r, id)
	if !ok {
		return
	}
	if repo.rawListing != "" {
		w.Write([]byte(repo.rawListing))
		return
	}
	commit := repo.commit(rev)
	if commit == "" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	type lfsInfo struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string   `json:"rfilename"`
		BlobID    string   `json:"blobId"`
		Size      int      `json:"size"`
		LFS       *lfsInfo `json:"lfs,omitempty"`
	}
	var sibs []sibling
	for _, name := range sortedKeys(repo.files[commit]) {
		f := repo.files[commit][name]
		s := sibling{RFilename: name, BlobID: strings.Repeat("b", 40), Size: len(f.data)}
		if f.lfs {
			sum := sha256.Sum256(f.data)
			s.LFS = &lfsInfo{SHA256: hex.EncodeToString(sum[:]), Size: len(f.data), PointerSize: 134}
		}
		sibs = append(sibs, s)
	}
	for _, name := range repo.extra {
		sibs = append(sibs, sibling{RFilename: name, BlobID: strings.Repeat("c", 40), Size: 4})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"_id": "0123", "id": id, "modelId": id, "private": false, "gated": repo.gated,
		"sha": commit, "library_name": "sentence-transformers", "siblings": sibs,
	})
}

// serveResolve serves /{org}/{name}/resolve/{commit}/{file}: small files
// directly, LFS files by a redirect to the CDN, as the hub does. It accepts
// commits only, since Download must never mix files of two commits.
func (h *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	id, commit, name := parts[0]+"/"+parts[1], parts[3], parts[4]
	h.mu.Lock()
	h.hits["resolve"]++
	repo, ok := h.lookupRepo(w, r, id)
	if !ok {
		h.mu.Unlock()
		return
	}
	if repo.files[commit] == nil {
		h.mu.Unlock()
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+commit)
		return
	}
	f := repo.files[commit][name]
	if f == nil {
		h.mu.Unlock()
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if f.lfs {
		h.mu.Unlock()
		w.Header().Set("X-Linked-Size", "0")
		http.Redirect(w, r, "/cdn/"+id+"/"+commit+"/"+name+"?X-Amz-Signature=sig", http.StatusFound)
		return
	}
	h.serveContent(w, r, name, f) // unlocks
}

// serveCDN serves /cdn/{org}/{name}/{commit}/{file}, where LFS files live.
func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 4)
	h.mu.Lock()
	h.hits["cdn"]++
	var f *fakeFile
	if len(parts) == 4 && h.repos[parts[0]+"/"+parts[1]] != nil {
		f = h.repos[parts[0]+"/"+parts[1]].files[parts[2]][parts[3]]
	}
	if f == nil || r.URL.Query().Get("X-Amz-Signature") == "" {
		h.mu.Unlock()
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	h.serveContent(w, r, parts[3], f)
}

// serveContent serves a file with Range support, or fails as configured.
// It is called with h.mu held and unlocks it.
func (h *fakeHub) serveContent(w http.ResponseWriter, r *http.Request, name string, f *fakeFile) {
	if h.failing(w, name) {
		h.mu.Unlock()
		return
	}
	if rg := r.Header.Get("Range"); rg != "" {
		h.ranges = append(h.ranges, rg)
	}
	data := f.data
	if f.serve != nil {
		data = f.serve
	}
	cut, stall, noRange := h.cut[name] > 0, h.stall[name], h.noRange
	h.cut[name]--
	delete(h.stall, name)
	h.mu.Unlock()
	if cut || stall {
		// Send half of what was asked for, then fail.
		status, start := http.StatusOK, 0
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err == nil && !noRange && start < len(data) {
			status = http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		} else {
			start = 0
		}
		rest := data[start:]
		w.Header().Set("Content-Length", strconv.Itoa(len(rest)))
		w.WriteHeader(status)
		w.Write(rest[:len(rest)/2])
		w.(http.Flusher).Flush()
		if cut {
			panic(http.ErrAbortHandler) // drops the connection
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	if noRange {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func (r *fakeRepo) commit(rev string) string {
	if _, ok := r.files[rev]; ok {
		return rev
	}
	return r.refs[rev]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Commits of the test repositories.
var (
	commitA = strings.Repeat("a1", 20)
	commitB = strings.Repeat("b2", 20)
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// minilmFiles is a synthetic repository laid out like
// sentence-transformers/all-MiniLM-L6-v2: ONNX exports under onnx/, other
// frameworks' weights, tokenizer and configuration files.
func minilmFiles(seed uint64) map[string]*fakeFile {
	text := func(s string) *fakeFile { return &fakeFile{data: []byte(s)} }
	lfs := func(n int) *fakeFile { seed++; return &fakeFile{data: randomBytes(seed, n), lfs: true} }
	return map[string]*fakeFile{
		".gitattributes":                    text("*.onnx filter=lfs diff=lfs merge=lfs -text\n"),
		"README.md":                         text("# all-MiniLM-L6-v2\n"),
		"1_Pooling/config.json":             text(`{"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true}`),
		"config.json":                       text(`{"model_type": "bert", "hidden_size": 384}`),
		"config_sentence_transformers.json": text(`{"__version__": {"sentence_transformers": "2.0.0"}}`),
		"modules.json":                      text(`[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]`),
		"sentence_bert_config.json":         text(`{"max_seq_length": 256, "do_lower_case": false}`),
		"special_tokens_map.json":           text(`{"unk_token": "[UNK]"}`),
		"tokenizer.json":                    text(`{"version": "1.0", "model": {"type": "WordPiece"}}`),
		"tokenizer_config.json":             text(`{"do_lower_case": true, "model_max_length": 512}`),
		"vocab.txt":                         text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n"),
		"data_config.json":                  text(`[]`),
		"onnx/model.onnx":                   lfs(700 << 10),
		"onnx/model_O4.onnx":                lfs(3000),
		"onnx/model_qint8_avx512_vnni.onnx": lfs(2000),
		"openvino/openvino_model.xml":       text("<net/>"),
		"openvino/openvino_model.bin":       lfs(1000),
		"model.safetensors":                 lfs(1500),
		"pytorch_model.bin":                 lfs(1500),
		"rust_model.ot":                     lfs(1500),
		"tf_model.h5":                       lfs(1500),
	}
}

// defaultWant is what Download fetches of minilmFiles by default.
var defaultWant = []string{
	"1_Pooling/config.json", "config.json", "config_sentence_transformers.json",
	"modules.json", "onnx/model.onnx", "sentence_bert_config.json",
	"special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
}

// addRepo adds a repository whose main branch is commitA with files.
func (h *fakeHub) addRepo(id string, files map[string]*fakeFile) *fakeRepo {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &fakeRepo{refs: map[string]string{"main": commitA}, files: map[string]map[string]*fakeFile{commitA: files}}
	h.repos[id] = r
	return r
}
