// Package loadtest drives the gateway's REST API with a weighted mix of
// requests (short and long searches, embeddings, health checks) at a fixed
// rate (open loop) or a fixed concurrency (closed loop), bounded in time
// and in count, and reports per-route latency percentiles and errors.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Routes the mix can name.
const (
	RouteSearchShort = "search-short"
	RouteSearchLong  = "search-long"
	RouteEmbed       = "embed"
	RouteHealth      = "health"
)

var knownRoutes = []string{RouteSearchShort, RouteSearchLong, RouteEmbed, RouteHealth}

// DefaultMix is the old project's load-test mix.
const DefaultMix = "search-short=6,search-long=2,embed=1,health=1"

// Weight is one route's share of the mix.
type Weight struct {
	Route  string
	Weight int
}

// ParseMix parses "route=weight,...". Routes left out get weight 0; at
// least one weight must be positive.
func ParseMix(s string) ([]Weight, error) {
	var out []Weight
	seen := map[string]bool{}
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("mix %q: want route=weight", part)
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(knownRoutes, name) {
			return nil, fmt.Errorf("mix: unknown route %q (want %s)", name, strings.Join(knownRoutes, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("mix: route %q given twice", name)
		}
		seen[name] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 {
			return nil, fmt.Errorf("mix %q: weight must be a non-negative integer", part)
		}
		total += w
		if w > 0 {
			out = append(out, Weight{name, w})
		}
	}
	if total == 0 {
		return nil, errors.New("mix: no route has a positive weight")
	}
	return out, nil
}

// schedule interleaves the routes by smooth weighted round robin, so any
// window of len(schedule) consecutive requests has the exact mix.
func schedule(mix []Weight) []string {
	total := 0
	for _, w := range mix {
		total += w.Weight
	}
	current := make([]int, len(mix))
	out := make([]string, 0, total)
	for range total {
		best := 0
		for i, w := range mix {
			current[i] += w.Weight
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		out = append(out, mix[best].Route)
	}
	return out
}

// checkHost refuses host (a name or an IP literal) unless it is loopback:
// in 127.0.0.0/8, ::1, or a name all of whose addresses are.
func checkHost(ctx context.Context, host string, lookup func(context.Context, string) ([]string, error)) error {
	if host == "" {
		return errors.New("target has no host")
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s is not a loopback address (use -allow-remote to load-test another machine)", host)
		}
		return nil
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return fmt.Errorf("target %s: cannot resolve to check it is loopback: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("target %s resolves to no address", host)
	}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("target %s resolves to %s, not loopback (use -allow-remote to load-test another machine)", host, a)
		}
	}
	return nil
}

// CheckTarget parses target (an http or https base URL) and, unless
// allowRemote, refuses it when its host is not loopback. lookup resolves
// names (nil: the default resolver).
func CheckTarget(ctx context.Context, target string, allowRemote bool, lookup func(context.Context, string) ([]string, error)) (*url.URL, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("target %q: want an http:// or https:// URL", target)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("target %q has no host", target)
	}
	if allowRemote {
		return u, nil
	}
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	if err := checkHost(ctx, u.Hostname(), lookup); err != nil {
		return nil, err
	}
	return u, nil
}

// Config describes a run.
type Config struct {
	Target string   // base URL, e.g. http://127.0.0.1:8080
	Mix    []Weight // from ParseMix
	// Rate > 0 selects open loop: requests start at Rate per second
	// whatever the latency, at most MaxOutstanding at once (a request
	// due while that many are outstanding is dropped and counted).
	Rate           float64
	MaxOutstanding int
	// Concurrency selects closed loop when Rate is 0: that many workers
	// each send the next request as soon as their last one ends.
	Concurrency int
	Duration    time.Duration // always bounds the run (> 0)
	Requests    int           // at most this many requests; 0 = no bound
	K           int           // results per search
	// Mode is the search mode sent with every search (dense, lexical or
	// hybrid); empty sends none, so the gateway's default applies.
	Mode        string
	EmbedTexts  int      // texts per embed request
	Short, Long []string // query texts; built-in lists when empty
	AllowRemote bool
	// Lookup resolves host names for the loopback check (nil: DNS).
	Lookup func(context.Context, string) ([]string, error)
	// Client sends the requests (nil: a client with a tuned transport).
	Client *http.Client
}

// NewClient returns an HTTP client for conns concurrent requests to one
// host: keep-alives, that many idle connections kept, no redirects.
func NewClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = 0
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true
	return &http.Client{
		Transport: t,
		// A redirect could lead to another host; report it as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type result struct {
	route   string
	latency time.Duration
	status  string // "" on success, else the HTTP status code or "transport"
}

type runner struct {
	cfg      Config
	base     string
	client   *http.Client
	sched    []string
	issued   atomic.Int64
	mu       sync.Mutex
	results  []result
	dropped  atomic.Int64
	shortIdx atomic.Uint64
	longIdx  atomic.Uint64
}

// Run performs the load test and returns its report. It stops at
// cfg.Duration, after cfg.Requests requests, or when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	u, err := CheckTarget(ctx, cfg.Target, cfg.AllowRemote, cfg.Lookup)
	if err != nil {
		return nil, err
	}
	if len(cfg.Mix) == 0 {
		if cfg.Mix, err = ParseMix(DefaultMix); err != nil {
			return nil, err
		}
	}
	if cfg.Duration <= 0 {
		return nil, errors.New("duration must be positive")
	}
	if cfg.Requests < 0 {
		return nil, errors.New("requests must not be negative")
	}
	if cfg.Rate < 0 || math.IsInf(cfg.Rate, 0) || math.IsNaN(cfg.Rate) {
		return nil, errors.New("rate must be a positive number")
	}
	if cfg.Rate == 0 && cfg.Concurrency <= 0 {
		return nil, errors.New("give a rate or a positive concurrency")
	}
	if cfg.Rate > 0 && cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = 256
	}
	if cfg.K <= 0 {
		cfg.K = 10
	}
	if cfg.EmbedTexts <= 0 {
		cfg.EmbedTexts = 1
	}
	if len(cfg.Short) == 0 {
		cfg.Short = ShortQueries
	}
	if len(cfg.Long) == 0 {
		cfg.Long = LongQueries
	}
	conns := cfg.Concurrency
	if cfg.Rate > 0 {
		conns = cfg.MaxOutstanding
	}
	client := cfg.Client
	if client == nil {
		client = NewClient(conns)
	}
	r := &runner{cfg: cfg, base: strings.TrimRight(u.String(), "/"), client: client, sched: schedule(cfg.Mix)}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	if cfg.Rate > 0 {
		r.openLoop(runCtx)
	} else {
		r.closedLoop(runCtx)
	}
	elapsed := time.Since(start)
	mode := fmt.Sprintf("concurrency %d", cfg.Concurrency)
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("rate %g/s (max %d outstanding)", cfg.Rate, cfg.MaxOutstanding)
	}
	rep := buildReport(r.results, elapsed, r.cfg.Mix)
	rep.Target = r.base
	rep.Mode = mode
	rep.Dropped = int(r.dropped.Load())
	return rep, nil
}

// next reserves the next request's sequence number, false when the count
// bound is reached.
func (r *runner) next() (int64, bool) {
	n := r.issued.Add(1) - 1
	if r.cfg.Requests > 0 && n >= int64(r.cfg.Requests) {
		return 0, false
	}
	return n, true
}

func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				n, ok := r.next()
				if !ok {
					return
				}
				r.do(ctx, n)
			}
		})
	}
	wg.Wait()
}

func (r *runner) openLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.cfg.MaxOutstanding)
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			r.dropped.Add(1)
			continue
		}
		n, ok := r.next()
		if !ok {
			<-sem
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.do(ctx, n)
		})
	}
}

func (r *runner) pick(list []string, idx *atomic.Uint64) string {
	return list[(idx.Add(1)-1)%uint64(len(list))]
}

// search is the body of a search request for query.
func (r *runner) search(query string) map[string]any {
	b := map[string]any{"query": query, "k": r.cfg.K}
	if r.cfg.Mode != "" {
		b["mode"] = "SEARCH_MODE_" + strings.ToUpper(r.cfg.Mode)
	}
	return b
}

func (r *runner) do(ctx context.Context, n int64) {
	route := r.sched[n%int64(len(r.sched))]
	var (
		method = http.MethodPost
		path   string
		body   any
	)
	switch route {
	case RouteSearchShort:
		path, body = "/v1/search", r.search(r.pick(r.cfg.Short, &r.shortIdx))
	case RouteSearchLong:
		path, body = "/v1/search", r.search(r.pick(r.cfg.Long, &r.longIdx))
	case RouteEmbed:
		texts := make([]string, r.cfg.EmbedTexts)
		for i := range texts {
			if i%2 == 0 {
				texts[i] = r.pick(r.cfg.Long, &r.longIdx)
			} else {
				texts[i] = r.pick(r.cfg.Short, &r.shortIdx)
			}
		}
		path, body = "/v1/embed", map[string]any{"texts": texts}
	case RouteHealth:
		method, path = http.MethodGet, "/healthz"
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		r.record(result{route: route, status: "transport"})
		return
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	status := ""
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			status = strconv.Itoa(resp.StatusCode)
		}
	}
	lat := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			// Cut off by the end of the run: not the server's fault.
			return
		}
		status = "transport"
	}
	r.record(result{route: route, latency: lat, status: status})
}

func (r *runner) record(res result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. Zero for an empty list.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Stats summarise one route (or all of them).
type Stats struct {
	Route      string         `json:"route"`
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	ByStatus   map[string]int `json:"errors_by_status,omitempty"`
	Throughput float64        `json:"throughput_per_s"`
	P50        Millis         `json:"p50_ms"`
	P95        Millis         `json:"p95_ms"`
	P99        Millis         `json:"p99_ms"`
	Max        Millis         `json:"max_ms"`
}

// Millis is a duration written in JSON as fractional milliseconds.
type Millis time.Duration

// MarshalJSON writes milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(math.Round(float64(m)/1e3)/1e3, 'f', -1, 64)), nil
}

func (m Millis) String() string {
	ms := float64(m) / 1e6
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

// Report is a run's outcome.
type Report struct {
	Target  string  `json:"target"`
	Mode    string  `json:"mode"`
	Elapsed float64 `json:"elapsed_s"`
	Dropped int     `json:"dropped"`
	Routes  []Stats `json:"routes"`
	Total   Stats   `json:"total"`
}

func summarise(route string, rs []result, elapsed time.Duration) Stats {
	s := Stats{Route: route, Requests: len(rs)}
	lats := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		if r.status != "" {
			s.Errors++
			if s.ByStatus == nil {
				s.ByStatus = map[string]int{}
			}
			s.ByStatus[r.status]++
		}
		lats = append(lats, r.latency)
	}
	slices.Sort(lats)
	if elapsed > 0 {
		s.Throughput = float64(len(rs)) / elapsed.Seconds()
	}
	s.P50 = Millis(Percentile(lats, 50))
	s.P95 = Millis(Percentile(lats, 95))
	s.P99 = Millis(Percentile(lats, 99))
	s.Max = Millis(Percentile(lats, 100))
	return s
}

func buildReport(results []result, elapsed time.Duration, mix []Weight) *Report {
	by := map[string][]result{}
	for _, r := range results {
		by[r.route] = append(by[r.route], r)
	}
	rep := &Report{Elapsed: elapsed.Seconds()}
	for _, w := range mix {
		rep.Routes = append(rep.Routes, summarise(w.Route, by[w.Route], elapsed))
	}
	rep.Total = summarise("total", results, elapsed)
	return rep
}

// WriteTable writes the report as a Markdown table.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s, %s, %.1f s", rep.Target, rep.Mode, rep.Elapsed)
	if rep.Dropped > 0 {
		fmt.Fprintf(&b, ", %d dropped (too many outstanding)", rep.Dropped)
	}
	b.WriteString("\n\n| route | requests | req/s | p50 | p95 | p99 | max | errors |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range append(slices.Clone(rep.Routes), rep.Total) {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %s | %s | %s |\n",
			s.Route, s.Requests, s.Throughput, s.P50, s.P95, s.P99, s.Max, errorText(s))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func errorText(s Stats) string {
	if s.Errors == 0 {
		return "0"
	}
	keys := make([]string, 0, len(s.ByStatus))
	for k := range s.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, s.ByStatus[k])
	}
	return fmt.Sprintf("%d (%s)", s.Errors, strings.Join(parts, ", "))
}
