package monitoring

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	"github.com/arxivsearch/arxivsearch/deploy/internal/stack"
	"github.com/arxivsearch/arxivsearch/platform/daemontest"
	"github.com/compose-spec/compose-go/v2/types"
)

// packages builds each program the compose services run.
var packages = map[string]string{
	"embedder":    "./services/embedder/cmd/embedder",
	"index":       "./services/index/cmd/index",
	"gateway":     "./gateway/cmd/gateway",
	"arxivsearch": "./pipeline/cmd/arxivsearch",
	"healthprobe": "./platform/cmd/healthprobe",
}

// client bounds every HTTP call, so a hung service fails the test rather
// than running into go test's timeout.
var client = &http.Client{Timeout: 30 * time.Second}

// synthetic are series Prometheus makes itself for every target.
var synthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added", "scrape_samples_post_metric_relabeling"}

// TestStackMetrics runs docker-compose.yaml's services as local processes
// (no Docker): each gets the environment its image and the compose file
// give it, with container addresses and paths rewritten to free loopback
// ports, temporary volumes and the repository files the image copies. It
// waits for each with its image's own HEALTHCHECK command, runs the
// one-shot index job with its compose command, searches, then checks that
// every metric the Grafana dashboard queries is exported and that a real
// Prometheus, configured from deploy/prometheus/prometheus.yml, scrapes
// every service and answers every dashboard query.
//
// Without ONNX Runtime or the prometheus binary (make setup installs both)
// it skips, unless CI=true, where it fails.
func TestStackMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every service and Prometheus; skipped in -short mode")
	}
	began := time.Now()
	r := root(t)
	ortLib, err := daemontest.ONNXRuntimeLib(r)
	if err != nil {
		unavailable(t, "%v (run make setup)", err)
	}
	s, err := stack.Load(context.Background(), stack.ComposeFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s, root: r, ortLib: ortLib, addrs: map[string]string{},
		volumes: map[string]string{}, procs: map[string]*daemontest.Proc{}, envs: map[string][]string{}}
	h.bin = buildPrograms(t)
	t.Logf("built the programs in %v", time.Since(began).Round(time.Millisecond))

	daemons, job := h.services()
	h.allocate(daemons)
	h.startInOrder(daemons)
	t.Logf("services healthy in %v", time.Since(began).Round(time.Millisecond))

	var prom *prometheus
	promBin, promErr := findTool(r, "prometheus")
	if promErr == nil {
		prom = h.startPrometheus(promBin, daemons)
	}

	papers := h.runJob(job)
	searches := h.traffic()
	t.Logf("indexed %d papers and searched %d times by %v", papers, searches, time.Since(began).Round(time.Millisecond))

	dash, err := LoadDashboard(filepath.Join(r, DashboardDir, "arxivsearch.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("dashboard metrics are exported", func(t *testing.T) {
		exported := map[string]bool{}
		for _, svc := range daemons {
			for _, n := range h.scrape(t, svc) {
				exported[n] = true
			}
		}
		for _, q := range dash.Queries() {
			names, err := MetricNames(q.Expr)
			if err != nil {
				t.Error(err)
			}
			for _, n := range names {
				if !exported[n] && !slices.Contains(synthetic, n) {
					t.Errorf("panel %q query %s uses %s, which no service exports", q.Panel, q.RefID, n)
				}
			}
		}
	})
	t.Run("prometheus scrapes the services", func(t *testing.T) {
		if prom == nil {
			unavailable(t, "%v; make test puts it in third_party/prometheus (make setup with SETUP_PROMETHEUS_TEST=1)", promErr)
		}
		prom.checkTargets(t, len(daemons))
		prom.checkKeyMetrics(t, papers, searches)
		prom.checkDashboard(t, dash)
	})
	t.Logf("done in %v", time.Since(began).Round(time.Millisecond))
}

// findTool finds a Prometheus program: on PATH, else where make setup
// puts it (third_party/prometheus/bin, taken from Debian's package).
func findTool(root, name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(root, "third_party", "prometheus", "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is neither on PATH nor at %s", name, p)
	}
	return p, nil
}

// unavailable skips for a missing tool, or fails in CI where make test
// installs everything.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: required)", args...)
	}
	t.Skipf(format, args...)
}

func buildPrograms(t *testing.T) string {
	t.Helper()
	var pkgs []string
	for _, pkg := range packages {
		pkgs = append(pkgs, pkg)
	}
	// Sorted, so that the set is built once per test binary.
	slices.Sort(pkgs)
	return daemontest.Build(t, pkgs...)
}

type harness struct {
	t       *testing.T
	s       *stack.Stack
	root    string
	bin     string
	ortLib  string
	addrs   map[string]string // "service:container port" -> loopback address
	volumes map[string]string // named volume -> temporary directory
	procs   map[string]*daemontest.Proc
	envs    map[string][]string // service -> process environment, made once
}

// services returns the enabled services that run a daemon, and the one
// running the pipeline job.
func (h *harness) services() (daemons []types.ServiceConfig, job types.ServiceConfig) {
	for _, svc := range h.s.AllServices() {
		if !h.s.Enabled(svc.Name) {
			continue
		}
		prog, err := h.s.Program(svc)
		if err != nil {
			h.t.Fatal(err)
		}
		switch {
		case slices.Contains(settings.Daemons, prog):
			daemons = append(daemons, svc)
		case prog == "arxivsearch":
			job = svc
		}
	}
	if len(daemons) < 4 || job.Name == "" {
		h.t.Fatalf("want the embedder, index instances, gateway and the index job; have %d daemons, job %q", len(daemons), job.Name)
	}
	return daemons, job
}

// allocate gives every listen port of every daemon service a free
// loopback address.
func (h *harness) allocate(daemons []types.ServiceConfig) {
	for _, svc := range daemons {
		d, _ := h.s.Daemon(svc)
		for _, flag := range stack.ListenFlags[d] {
			port, err := h.s.ListenPort(svc, flag)
			if err != nil {
				h.t.Fatal(err)
			}
			h.addrs[net.JoinHostPort(svc.Name, port)] = daemontest.FreeAddr(h.t)
		}
	}
}

// volumeDir is the temporary directory standing for a named volume.
func (h *harness) volumeDir(name string) string {
	if d, ok := h.volumes[name]; ok {
		return d
	}
	d := filepath.Join(h.t.TempDir(), name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		h.t.Fatal(err)
	}
	h.volumes[name] = d
	return d
}

// localPath maps a path inside a service's container to this machine:
// through its volumes, then through the files its image copies from the
// repository.
func (h *harness) localPath(svc types.ServiceConfig, key, p string) (string, error) {
	best := ""
	var local string
	for _, v := range svc.Volumes {
		if p != v.Target && !strings.HasPrefix(p, strings.TrimSuffix(v.Target, "/")+"/") || len(v.Target) <= len(best) {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, v.Target), "/")
		switch v.Type {
		case types.VolumeTypeVolume:
			best, local = v.Target, filepath.Join(h.volumeDir(v.Source), rel)
		case types.VolumeTypeBind:
			best, local = v.Target, filepath.Join(v.Source, rel)
		}
	}
	if best != "" {
		return local, nil
	}
	copies, err := h.s.Dockerfile.ContextCopies(stack.Target(svc))
	if err != nil {
		return "", err
	}
	for _, c := range copies {
		if len(c.Sources) == 1 && (p == c.Dest || strings.HasPrefix(p, strings.TrimSuffix(c.Dest, "/")+"/")) {
			return filepath.Join(h.root, c.Sources[0], strings.TrimPrefix(p, c.Dest)), nil
		}
	}
	// The image's own ONNX Runtime is the one make setup installs here.
	if strings.HasSuffix(key, "_ONNXRUNTIME_LIB") {
		return h.ortLib, nil
	}
	return "", fmt.Errorf("service %s: no local counterpart of %s (%s)", svc.Name, p, key)
}

// rewrite maps one value a service is configured with; keep is false
// when it names a service this test does not run (the trace backend).
func (h *harness) rewrite(svc types.ServiceConfig, key, value string) (string, bool) {
	if strings.HasPrefix(value, "/") {
		p, err := h.localPath(svc, key, value)
		if err != nil {
			h.t.Fatal(err)
		}
		return p, true
	}
	parts := strings.Split(value, ",")
	for i, part := range parts {
		host, _, err := net.SplitHostPort(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if _, isService := h.s.Service(host); !isService {
			continue
		}
		local, ok := h.addrs[strings.TrimSpace(part)]
		if !ok {
			h.t.Logf("service %s: %s=%s names a service this test does not run; unset", svc.Name, key, value)
			return "", false
		}
		parts[i] = local
	}
	return strings.Join(parts, ","), true
}

// env is a daemon service's process environment.
func (h *harness) env(svc types.ServiceConfig) []string {
	if env, ok := h.envs[svc.Name]; ok {
		return env
	}
	d, _ := h.s.Daemon(svc)
	vars, err := h.s.Env(svc)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range vars {
		if nv, keep := h.rewrite(svc, k, v); keep {
			out[k] = nv
		}
	}
	// Every listen address goes to loopback, set or defaulted.
	for _, flag := range stack.ListenFlags[d] {
		set, _ := h.s.Settings.Flag(d, flag)
		port, _ := h.s.ListenPort(svc, flag)
		out[set.Env] = h.addrs[net.JoinHostPort(svc.Name, port)]
	}
	var env []string
	for _, kv := range os.Environ() {
		if settings.DaemonOfEnv(kv) == "" {
			env = append(env, kv)
		}
	}
	for k, v := range out {
		env = append(env, k+"="+v)
	}
	env = append(env, "PATH="+h.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	h.envs[svc.Name] = env
	return env
}

// startInOrder starts the daemons, each once the services it depends on
// are healthy, and waits for each with its image's HEALTHCHECK.
func (h *harness) startInOrder(daemons []types.ServiceConfig) {
	healthy := map[string]bool{}
	for len(healthy) < len(daemons) {
		var batch []types.ServiceConfig
		for _, svc := range daemons {
			if healthy[svc.Name] {
				continue
			}
			ready := true
			for dep := range svc.DependsOn {
				if slices.ContainsFunc(daemons, func(d types.ServiceConfig) bool { return d.Name == dep }) && !healthy[dep] {
					ready = false
				}
			}
			if ready {
				batch = append(batch, svc)
			}
		}
		if len(batch) == 0 {
			h.t.Fatal("the daemons' depends_on form a cycle")
		}
		for _, svc := range batch {
			prog, _ := h.s.Program(svc)
			h.procs[svc.Name] = daemontest.Start(h.t, svc.Name, filepath.Join(h.bin, prog), h.env(svc))
		}
		for _, svc := range batch {
			h.waitHealthy(svc, 2*time.Minute)
			healthy[svc.Name] = true
		}
	}
}

// waitHealthy runs the image's HEALTHCHECK command, as Docker would, until
// it succeeds.
func (h *harness) waitHealthy(svc types.ServiceConfig, within time.Duration) {
	hc, err := h.s.Dockerfile.Healthcheck(stack.Target(svc))
	if err != nil || hc == nil || hc.None {
		h.t.Fatalf("service %s: no HEALTHCHECK (%v)", svc.Name, err)
	}
	argv := hc.Exec
	if hc.Shell != "" {
		argv = []string{"/bin/sh", "-c", hc.Shell}
	}
	env := h.env(svc)
	deadline := time.Now().Add(within)
	var out []byte
	for time.Now().Before(deadline) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		if out, err = cmd.CombinedOutput(); err == nil {
			return
		}
		select {
		case <-h.procs[svc.Name].Done():
			h.t.Fatalf("service %s exited while starting", svc.Name)
		case <-time.After(200 * time.Millisecond):
		}
	}
	h.t.Fatalf("service %s: HEALTHCHECK %q still fails after %v: %v %s", svc.Name, argv, within, err, out)
}

var indexedRE = regexp.MustCompile(`indexed (\d+) papers`)

// runJob runs the one-shot service's compose command to completion and
// returns how many papers it indexed.
func (h *harness) runJob(job types.ServiceConfig) int {
	prog, _ := h.s.Program(job)
	var args []string
	for _, a := range job.Command {
		v, keep := h.rewrite(job, "", a)
		if !keep {
			h.t.Fatalf("service %s: argument %q names a service that is not running", job.Name, a)
		}
		args = append(args, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, prog), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("service %s: %s %q: %v\n%s", job.Name, prog, args, err, out)
	}
	m := indexedRE.FindSubmatch(out)
	if m == nil {
		h.t.Fatalf("service %s: no count of indexed papers in its output:\n%s", job.Name, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if n == 0 {
		h.t.Fatalf("service %s indexed no papers:\n%s", job.Name, out)
	}
	return n
}

// gatewayURL is the gateway's HTTP base URL on this machine.
func (h *harness) gatewayURL() string {
	gws, _ := h.s.DaemonServices("gateway")
	port, err := h.s.ListenPort(gws[0], "http-listen")
	if err != nil {
		h.t.Fatal(err)
	}
	return "http://" + h.addrs[net.JoinHostPort(gws[0].Name, port)]
}

// traffic searches in every mode, asks for similar papers and sends one
// invalid request; it returns the number of searches.
func (h *harness) traffic() int {
	base := h.gatewayURL()
	post := func(body string) (int, []byte) {
		resp, err := client.Post(base+"/v1/search", "application/json", strings.NewReader(body))
		if err != nil {
			h.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	n := 0
	var someID string
	for _, q := range []string{"graph neural networks for molecules", "reasoning with large language models", "semantic segmentation of medical images"} {
		for _, mode := range []string{"SEARCH_MODE_DENSE", "SEARCH_MODE_LEXICAL", "SEARCH_MODE_HYBRID"} {
			code, body := post(fmt.Sprintf(`{"query": %q, "k": 5, "mode": %q}`, q, mode))
			var r struct {
				Results []struct {
					ID string `json:"id"`
				} `json:"results"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &r) != nil || len(r.Results) == 0 {
				h.t.Fatalf("search %q %s = %d %s", q, mode, code, body)
			}
			someID = r.Results[0].ID
			n++
		}
	}
	resp, err := client.Get(base + "/v1/papers/" + url.PathEscape(someID) + "/similar")
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Errorf("similar papers of %s = %d", someID, resp.StatusCode)
	}
	if code, body := post(`{"query": ""}`); code != http.StatusBadRequest {
		h.t.Errorf("empty query = %d %s, want 400", code, body)
	}
	return n
}

// metricsAddr is where a daemon service serves /metrics on this machine.
func (h *harness) metricsAddr(svc types.ServiceConfig) (compose, local string) {
	d, _ := h.s.Daemon(svc)
	port, err := h.s.ListenPort(svc, stack.MetricsFlag[d])
	if err != nil {
		h.t.Fatal(err)
	}
	compose = net.JoinHostPort(svc.Name, port)
	return compose, h.addrs[compose]
}

// scrape returns the sample names a service's /metrics serves, as
// Prometheus stores them (histograms as _bucket, _sum and _count).
func (h *harness) scrape(t *testing.T, svc types.ServiceConfig) []string {
	_, addr := h.metricsAddr(svc)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics = %s", svc.Name, resp.Status)
	}
	var names []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names = append(names, line[:i])
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s /metrics is empty", svc.Name)
	}
	return names
}

type prometheus struct {
	base    string
	targets int
}

// startPrometheus runs Prometheus with the repository's configuration,
// its targets pointed at the local services, scraping every second.
func (h *harness) startPrometheus(bin string, daemons []types.ServiceConfig) *prometheus {
	src := filepath.Join(h.root, PrometheusConfig)
	promtool, err := findTool(h.root, "promtool")
	if err != nil {
		h.t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", src).CombinedOutput(); err != nil {
		h.t.Fatalf("promtool check config %s: %v\n%s", src, err, out)
	}
	cfg, err := LoadScrapeConfig(src)
	if err != nil {
		h.t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, svc := range daemons {
		c, l := h.metricsAddr(svc)
		addrs[c] = l
	}
	text, err := cfg.Render(addrs, "1s")
	if err != nil {
		h.t.Fatal(err)
	}
	dir := h.t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, text, 0o644); err != nil {
		h.t.Fatal(err)
	}
	listen := daemontest.FreeAddr(h.t)
	daemontest.Start(h.t, "prometheus", bin, nil, "--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	p := &prometheus{base: "http://" + listen, targets: len(addrs)}
	daemontest.WaitHTTP(h.t, p.base+"/-/ready", 30*time.Second)
	return p
}

type sample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant PromQL query.
func (p *prometheus) query(expr string) ([]sample, error) {
	resp, err := client.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, r.Error)
	}
	var out []sample
	for _, res := range r.Data.Result {
		s, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q", expr, s)
		}
		out = append(out, sample{Metric: res.Metric, Value: v})
	}
	return out, nil
}

// eventually retries check until it returns nil or within passes.
func eventually(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkTargets: every target is scraped and up.
func (p *prometheus) checkTargets(t *testing.T, want int) {
	err := eventually(20*time.Second, func() error {
		up, err := p.query("up")
		if err != nil {
			return err
		}
		var down []string
		for _, s := range up {
			if s.Value != 1 {
				down = append(down, s.Metric["job"]+" "+s.Metric["instance"])
			}
		}
		if len(up) != want || len(down) > 0 {
			return fmt.Errorf("%d targets, want %d; down: %v", len(up), want, down)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkKeyMetrics: the numbers Prometheus has match what the test did.
func (p *prometheus) checkKeyMetrics(t *testing.T, papers, searches int) {
	for _, tc := range []struct {
		expr string
		ok   func(float64) bool
		want string
	}{
		{`sum(index_shard_indexed_vectors)`, func(v float64) bool { return v == float64(papers) }, fmt.Sprintf("= %d papers indexed", papers)},
		{`count(index_shard_indexed_vectors)`, func(v float64) bool { return v == 8 }, "= 8 shards"},
		{`sum(index_search_queries_total)`, func(v float64) bool { return v >= float64(searches) }, fmt.Sprintf(">= %d searches", searches)},
		{`sum(index_search_seconds_count)`, func(v float64) bool { return v >= float64(searches) }, fmt.Sprintf(">= %d searches", searches)},
		{`sum(http_requests_total{job="gateway", route=~".*/v1/search"})`, func(v float64) bool { return v >= float64(searches) }, fmt.Sprintf(">= %d searches", searches)},
		{`sum(http_request_duration_seconds_count{job="gateway"})`, func(v float64) bool { return v > 0 }, "> 0"},
		{`sum(http_requests_total{job="gateway", code="400"})`, func(v float64) bool { return v >= 1 }, ">= 1 bad request"},
		{`sum(arxivsearch_embedder_batch_size_count)`, func(v float64) bool { return v > 0 }, "> 0 batches"},
		{`sum(arxivsearch_embedder_batch_size_sum)`, func(v float64) bool { return v >= float64(papers) }, fmt.Sprintf(">= %d texts", papers)},
		{`sum(index_upserted_papers_total)`, func(v float64) bool { return v >= float64(papers) }, fmt.Sprintf(">= %d upserts", papers)},
		{`sum(grpc_server_handled_total{job="embedder", grpc_method="Embed"})`, func(v float64) bool { return v > 0 }, "> 0"},
	} {
		var last []sample
		err := eventually(15*time.Second, func() error {
			s, err := p.query(tc.expr)
			last = s
			if err != nil {
				return err
			}
			if len(s) != 1 || !tc.ok(s[0].Value) {
				return fmt.Errorf("%s = %v, want %s", tc.expr, s, tc.want)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v (last %v)", err, last)
		}
	}
}

// checkDashboard: Prometheus accepts every dashboard query and has data
// for it.
func (p *prometheus) checkDashboard(t *testing.T, d *Dashboard) {
	queries := d.Queries()
	empty := map[string]string{}
	err := eventually(20*time.Second, func() error {
		clear(empty)
		for _, q := range queries {
			expr := strings.ReplaceAll(q.Expr, "$__rate_interval", "1m")
			s, err := p.query(expr)
			if err != nil {
				return fmt.Errorf("panel %q query %s: %w", q.Panel, q.RefID, err)
			}
			if len(s) == 0 {
				empty[q.Panel+" "+q.RefID] = expr
			}
		}
		if len(empty) > 0 {
			return fmt.Errorf("%d queries without data", len(empty))
		}
		return nil
	})
	if err != nil {
		var lines []string
		for k, v := range empty {
			lines = append(lines, k+": "+v)
		}
		sort.Strings(lines)
		t.Errorf("%v\n%s", err, strings.Join(lines, "\n"))
	}
}
