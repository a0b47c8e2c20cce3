package app_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/app"
	"github.com/arxivsearch/arxivsearch/gateway/internal/gatewaytest"
	"github.com/arxivsearch/arxivsearch/gateway/internal/testbackend"
	"github.com/arxivsearch/arxivsearch/platform/observability"
	"github.com/arxivsearch/arxivsearch/platform/paper"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

var topics = []struct {
	words string
	cats  []string
}{
	{"quantum error correction surface codes", []string{"quant-ph"}},
	{"transformer language models attention", []string{"cs.CL", "cs.LG"}},
	{"graph neural networks message passing", []string{"cs.LG"}},
	{"dark matter halos galaxy formation", []string{"astro-ph.CO"}},
	{"protein folding structure prediction", []string{"q-bio.BM", "cs.LG"}},
}

// corpus returns n papers across five topics.
func corpus(n int) []gatewaytest.Paper {
	var out []gatewaytest.Paper
	for i := range n {
		tp := topics[i%len(topics)]
		out = append(out, gatewaytest.Paper{
			ID:         fmt.Sprintf("2503.%05d", i),
			Title:      fmt.Sprintf("On %s, part %d", tp.words, i),
			Abstract:   fmt.Sprintf("We study %s.\nOur method %d improves variant %d.", tp.words, i%7, i%11),
			Authors:    []string{fmt.Sprintf("Author %d", i), "Second Author"},
			Categories: tp.cats,
			UpdateDate: "2025-03-14",
		})
	}
	return out
}

// expected returns the ids of the k papers nearest to query by the fake
// embedder's vectors, as the gateway must rank them.
func expected(papers []gatewaytest.Paper, query string, k int, keep func(gatewaytest.Paper) bool) []string {
	q := testbackend.Vector(query, 64)
	type scored struct {
		id    string
		score float32
	}
	var all []scored
	for _, p := range papers {
		if keep != nil && !keep(p) {
			continue
		}
		v := testbackend.Vector(paper.EmbeddingText(p.Title, p.Abstract), 64)
		var dot float32
		for i := range q {
			dot += q[i] * v[i]
		}
		all = append(all, scored{p.ID, dot})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	var ids []string
	for _, s := range all[:min(k, len(all))] {
		ids = append(ids, s.id)
	}
	return ids
}

type result struct {
	Rank            int      `json:"rank"`
	Score           float64  `json:"score"`
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Authors         []string `json:"authors"`
	Abstract        string   `json:"abstract"`
	Categories      []string `json:"categories"`
	PrimaryCategory string   `json:"primary_category"`
	UpdateDate      string   `json:"update_date"`
	AbsURL          string   `json:"abs_url"`
	PDFURL          string   `json:"pdf_url"`
}

type searchResponse struct {
	Results       []result `json:"results"`
	TookMs        float64  `json:"took_ms"`
	Partial       bool     `json:"partial"`
	MissingShards []int    `json:"missing_shards"`
	Mode          string   `json:"mode"`
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	} `json:"details"`
}

func (e apiError) fields() []string {
	var out []string
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			out = append(out, v.Field)
		}
	}
	return out
}

func resultIDs(rs []result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSearchAPI(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	papers := corpus(60)
	r := g.Do(t, "POST", "/v1/papers", map[string]any{"papers": papers}, "Authorization", "Bearer "+gatewaytest.Token)
	var ing struct {
		Inserted, Replaced int
		TookMs             float64 `json:"took_ms"`
	}
	r.JSON(t, &ing)
	if r.Code != 200 || ing.Inserted != 60 || ing.Replaced != 0 {
		t.Fatalf("ingest = %d %s", r.Code, r.Body)
	}
	// Papers went to the instance owning their shard, with the primary
	// category first and the vector of paper.EmbeddingText.
	if n := g.Indexes[0].Len() + g.Indexes[1].Len(); n != 60 {
		t.Errorf("instances hold %d papers, want 60", n)
	}

	t.Run("search", func(t *testing.T) {
		r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph neural networks", "k": 5})
		var sr searchResponse
		r.JSON(t, &sr)
		if r.Code != 200 || len(sr.Results) != 5 {
			t.Fatalf("search = %d %s", r.Code, r.Body)
		}
		if got, want := resultIDs(sr.Results), expected(papers, "graph neural networks", 5, nil); !slices.Equal(got, want) {
			t.Errorf("results %v, want %v", got, want)
		}
		top := sr.Results[0]
		if top.Rank != 1 || top.AbsURL != "https://arxiv.org/abs/"+top.ID || top.PDFURL != "https://arxiv.org/pdf/"+top.ID ||
			top.PrimaryCategory != "cs.LG" || len(top.Authors) != 2 || top.UpdateDate != "2025-03-14" || top.Title == "" || top.Abstract == "" {
			t.Errorf("top result = %+v", top)
		}
		for i := 1; i < len(sr.Results); i++ {
			if sr.Results[i].Score > sr.Results[i-1].Score || sr.Results[i].Rank != i+1 {
				t.Errorf("results not ranked by score: %+v", sr.Results)
			}
		}
		if sr.Mode != "SEARCH_MODE_DENSE" || sr.Partial || sr.TookMs <= 0 || sr.MissingShards == nil {
			t.Errorf("mode %s partial %v took %v missing %v", sr.Mode, sr.Partial, sr.TookMs, sr.MissingShards)
		}
	})

	t.Run("default k, category filter", func(t *testing.T) {
		r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "galaxy dark matter", "categories": []string{"cs.LG"}})
		var sr searchResponse
		r.JSON(t, &sr)
		want := expected(papers, "galaxy dark matter", 10, func(p gatewaytest.Paper) bool { return slices.Contains(p.Categories, "cs.LG") })
		if r.Code != 200 || !slices.Equal(resultIDs(sr.Results), want) {
			t.Errorf("filtered search = %d %v, want %v", r.Code, resultIDs(sr.Results), want)
		}
	})

	t.Run("lexical mode sends text, no vector", func(t *testing.T) {
		r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "protein folding", "mode": "SEARCH_MODE_LEXICAL", "nprobe": 7})
		var sr searchResponse
		r.JSON(t, &sr)
		if r.Code != 200 || sr.Mode != "SEARCH_MODE_LEXICAL" || len(sr.Results) == 0 {
			t.Fatalf("lexical = %d %s", r.Code, r.Body)
		}
		last := g.Indexes[0].Searches()[len(g.Indexes[0].Searches())-1]
		q := last.GetQueries()[0]
		if last.GetMode() != indexv1.SearchMode_SEARCH_MODE_LEXICAL || q.GetText() != "protein folding" || len(q.GetVector()) != 0 || last.GetNprobe() != 7 {
			t.Errorf("index request = %v", last)
		}
	})

	t.Run("get paper", func(t *testing.T) {
		for _, path := range []string{"/v1/papers/2503.00007", "/v1/papers/2503.00007v3", "/v1/papers/arXiv:2503.00007"} {
			r := g.Do(t, "GET", path, nil)
			var p struct {
				ID, Title, AbsURL string
				Categories        []string
			}
			r.JSON(t, &p)
			if r.Code != 200 || p.ID != "2503.00007" || p.Title != papers[7].Title || !slices.Equal(p.Categories, papers[7].Categories) {
				t.Errorf("GET %s = %d %s", path, r.Code, r.Body)
			}
		}
	})

	t.Run("similar never returns the paper", func(t *testing.T) {
		r := g.Do(t, "GET", "/v1/papers/2503.00007/similar?k=4&categories=cs.LG", nil)
		var sr searchResponse
		r.JSON(t, &sr)
		want := expected(papers, paper.EmbeddingText(papers[7].Title, papers[7].Abstract), 5, func(p gatewaytest.Paper) bool {
			return p.ID != "2503.00007" && slices.Contains(p.Categories, "cs.LG")
		})[:4]
		if r.Code != 200 || !slices.Equal(resultIDs(sr.Results), want) {
			t.Errorf("similar = %d %v, want %v", r.Code, resultIDs(sr.Results), want)
		}
	})

	t.Run("embed keeps input order", func(t *testing.T) {
		texts := []string{"graph neural networks", "", strings.Repeat("word ", 300)}
		r := g.Do(t, "POST", "/v1/embed", map[string]any{"texts": texts})
		var er struct {
			Embeddings []struct {
				Vector     []float32
				TokenCount int  `json:"token_count"`
				Truncated  bool `json:"truncated"`
			}
			Model     string
			Dimension int
		}
		r.JSON(t, &er)
		if r.Code != 200 || len(er.Embeddings) != 3 || er.Dimension != 64 || er.Model != "fake-hash-64" {
			t.Fatalf("embed = %d %s", r.Code, r.Body)
		}
		for i, e := range er.Embeddings {
			if !slices.Equal(e.Vector, testbackend.Vector(texts[i], 64)) {
				t.Errorf("embedding %d is not the vector of text %d", i, i)
			}
		}
		if er.Embeddings[0].TokenCount != 5 || er.Embeddings[0].Truncated || !er.Embeddings[2].Truncated {
			t.Errorf("token counts / truncation = %+v", er.Embeddings)
		}
	})

	t.Run("categories and info", func(t *testing.T) {
		r := g.Do(t, "GET", "/v1/categories", nil)
		var cr struct {
			Categories []struct {
				Category       string
				Primary, Total string // int64 is a JSON string in protojson
			}
		}
		r.JSON(t, &cr)
		if r.Code != 200 || len(cr.Categories) != 5 || cr.Categories[0].Category != "cs.LG" || cr.Categories[0].Total != "36" || cr.Categories[0].Primary != "12" {
			t.Errorf("categories = %d %s", r.Code, r.Body)
		}
		r = g.Do(t, "GET", "/v1/info", nil)
		var info struct {
			Model, Device, Version string
			Dimension              int
			PapersIndexed          string `json:"papers_indexed"`
			TotalShards            int    `json:"total_shards"`
			DefaultMode            string `json:"default_mode"`
			Shards                 []struct {
				Shard    int
				Replicas []struct {
					Address string
					Serving bool
				}
			}
		}
		r.JSON(t, &info)
		if r.Code != 200 || info.Model != "fake-hash-64" || info.Dimension != 64 || info.Device != "cpu" || info.PapersIndexed != "60" ||
			info.TotalShards != 8 || len(info.Shards) != 8 || info.DefaultMode != "SEARCH_MODE_DENSE" || info.Version == "" {
			t.Fatalf("info = %d %s", r.Code, r.Body)
		}
		if rep := info.Shards[5].Replicas; len(rep) != 1 || rep[0].Address != g.IndexServers[1].Addr() || !rep[0].Serving {
			t.Errorf("shard 5 replicas = %+v", rep)
		}
	})

	t.Run("delete", func(t *testing.T) {
		auth := []string{"Authorization", "Bearer " + gatewaytest.Token}
		if r := g.Do(t, "DELETE", "/v1/papers/2503.00003", nil, auth...); r.Code != 200 || !strings.Contains(string(r.Body), `"id":"2503.00003"`) {
			t.Errorf("delete = %d %s", r.Code, r.Body)
		}
		r := g.Do(t, "GET", "/v1/papers/2503.00003", nil)
		var e apiError
		r.JSON(t, &e)
		if r.Code != 404 || e.Code != int(codes.NotFound) || !strings.Contains(e.Message, "2503.00003 is not in the index") {
			t.Errorf("GET after delete = %d %s", r.Code, r.Body)
		}
		if r := g.Do(t, "DELETE", "/v1/papers/2503.00003", nil, auth...); r.Code != 404 {
			t.Errorf("second delete = %d %s", r.Code, r.Body)
		}
	})
}

func TestOldStyleIDsInPaths(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.Ingest(t, append(corpus(10),
		gatewaytest.Paper{ID: "hep-th/9901001", Title: "Strings in old style", Abstract: "An old-style identifier with a slash.", Categories: []string{"hep-th"}},
		gatewaytest.Paper{ID: "math.gt/0309136v1", Title: "Knots", Abstract: "Stored as math.GT/0309136.", Categories: []string{"math.GT"}},
	))
	tests := []struct {
		method, path string
		wantCode     int
		wantID       string
	}{
		{"GET", "/v1/papers/hep-th/9901001", 200, "hep-th/9901001"},
		{"GET", "/v1/papers/hep-th%2F9901001", 200, "hep-th/9901001"},
		{"GET", "/v1/papers/HEP-TH%2f9901001v2", 200, "hep-th/9901001"},
		{"GET", "/v1/papers/hep-th/9901001v2", 200, "hep-th/9901001"},
		{"GET", "/v1/papers/math.GT/0309136", 200, "math.GT/0309136"},
		{"GET", "/v1/papers/math.gt%2F0309136v2", 200, "math.GT/0309136"},
		{"GET", "/v1/papers/hep-th/9901001/similar?k=3", 200, ""},
		{"GET", "/v1/papers/hep-th%2F9901001/similar?k=3", 200, ""},
		{"GET", "/v1/papers/hep-th/9901002", 404, ""},
		{"GET", "/v1/papers/not-an-id", 400, ""},
		{"GET", "/v1/papers/a/b/c", 404, ""}, // no such route
		{"DELETE", "/v1/papers/hep-th/9901001", 200, "hep-th/9901001"},
		{"GET", "/v1/papers/hep-th%2F9901001", 404, ""},
	}
	for _, tt := range tests {
		r := g.Do(t, tt.method, tt.path, nil, "Authorization", "Bearer "+gatewaytest.Token)
		if r.Code != tt.wantCode {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, r.Code, r.Body, tt.wantCode)
			continue
		}
		if tt.wantID != "" && !strings.Contains(string(r.Body), `"id":"`+tt.wantID+`"`) {
			t.Errorf("%s %s = %s, want id %s", tt.method, tt.path, r.Body, tt.wantID)
		}
		if strings.HasSuffix(strings.Split(tt.path, "?")[0], "similar") {
			var sr searchResponse
			r.JSON(t, &sr)
			if len(sr.Results) != 3 || slices.Contains(resultIDs(sr.Results), "hep-th/9901001") {
				t.Errorf("%s = %v", tt.path, resultIDs(sr.Results))
			}
		}
	}
}

func TestValidationErrors(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	long := strings.Repeat("x", 33<<10)
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantFields []string
		wantText   string
	}{
		{"empty query", "POST", "/v1/search", map[string]any{"query": "  "}, 400, []string{"query"}, "query: is empty"},
		{"k too large", "POST", "/v1/search", map[string]any{"query": "x", "k": 101}, 400, []string{"k"}, "use 1..100"},
		{"everything wrong", "POST", "/v1/search", map[string]any{"query": "", "k": -1, "nprobe": 5000, "categories": []string{"", "cs CL"}, "mode": 9},
			400, []string{"query", "k", "nprobe", "categories[0]", "categories[1]", "mode"}, ""},
		{"query too long", "POST", "/v1/search", map[string]any{"query": long}, 400, []string{"query"}, "at most 32768"},
		{"unknown field", "POST", "/v1/search", `{"query": "x", "kk": 3}`, 400, nil, "kk"},
		{"broken JSON", "POST", "/v1/search", `{"query": `, 400, nil, ""},
		{"mode by name", "POST", "/v1/search", `{"query": "x", "mode": "fast"}`, 400, nil, "fast"},
		{"bad paper id", "GET", "/v1/papers/2503.1", nil, 400, []string{"id"}, "not an arXiv id"},
		{"bad similar k", "GET", "/v1/papers/2503.00001/similar?k=1000", nil, 400, []string{"k"}, ""},
		{"no texts", "POST", "/v1/embed", map[string]any{"texts": []string{}}, 400, []string{"texts"}, ""},
		{"ingest problems", "POST", "/v1/papers", map[string]any{"papers": []map[string]any{
			{"id": "2503.00001", "title": "t"},
			{"id": "2503.00001v2", "title": "t"},
			{"id": "nope", "title": "t"},
			{"id": "2503.00002"},
			{"id": "2503.00003", "title": "t", "categories": []string{"cs.CL", "bad cat"}, "update_date": "14/03/2025"},
		}}, 400, []string{"papers[1].id", "papers[2].id", "papers[3].title", "papers[4].categories[1]", "papers[4].update_date"}, ""},
		{"no papers", "POST", "/v1/papers", map[string]any{"papers": []any{}}, 400, []string{"papers"}, ""},
		{"wrong method", "PUT", "/v1/search", map[string]any{}, 405, nil, ""},
		{"unknown route", "GET", "/v1/nothing", nil, 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.Do(t, tt.method, tt.path, tt.body, "Authorization", "Bearer "+gatewaytest.Token)
			var e apiError
			r.JSON(t, &e)
			if r.Code != tt.wantStatus || e.Message == "" {
				t.Fatalf("%d %s, want %d with a message", r.Code, r.Body, tt.wantStatus)
			}
			if tt.wantStatus == 400 && e.Code != int(codes.InvalidArgument) {
				t.Errorf("code %d, want 3", e.Code)
			}
			if tt.wantFields != nil && !slices.Equal(e.fields(), tt.wantFields) {
				t.Errorf("field violations %v, want %v (%s)", e.fields(), tt.wantFields, r.Body)
			}
			if !strings.Contains(e.Message, tt.wantText) {
				t.Errorf("message %q lacks %q", e.Message, tt.wantText)
			}
		})
	}
	// Nothing reached the index from the refused ingests.
	if g.Indexes[0].Calls("UpsertPapers")+g.Indexes[1].Calls("UpsertPapers") != 0 {
		t.Error("a refused ingest reached the index")
	}
}

func TestWriteAuthorization(t *testing.T) {
	body := map[string]any{"papers": corpus(1)}
	tests := []struct {
		name     string
		token    string
		open     bool
		auth     string
		wantCode int
		wantText string
	}{
		{name: "no token configured", wantCode: 403, wantText: "writes are disabled"},
		{name: "opened", open: true, wantCode: 200},
		{name: "token missing", token: "s3cret", wantCode: 401, wantText: "Authorization: Bearer"},
		{name: "token wrong", token: "s3cret", auth: "Bearer nope", wantCode: 403, wantText: "not the server's write token"},
		{name: "token right", token: "s3cret", auth: "Bearer s3cret", wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.WriteToken, c.OpenWrites = tt.token, tt.open }})
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			r := g.Do(t, "POST", "/v1/papers", body, hdr...)
			if r.Code != tt.wantCode || !strings.Contains(string(r.Body), tt.wantText) {
				t.Errorf("ingest = %d %s, want %d %q", r.Code, r.Body, tt.wantCode, tt.wantText)
			}
			if r.Code == 401 && r.Header.Get("WWW-Authenticate") != `Bearer realm="arxivsearch"` {
				t.Errorf("401 WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
			if d := g.Do(t, "DELETE", "/v1/papers/2503.00000", nil, hdr...); (d.Code == 401 || d.Code == 403) != (tt.wantCode != 200) {
				t.Errorf("delete = %d, ingest %d: the guard treats them differently", d.Code, r.Code)
			}
		})
	}
}

func TestFanOutFailures(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Shards: []string{"0-3", "4-7", ""}})
	papers := corpus(50)
	g.Ingest(t, papers)
	if a, b, c := g.Indexes[0].Len(), g.Indexes[1].Len(), g.Indexes[2].Len(); a+b != 50 || c != 50 {
		t.Errorf("instances hold %d, %d and %d papers; want 50 over the first two and 50 on the replica of all", a, b, c)
	}
	query := map[string]any{"query": "quantum codes", "k": 10}
	want := expected(papers, "quantum codes", 10, nil)

	// The replica of every shard goes away: the others cover it.
	g.IndexServers[2].Stop()
	for range 3 {
		r := g.Do(t, "POST", "/v1/search", query)
		var sr searchResponse
		r.JSON(t, &sr)
		if r.Code != 200 || !slices.Equal(resultIDs(sr.Results), want) {
			t.Fatalf("search with a replica down = %d %s", r.Code, r.Body)
		}
	}
	// Writes need every replica.
	r := g.Do(t, "POST", "/v1/papers", map[string]any{"papers": corpus(3)}, "Authorization", "Bearer "+gatewaytest.Token)
	if r.Code != 503 || !strings.Contains(string(r.Body), "nothing was written") || r.Header.Get("Retry-After") == "" {
		t.Errorf("ingest with a replica down = %d %s", r.Code, r.Body)
	}

	// Shards 0-3 lose their last replica.
	g.IndexServers[0].Stop()
	r = g.Do(t, "POST", "/v1/search", query)
	var e apiError
	r.JSON(t, &e)
	if r.Code != 503 || e.Code != int(codes.Unavailable) || !strings.Contains(e.Message, "shards 0-3 of 8 have no live replica") {
		t.Fatalf("search missing shards = %d %s", r.Code, r.Body)
	}
	if len(e.Details) == 0 || e.Details[0].Reason != "SHARDS_UNAVAILABLE" || e.Details[0].Metadata["missing_shards"] != "0-3" {
		t.Errorf("error details = %s", r.Body)
	}
	r = g.Do(t, "POST", "/v1/search", map[string]any{"query": "quantum codes", "k": 10, "allow_partial": true})
	var sr searchResponse
	r.JSON(t, &sr)
	if r.Code != 200 || !sr.Partial || !slices.Equal(sr.MissingShards, []int{0, 1, 2, 3}) || len(sr.Results) == 0 {
		t.Errorf("partial search = %d %s", r.Code, r.Body)
	}
	if r := g.Do(t, "GET", "/readyz", nil); r.Code != 503 || !strings.Contains(string(r.Body), "no live replica") {
		t.Errorf("/readyz = %d %s", r.Code, r.Body)
	}

	// Both come back; the gateway notices without being told.
	g.IndexServers[0].Restart()
	g.IndexServers[2].Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.Do(t, "POST", "/v1/search", query)
		if r.Code == 200 {
			r.JSON(t, &sr)
			if !slices.Equal(resultIDs(sr.Results), want) {
				t.Errorf("after restart: %v, want %v", resultIDs(sr.Results), want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search still %d %s after the restarts", r.Code, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEmbedderFailover(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Embedders: 2})
	g.Ingest(t, corpus(10))
	g.EmbedderServers[0].Stop()
	for range 4 {
		if r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph"}); r.Code != 200 {
			t.Fatalf("search with one embedder down = %d %s", r.Code, r.Body)
		}
	}
	if r := g.Do(t, "GET", "/readyz", nil); r.Code != 200 {
		t.Errorf("/readyz with one of two embedders down = %d %s", r.Code, r.Body)
	}
	g.EmbedderServers[1].Stop()
	r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph"})
	if r.Code != 503 || !strings.Contains(string(r.Body), "embedding the query: no embedder could answer") {
		t.Errorf("search with no embedder = %d %s", r.Code, r.Body)
	}
	if r := g.Do(t, "GET", "/readyz", nil); r.Code != 503 {
		t.Errorf("/readyz with no embedder = %d", r.Code)
	}
}

// One embedder address that resolves to several replicas (a Kubernetes
// headless Service) must spread the calls over all of them, not pin them to
// the first.
func TestEmbedderNameWithManyReplicas(t *testing.T) {
	r := manual.NewBuilderWithScheme("embedreplicas")
	g := gatewaytest.Start(t, gatewaytest.Options{Embedders: 2, Config: func(c *app.Config) {
		addrs := strings.Split(c.EmbedderAddr, ",")
		r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addrs[0]}, {Addr: addrs[1]}}})
		resolver.Register(r)
		c.EmbedderAddr = "embedreplicas:///embedder"
	}})
	for i := range 20 {
		if r := g.Do(t, "POST", "/v1/search", map[string]any{"query": fmt.Sprintf("graph %d", i)}); r.Code != 200 {
			t.Fatalf("search = %d %s", r.Code, r.Body)
		}
	}
	a, b := g.Embedders[0].Calls("Embed"), g.Embedders[1].Calls("Embed")
	if a+b < 20 || a < 5 || b < 5 {
		t.Errorf("Embed calls per replica = %d, %d; want both busy", a, b)
	}
}

func TestLimits(t *testing.T) {
	t.Run("body size", func(t *testing.T) {
		g := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.MaxBodyBytes = 1000 }})
		big := `{"query": "` + strings.Repeat("a", 2000) + `"}`
		r := g.Do(t, "POST", "/v1/search", big)
		if r.Code != 413 || !strings.Contains(string(r.Body), `"code":8`) || !strings.Contains(string(r.Body), "limit of 1000 bytes") {
			t.Errorf("/v1/search with a big body = %d %s", r.Code, r.Body)
		}
		r = g.Do(t, "POST", "/search", `{"abstract": "`+strings.Repeat("a", 2000)+`"}`)
		if r.Code != 413 || !strings.Contains(string(r.Body), `"detail":`) {
			t.Errorf("/search with a big body = %d %s", r.Code, r.Body)
		}
		// Without Content-Length (chunked), the limit holds too.
		req, _ := http.NewRequest("POST", g.URL+"/v1/search", struct{ *strings.Reader }{strings.NewReader(big)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked big body = %d", resp.StatusCode)
		}
	})

	t.Run("overload is 429, not a queue", func(t *testing.T) {
		g := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.MaxInFlight, c.MaxQueue = 1, 0 }})
		g.Ingest(t, corpus(5))
		for _, x := range g.Indexes {
			x.SetDelay("Search", 300*time.Millisecond)
		}
		codes := make(chan int, 3)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph"})
				if r.Code == 429 && (r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "overloaded")) {
					t.Errorf("429 without Retry-After or message: %v %s", r.Header, r.Body)
				}
				codes <- r.Code
			})
		}
		wg.Wait()
		close(codes)
		var got []int
		for c := range codes {
			got = append(got, c)
		}
		slices.Sort(got)
		if got[0] != 200 || got[2] != 429 {
			t.Errorf("3 concurrent searches with one slot = %v, want 200 and 429s", got)
		}
	})

	t.Run("request timeout", func(t *testing.T) {
		g := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.RequestTimeout = 200 * time.Millisecond }})
		g.Ingest(t, corpus(5))
		for _, x := range g.Indexes {
			x.SetDelay("Search", 2*time.Second)
		}
		start := time.Now()
		r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph"})
		if r.Code != 504 || !strings.Contains(string(r.Body), `"code":4`) || time.Since(start) > 1500*time.Millisecond {
			t.Errorf("slow index = %d %s after %v", r.Code, r.Body, time.Since(start))
		}
	})
}

func TestCORS(t *testing.T) {
	preflight := func(g *gatewaytest.Gateway, origin string) gatewaytest.Response {
		return g.Do(t, "OPTIONS", "/v1/search", nil, "Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	off := gatewaytest.Start(t, gatewaytest.Options{})
	if r := preflight(off, "https://app.example"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off by default, got %v", r.Header)
	}
	on := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.CORSOrigins = "https://app.example, https://other.example" }})
	r := preflight(on, "https://app.example")
	if r.Code != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("allowed preflight = %d %v", r.Code, r.Header)
	}
	if r := preflight(on, "https://evil.example"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin got %v", r.Header)
	}
	r = on.Do(t, "GET", "/v1/info", nil, "Origin", "https://other.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://other.example" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Errorf("simple request headers %v", r.Header)
	}
}

func TestObservability(t *testing.T) {
	// One trace from the HTTP request through the gateway's gRPC service
	// to the index, continuing the caller's traceparent.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	var logs syncBuffer
	logger, err := observability.NewLogger(&logs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	g := gatewaytest.Start(t, gatewaytest.Options{Logger: logger})
	g.Ingest(t, corpus(10))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := g.Do(t, "POST", "/v1/search", map[string]any{"query": "graph"}, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r.Code != 200 {
		t.Fatalf("search = %d %s", r.Code, r.Body)
	}
	var sawIndex bool
	for _, x := range g.Indexes {
		for _, tp := range x.Traceparents() {
			sawIndex = sawIndex || strings.Contains(tp, traceID)
		}
	}
	if !sawIndex {
		t.Error("the index calls did not carry the request's trace")
	}
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			names[s.Name()] = true
		}
	}
	for _, want := range []string{"POST /v1/search", "arxivsearch.search.v1.SearchService/Search", "arxivsearch.index.v1.IndexService/Search", "arxivsearch.embedder.v1.EmbedderService/Embed"} {
		if !names[want] {
			t.Errorf("trace lacks span %q; has %v", want, names)
		}
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) || !strings.Contains(logs.String(), `"route":"POST /v1/search"`) {
		t.Errorf("no access log line with the trace id:\n%s", logs.String())
	}

	m := g.Do(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`http_request_duration_seconds_bucket{code="200",method="POST",route="POST /v1/search"`,
		`http_requests_total{code="200",method="POST",route="POST /v1/papers"}`,
		`api_request_count_total{endpoint="/v1/search",method="POST",status_code="200"}`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Search",grpc_service="arxivsearch.search.v1.SearchService"}`,
		`gateway_requests_in_flight`,
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReadyz(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	if r := g.Do(t, "GET", "/readyz", nil); r.Code != 200 || !strings.Contains(string(r.Body), `"status":"ready"`) {
		t.Errorf("/readyz = %d %s", r.Code, r.Body)
	}
	if r := g.Do(t, "GET", "/healthz", nil); r.Code != 200 {
		t.Errorf("/healthz = %d", r.Code)
	}
	g.IndexServers[1].SetServing(false)
	r := g.Do(t, "GET", "/readyz", nil)
	if r.Code != 503 || !strings.Contains(string(r.Body), `"NOT_SERVING"`) || !strings.Contains(string(r.Body), "index "+g.IndexServers[1].Addr()) ||
		!strings.Contains(string(r.Body), "shards 4-7 have no live replica") {
		t.Errorf("/readyz with an instance draining = %d %s", r.Code, r.Body)
	}

	// With a replica of every shard, one instance down leaves it ready.
	replicated := gatewaytest.Start(t, gatewaytest.Options{Shards: []string{"0-3", "4-7", ""}})
	replicated.IndexServers[0].SetServing(false)
	if r := replicated.Do(t, "GET", "/readyz", nil); r.Code != 200 || !strings.Contains(string(r.Body), `"NOT_SERVING"`) {
		t.Errorf("/readyz with a replicated instance draining = %d %s", r.Code, r.Body)
	}
	replicated.IndexServers[2].Stop()
	if r := replicated.Do(t, "GET", "/readyz", nil); r.Code != 503 || !strings.Contains(string(r.Body), "shards 0-3 have no live replica") {
		t.Errorf("/readyz with shards 0-3 down on both = %d %s", r.Code, r.Body)
	}

	// Instances that leave shards without an owner never make it ready.
	partial := gatewaytest.Start(t, gatewaytest.Options{Shards: []string{"0-3"}})
	r = partial.Do(t, "GET", "/readyz", nil)
	if r.Code != 503 || !strings.Contains(string(r.Body), `"unowned":[4,5,6,7]`) {
		t.Errorf("/readyz with shards 4-7 unowned = %d %s", r.Code, r.Body)
	}

	// An unreachable address is reported by name.
	down := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.IndexAddrs += ",127.0.0.1:1" }})
	r = down.Do(t, "GET", "/readyz", nil)
	if r.Code != 503 || !strings.Contains(string(r.Body), `"UNREACHABLE"`) || !strings.Contains(string(r.Body), "index 127.0.0.1:1") {
		t.Errorf("/readyz with an unreachable instance = %d %s", r.Code, r.Body)
	}
}

func TestStaticPagesAndOpenAPI(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	for path, ctype := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css", "/docs": "text/html", "/docs.js": "text/javascript"} {
		r := g.Do(t, "GET", path, nil)
		if r.Code != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s = %d %v", path, r.Code, r.Header)
		}
		if strings.Contains(string(r.Body), "http://") || strings.Contains(string(r.Body), "https://cdn") {
			t.Errorf("%s loads something from another origin", path)
		}
	}
	req, _ := http.NewRequest("GET", g.URL+"/static/index.html", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/" {
		t.Errorf("/static/index.html = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	r := g.Do(t, "GET", "/openapi.json", nil)
	var doc struct {
		Swagger string
		Paths   map[string]map[string]struct {
			Security []map[string]any
		}
	}
	r.JSON(t, &doc)
	for _, p := range []string{"/v1/search", "/v1/papers/{id}", "/v1/papers/{id}/similar", "/v1/papers", "/v1/embed", "/v1/info", "/v1/categories",
		"/health", "/embed", "/search", "/healthz", "/readyz", "/metrics"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("/openapi.json lacks %s", p)
		}
	}
	if len(doc.Paths["/v1/papers"]["post"].Security) != 1 || len(doc.Paths["/v1/papers/{id}"]["delete"].Security) != 1 || len(doc.Paths["/v1/search"]["post"].Security) != 0 {
		t.Error("/openapi.json marks the wrong routes as needing the write token")
	}
}

func TestCompatRoutesThroughTheGateway(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	papers := corpus(30)
	g.Ingest(t, papers)
	if r := g.Do(t, "GET", "/health", nil); r.Code != 200 || string(bytes.TrimSpace(r.Body)) != `{"device":"cpu","status":"ok"}` {
		t.Errorf("/health = %d %s", r.Code, r.Body)
	}
	r := g.Do(t, "POST", "/search", map[string]any{"abstract": "transformer attention", "k": 3, "nprobe": 16, "extra": "ignored"})
	var sr struct {
		Results []struct {
			Score          float64
			Title          string
			Abstract       string
			PrimarySubject string   `json:"primary_subject"`
			Subjects       []string `json:"subjects"`
			ArxivID        string   `json:"arxiv_id"`
		}
	}
	r.JSON(t, &sr)
	if r.Code != 200 || len(sr.Results) != 3 || sr.Results[0].ArxivID != expected(papers, "transformer attention", 1, nil)[0] ||
		sr.Results[0].PrimarySubject != "cs.CL" || !slices.Equal(sr.Results[0].Subjects, []string{"cs.CL", "cs.LG"}) {
		t.Errorf("/search = %d %s", r.Code, r.Body)
	}
	if last := g.Indexes[1].Searches(); last[len(last)-1].GetNprobe() != 16 || last[len(last)-1].GetMode() != indexv1.SearchMode_SEARCH_MODE_DENSE {
		t.Errorf("index saw %v", last[len(last)-1])
	}
	r = g.Do(t, "POST", "/embed", map[string]any{"abstract": "graph neural networks"})
	var er struct {
		Dim       int       `json:"embedding_dim"`
		Embedding []float64 `json:"embedding"`
	}
	r.JSON(t, &er)
	var norm float64
	for _, x := range er.Embedding {
		norm += x * x
	}
	if r.Code != 200 || er.Dim != 64 || len(er.Embedding) != 64 || math.Abs(norm-1) > 1e-5 {
		t.Errorf("/embed = %d, dim %d, len %d, norm² %v", r.Code, er.Dim, len(er.Embedding), norm)
	}
	// No index: 503 with a detail, as the seed answered without one.
	g.IndexServers[0].Stop()
	r = g.Do(t, "POST", "/search", map[string]any{"abstract": "graph"})
	if r.Code != 503 || !strings.Contains(string(r.Body), `"detail":"searching the index: shards 0-3 of 8 have no live replica`) {
		t.Errorf("/search without shards = %d %s", r.Code, r.Body)
	}
	if r := g.Do(t, "GET", "/search", nil); r.Code != 405 {
		t.Errorf("GET /search = %d, want 405", r.Code)
	}
}

func TestGRPCAPI(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.Ingest(t, corpus(20))
	conn, err := grpc.NewClient(g.App.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: searchv1.SearchService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v", h.GetStatus(), err)
	}
	c := searchv1.NewSearchServiceClient(conn)
	resp, err := c.Search(ctx, &searchv1.SearchRequest{Query: "dark matter", K: 3})
	if err != nil || len(resp.GetResults()) != 3 {
		t.Errorf("gRPC Search = %v, %v", resp, err)
	}
	if _, err := c.DeletePaper(ctx, &searchv1.DeletePaperRequest{Id: "2503.00001"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC delete without token: %v", err)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	base := app.Config{HTTPListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", EmbedderAddr: "x:1", IndexAddrs: "y:1",
		DefaultMode: "dense", MaxInFlight: 1, MaxBodyBytes: 1, HybridRRFK: 60, HybridWeight: 0.3, HybridDepth: 100}
	tests := []struct {
		name   string
		change func(*app.Config)
		want   string
	}{
		{"no index", func(c *app.Config) { c.IndexAddrs = " , " }, "-index-addrs"},
		{"no embedder", func(c *app.Config) { c.EmbedderAddr = "" }, "-embedder-addr"},
		{"bad mode", func(c *app.Config) { c.DefaultMode = "fuzzy" }, "-default-mode"},
		{"no slots", func(c *app.Config) { c.MaxInFlight = 0 }, "-max-in-flight"},
		{"no body", func(c *app.Config) { c.MaxBodyBytes = 0 }, "-max-body-bytes"},
		{"RRF constant 0", func(c *app.Config) { c.HybridRRFK = 0 }, "-hybrid-rrf-k"},
		{"negative lexical weight", func(c *app.Config) { c.HybridWeight = -0.5 }, "-hybrid-lexical-weight"},
		{"hybrid depth 0", func(c *app.Config) { c.HybridDepth = 0 }, "-hybrid-depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.change(&cfg)
			if _, err := app.Start(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
