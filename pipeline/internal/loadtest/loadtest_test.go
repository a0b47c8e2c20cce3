package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGateway implements the routes, counts hits, delays a little and
// fails every failEvery-th request of each route with 500.
type fakeGateway struct {
	mu        sync.Mutex
	hits      map[string]int
	bad       int
	failEvery int
	delay     time.Duration
}

func (g *fakeGateway) handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(route string, check func(*http.Request) bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !check(r) {
				g.mu.Lock()
				g.bad++
				g.mu.Unlock()
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			g.mu.Lock()
			g.hits[route]++
			n := g.hits[route]
			g.mu.Unlock()
			time.Sleep(g.delay)
			if g.failEvery > 0 && n%g.failEvery == 0 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
		}
	}
	searchBody := func(r *http.Request) (q string, ok bool) {
		var b struct {
			Query string `json:"query"`
			K     int    `json:"k"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&b) != nil || b.Query == "" || b.K <= 0 {
			return "", false
		}
		return b.Query, true
	}
	// Short and long searches share a path; tell them apart by length.
	mux.HandleFunc("/v1/search", func(w http.ResponseWriter, r *http.Request) {
		q, ok := searchBody(r)
		route := RouteSearchShort
		if len(q) > 200 {
			route = RouteSearchLong
		}
		handle(route, func(*http.Request) bool { return ok })(w, r)
	})
	mux.HandleFunc("/v1/embed", handle(RouteEmbed, func(r *http.Request) bool {
		var b struct {
			Texts []string `json:"texts"`
		}
		return r.Method == http.MethodPost && json.NewDecoder(r.Body).Decode(&b) == nil && len(b.Texts) > 0
	}))
	mux.HandleFunc("/healthz", handle(RouteHealth, func(r *http.Request) bool { return r.Method == http.MethodGet }))
	return mux
}

func newFake(t *testing.T, failEvery int, delay time.Duration) (*fakeGateway, *httptest.Server) {
	g := &fakeGateway{hits: map[string]int{}, failEvery: failEvery, delay: delay}
	srv := httptest.NewServer(g.handler())
	t.Cleanup(srv.Close)
	return g, srv
}

func mustMix(t *testing.T, s string) []Weight {
	t.Helper()
	m, err := ParseMix(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    []Weight
		wantErr string
	}{
		{in: DefaultMix, want: []Weight{{RouteSearchShort, 6}, {RouteSearchLong, 2}, {RouteEmbed, 1}, {RouteHealth, 1}}},
		{in: "health=1, embed=0", want: []Weight{{RouteHealth, 1}}},
		{in: "bogus=1", wantErr: "unknown route"},
		{in: "embed", wantErr: "route=weight"},
		{in: "embed=-1", wantErr: "non-negative"},
		{in: "embed=1,embed=2", wantErr: "twice"},
		{in: "embed=0", wantErr: "positive weight"},
	}
	for _, tc := range tests {
		got, err := ParseMix(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMix(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseMix(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		lats []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"p95 of 1..10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
		{"p90 of 1..10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p95 of 1..100", ms(hundred...), 95, 95 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"max of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 1..10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := Percentile(tc.lats, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(p%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
	// summarise sorts an unsorted list and counts errors by status.
	rs := []result{
		{route: "x", latency: 30 * time.Millisecond},
		{route: "x", latency: 10 * time.Millisecond, status: "500"},
		{route: "x", latency: 40 * time.Millisecond},
		{route: "x", latency: 20 * time.Millisecond, status: "500"},
		{route: "x", latency: 50 * time.Millisecond, status: "transport"},
	}
	s := summarise("x", rs, time.Second)
	if s.P50 != Millis(30*time.Millisecond) || s.Max != Millis(50*time.Millisecond) || s.P95 != Millis(50*time.Millisecond) {
		t.Errorf("summarise: p50 %v p95 %v max %v", s.P50, s.P95, s.Max)
	}
	if s.Errors != 3 || s.ByStatus["500"] != 2 || s.ByStatus["transport"] != 1 || s.Throughput != 5 {
		t.Errorf("summarise: %+v", s)
	}
}

func TestMixAndErrors(t *testing.T) {
	tests := []struct {
		name     string
		mix      string
		requests int
		rate     float64
	}{
		{"default mix, closed loop", DefaultMix, 400, 0},
		{"skewed mix, closed loop", "search-short=1,search-long=3,embed=0,health=4", 200, 0},
		{"default mix, open loop", DefaultMix, 100, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, srv := newFake(t, 5, time.Millisecond)
			mix := mustMix(t, tc.mix)
			rep, err := Run(context.Background(), Config{
				Target: srv.URL, Mix: mix, Concurrency: 8, Rate: tc.rate,
				Duration: 5 * time.Second, Requests: tc.requests,
			})
			if err != nil {
				t.Fatal(err)
			}
			if g.bad != 0 {
				t.Errorf("%d malformed requests", g.bad)
			}
			if rep.Total.Requests != tc.requests {
				t.Fatalf("total %d requests, want %d", rep.Total.Requests, tc.requests)
			}
			total := 0
			for _, w := range mix {
				total += w.Weight
			}
			sumErr := 0
			for i, w := range mix {
				want := float64(tc.requests) * float64(w.Weight) / float64(total)
				got := g.hits[w.Route]
				if d := float64(got) - want; d > 0.05*float64(tc.requests) || d < -0.05*float64(tc.requests) {
					t.Errorf("%s: %d hits, want about %.0f", w.Route, got, want)
				}
				st := rep.Routes[i]
				if st.Route != w.Route || st.Requests != got {
					t.Errorf("report %s: %d requests, server saw %d", st.Route, st.Requests, got)
				}
				// Every 5th request of a route failed with 500.
				if st.Errors != got/5 || st.ByStatus["500"] != got/5 {
					t.Errorf("%s: %d errors (%v), want %d", w.Route, st.Errors, st.ByStatus, got/5)
				}
				sumErr += st.Errors
				if st.P50 <= 0 || st.P50 > st.P95 || st.P95 > st.P99 || st.P99 > st.Max {
					t.Errorf("%s: percentiles out of order: %v %v %v %v", w.Route, st.P50, st.P95, st.P99, st.Max)
				}
			}
			if rep.Total.Errors != sumErr {
				t.Errorf("total errors %d, routes sum to %d", rep.Total.Errors, sumErr)
			}
			for _, r := range knownRoutes {
				if !containsRoute(mix, r) && g.hits[r] != 0 {
					t.Errorf("%s has weight 0 but got %d hits", r, g.hits[r])
				}
			}
		})
	}
}

func containsRoute(mix []Weight, r string) bool {
	for _, w := range mix {
		if w.Route == r {
			return true
		}
	}
	return false
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantReqs int           // exact count when > 0
		minTime  time.Duration // elapsed at least
		maxTime  time.Duration // elapsed at most
	}{
		{"count bound, closed loop", Config{Concurrency: 4, Duration: 10 * time.Second, Requests: 37}, 37, 0, 3 * time.Second},
		{"count bound, open loop", Config{Rate: 500, Duration: 10 * time.Second, Requests: 25}, 25, 0, 3 * time.Second},
		{"duration bound, closed loop", Config{Concurrency: 4, Duration: 300 * time.Millisecond}, 0, 280 * time.Millisecond, 1500 * time.Millisecond},
		{"duration bound, open loop", Config{Rate: 100, Duration: 300 * time.Millisecond}, 0, 280 * time.Millisecond, 1500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, srv := newFake(t, 0, 2*time.Millisecond)
			cfg := tc.cfg
			cfg.Target = srv.URL
			start := time.Now()
			rep, err := Run(context.Background(), cfg)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantReqs > 0 && rep.Total.Requests != tc.wantReqs {
				t.Errorf("%d requests, want %d", rep.Total.Requests, tc.wantReqs)
			}
			if rep.Total.Requests == 0 {
				t.Error("no requests")
			}
			if elapsed < tc.minTime || elapsed > tc.maxTime {
				t.Errorf("took %v, want between %v and %v", elapsed, tc.minTime, tc.maxTime)
			}
			g.mu.Lock()
			served := 0
			for _, n := range g.hits {
				served += n
			}
			g.mu.Unlock()
			// Requests cut off at the deadline are not reported.
			if served < rep.Total.Requests {
				t.Errorf("server saw %d, report says %d", served, rep.Total.Requests)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		rate     float64
		duration time.Duration
	}{
		{50, time.Second},
		{200, 800 * time.Millisecond},
	}
	for _, tc := range tests {
		_, srv := newFake(t, 0, 20*time.Millisecond) // latency above the interval: open loop must not wait
		rep, err := Run(context.Background(), Config{Target: srv.URL, Rate: tc.rate, MaxOutstanding: 64, Duration: tc.duration})
		if err != nil {
			t.Fatal(err)
		}
		want := tc.rate * tc.duration.Seconds()
		got := float64(rep.Total.Requests + rep.Dropped)
		if got < 0.7*want || got > 1.2*want+1 {
			t.Errorf("rate %v for %v: %v requests sent, want about %v", tc.rate, tc.duration, got, want)
		}
	}
}

func TestDropsWhenSaturated(t *testing.T) {
	_, srv := newFake(t, 0, 200*time.Millisecond)
	rep, err := Run(context.Background(), Config{Target: srv.URL, Rate: 200, MaxOutstanding: 2, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Dropped == 0 {
		t.Errorf("no request dropped with 2 outstanding at most: %+v", rep.Total)
	}
}

// refuseTransport fails the test if any request is attempted.
type refuseTransport struct{ calls atomic.Int64 }

func (rt *refuseTransport) RoundTrip(*http.Request) (*http.Response, error) {
	rt.calls.Add(1)
	return nil, errors.New("no traffic allowed")
}

func TestRemoteTargetsRefused(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "localhost":
			return []string{"127.0.0.1", "::1"}, nil
		case "example.com":
			return []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"}, nil
		case "mixed.test":
			return []string{"127.0.0.1", "10.0.0.1"}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		target      string
		allowRemote bool
		ok          bool
	}{
		{"http://example.com", false, false},
		{"http://10.1.2.3", false, false},
		{"http://10.1.2.3:8080", false, false},
		{"https://[2001:db8::1]:443", false, false},
		{"http://mixed.test:8080", false, false},
		{"http://nowhere.invalid", false, false},
		{"ftp://127.0.0.1", false, false},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.9.8.7", false, true},
		{"http://[::1]:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://example.com", true, true},
		{"http://10.1.2.3", true, true},
	}
	for _, tc := range tests {
		_, err := CheckTarget(context.Background(), tc.target, tc.allowRemote, lookup)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTarget(%q, allowRemote=%v) = %v, want ok=%v", tc.target, tc.allowRemote, err, tc.ok)
		}
		if tc.ok || tc.allowRemote {
			continue
		}
		rt := &refuseTransport{}
		_, err = Run(context.Background(), Config{
			Target: tc.target, Concurrency: 1, Duration: time.Second, Requests: 1,
			Lookup: lookup, Client: &http.Client{Transport: rt},
		})
		if err == nil {
			t.Errorf("Run(%q) was not refused", tc.target)
		}
		if n := rt.calls.Load(); n != 0 {
			t.Errorf("Run(%q) sent %d requests", tc.target, n)
		}
	}
}

func TestContextCancelStops(t *testing.T) {
	_, srv := newFake(t, 0, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Run(ctx, Config{Target: srv.URL, Concurrency: 2, Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v after cancel", d)
	}
}

func TestReportOutput(t *testing.T) {
	_, srv := newFake(t, 3, 0)
	rep, err := Run(context.Background(), Config{Target: srv.URL, Concurrency: 2, Duration: 5 * time.Second, Requests: 30})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| search-short |", "| search-long |", "| embed |", "| health |", "| total | 30 |", "500: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Routes []struct {
			Route    string         `json:"route"`
			ByStatus map[string]int `json:"errors_by_status"`
		} `json:"routes"`
		Total struct {
			Requests int     `json:"requests"`
			P99      float64 `json:"p99_ms"`
		} `json:"total"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Total.Requests != 30 || len(back.Routes) != 4 || back.Total.P99 <= 0 {
		t.Errorf("JSON: %s", js)
	}
}

func TestReadLongQueries(t *testing.T) {
	qs, err := ReadLongQueries("../../sample/arxiv-sample.jsonl.gz", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 10 {
		t.Fatalf("%d queries, want 10", len(qs))
	}
	for _, q := range qs {
		if len(q) < 100 || !strings.Contains(q, ". ") {
			t.Errorf("query %q is not a title + abstract", q)
		}
	}
	if _, err := ReadLongQueries("testdata/missing.jsonl", 10); err == nil {
		t.Error("missing file accepted")
	}
}

func TestSearchMode(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"", ""}, {"dense", "SEARCH_MODE_DENSE"}, {"hybrid", "SEARCH_MODE_HYBRID"}, {"lexical", "SEARCH_MODE_LEXICAL"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var b map[string]any
				json.NewDecoder(r.Body).Decode(&b)
				m, _ := b["mode"].(string)
				mu.Lock()
				seen[m]++
				mu.Unlock()
				w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			_, err := Run(context.Background(), Config{Target: srv.URL, Mix: mustMix(t, "search-short=1,search-long=1"),
				Concurrency: 2, Duration: 5 * time.Second, Requests: 10, K: 10, Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 || seen[tc.want] != 10 {
				t.Errorf("modes sent = %v, want 10 x %q", seen, tc.want)
			}
		})
	}
}
