package monitoring

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := settings.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDashboardQueries: every dashboard parses, every query goes to a
// provisioned Prometheus data source and names at least one metric. That
// the metrics are exported is checked against running services in
// TestStackMetrics.
func TestDashboardQueries(t *testing.T) {
	r := root(t)
	sources, err := LoadDatasources(filepath.Join(r, DatasourcesConfig))
	if err != nil {
		t.Fatal(err)
	}
	promUIDs := map[string]bool{}
	for _, s := range sources {
		if s.Type == "prometheus" {
			promUIDs[s.UID] = true
		}
	}
	files, err := DashboardFiles(filepath.Join(r, DashboardDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		d, err := LoadDashboard(f)
		if err != nil {
			t.Fatal(err)
		}
		qs := d.Queries()
		if len(qs) < 10 {
			t.Errorf("%s: only %d queries", f, len(qs))
		}
		for _, q := range qs {
			if q.Datasource.Type != "prometheus" || !promUIDs[q.Datasource.UID] {
				t.Errorf("%s: panel %q query %s: data source %+v is not a provisioned Prometheus", f, q.Panel, q.RefID, q.Datasource)
			}
			names, err := MetricNames(q.Expr)
			if err != nil || len(names) == 0 {
				t.Errorf("%s: panel %q query %s: metric names %v, %v", f, q.Panel, q.RefID, names, err)
			}
		}
	}
}

// TestDashboardCoversTheIssue: the panels the deployment promised exist.
func TestDashboardCoversTheIssue(t *testing.T) {
	d, err := LoadDashboard(filepath.Join(root(t), DashboardDir, "arxivsearch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, q := range d.Queries() {
		exprs = append(exprs, q.Expr)
	}
	all := strings.Join(exprs, "\n")
	for what, metric := range map[string]string{
		"request rate":          "http_requests_total",
		"latency percentiles":   "http_request_duration_seconds_bucket",
		"embed batch sizes":     "arxivsearch_embedder_batch_size_bucket",
		"queue depth":           "arxivsearch_embedder_queue_depth",
		"index search latency":  "index_search_seconds_bucket",
		"shard sizes":           "index_shard_indexed_vectors",
		"targets up":            "up{",
		"gRPC errors":           "grpc_server_handled_total",
		"gateway queue":         "gateway_requests_queued",
		"embedder rejections":   "arxivsearch_embedder_rejected_texts_total",
		"errors per route code": `code=~"[45].."`,
	} {
		if !strings.Contains(all, metric) {
			t.Errorf("no panel shows %s (%s)", what, metric)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadDashboard(write("bad.json", `{"uid": "x", "title": "t", "panels": [`)); err == nil {
		t.Error("truncated dashboard JSON loaded")
	}
	if _, err := LoadDashboard(write("nouid.json", `{"title": "t", "panels": []}`)); err == nil {
		t.Error("dashboard without uid loaded")
	}
	if _, err := LoadDatasources(write("ds.yaml", "apiVersion: 1\ndatasources: []\n")); err == nil {
		t.Error("provisioning without data sources loaded")
	}
	if _, err := LoadDashboardProviderPaths(write("dp.yaml", "apiVersion: 1\nproviders:\n  - type: file\n")); err == nil {
		t.Error("dashboard provider without a path loaded")
	}
	if _, err := DashboardFiles(t.TempDir()); err == nil {
		t.Error("an empty dashboard directory was accepted")
	}
}

func TestScrapeConfigRender(t *testing.T) {
	c, err := LoadScrapeConfig(filepath.Join(root(t), PrometheusConfig))
	if err != nil {
		t.Fatal(err)
	}
	targets := c.Targets()
	for _, want := range []string{"embedder:9101", "embedder-gpu:9101", "index-a:9102", "index-b:9102", "gateway:8080"} {
		if _, ok := targets[want]; !ok {
			t.Errorf("targets %v lack %s", targets, want)
		}
	}
	addrs := map[string]string{"embedder:9101": "127.0.0.1:1", "index-a:9102": "127.0.0.1:2", "index-b:9102": "127.0.0.1:3", "gateway:8080": "127.0.0.1:4"}
	out, err := c.Render(addrs, "1s")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseScrapeConfig(out)
	if err != nil {
		t.Fatalf("rendered config does not parse: %v\n%s", err, out)
	}
	got := r.Targets()
	for from, to := range addrs {
		if got[to] != targets[from] {
			t.Errorf("rendered target %s (was %s) in job %q, want %q", to, from, got[to], targets[from])
		}
	}
	if len(got) != len(addrs) {
		t.Errorf("rendered targets %v: the DNS target of a service that is not running must be dropped", got)
	}
	if !strings.Contains(string(out), "scrape_interval: 1s") {
		t.Errorf("rendered config keeps its scrape interval:\n%s", out)
	}
	delete(addrs, "gateway:8080")
	if _, err := c.Render(addrs, "1s"); err == nil {
		t.Error("Render without an address for a static target succeeded")
	}
	if _, err := ParseScrapeConfig([]byte("global: {}\n")); err == nil {
		t.Error("a config without scrape_configs parsed")
	}
	if _, err := ParseScrapeConfig([]byte("scrape_configs:\n  - job_name: x\n    dns_sd_configs:\n      - names: [a]\n        type: SRV\n")); err == nil {
		t.Error("an SRV lookup without a port parsed")
	}
	if !slices.Contains([]string{"embedder", "index", "gateway"}, targets["gateway:8080"]) {
		t.Errorf("gateway target in job %q", targets["gateway:8080"])
	}
}
