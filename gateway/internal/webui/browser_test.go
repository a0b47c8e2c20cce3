package webui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/gatewaytest"
)

// setupHint says how to get what the browser test needs.
const setupHint = "install them with: apt-get install -y chromium && (cd gateway/internal/webui/e2e && npm ci)"

// TestBrowser runs e2e/webui.test.mjs in headless Chromium against a
// gateway holding testdata/papers.jsonl (real arXiv records plus two
// synthetic ones: an old-style id, and markup in the metadata). Screenshots
// go to $WEBUI_SCREENSHOT_DIR, or a directory under the system temp dir
// named in the log.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; " + setupHint)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no Chromium at %s (set CHROMIUM to another path); %s", chromium, setupHint)
	}
	if _, err := os.Stat("e2e/node_modules/playwright-core/package.json"); err != nil {
		t.Skip("e2e/node_modules lacks playwright-core; " + setupHint)
	}

	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.Ingest(t, loadPapers(t, "testdata/papers.jsonl"))

	shots := os.Getenv("WEBUI_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "arxivsearch-webui-e2e")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "webui.test.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "BASE_URL="+g.URL, "CHROMIUM="+chromium, "SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	t.Logf("screenshots: %s", shots)
}

// record is a line of the arXiv metadata snapshot format.
type record struct {
	ID         string `json:"id"`
	Authors    string `json:"authors"`
	Title      string `json:"title"`
	Categories string `json:"categories"`
	Abstract   string `json:"abstract"`
	UpdateDate string `json:"update_date"`
}

func loadPapers(t *testing.T, path string) []gatewaytest.Paper {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []gatewaytest.Paper
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var authors []string
		for _, a := range strings.Split(strings.ReplaceAll(r.Authors, " and ", ", "), ",") {
			if a = strings.TrimSpace(a); a != "" {
				authors = append(authors, a)
			}
		}
		out = append(out, gatewaytest.Paper{ID: r.ID, Title: r.Title, Abstract: r.Abstract, Authors: authors,
			Categories: strings.Fields(r.Categories), UpdateDate: r.UpdateDate})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
