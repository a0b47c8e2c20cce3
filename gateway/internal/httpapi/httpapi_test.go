package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestRewriteOldStyleIDs(t *testing.T) {
	tests := []struct {
		target      string
		wantEscaped string
	}{
		{"/v1/papers/hep-th/9901001", "/v1/papers/hep-th%2F9901001"},
		{"/v1/papers/hep-th%2F9901001", "/v1/papers/hep-th%2F9901001"},
		{"/v1/papers/hep-th/9901001v2/similar?k=3", "/v1/papers/hep-th%2F9901001v2/similar"},
		{"/v1/papers/math.GT/0309136", "/v1/papers/math.GT%2F0309136"},
		{"/v1/papers/2503.01234", "/v1/papers/2503.01234"},
		{"/v1/papers/2503.01234/similar", "/v1/papers/2503.01234/similar"},
		{"/v1/papers/hep-th/99010", "/v1/papers/hep-th/99010"},                 // not an id: left alone
		{"/v1/papers/hep-th/9901001/other", "/v1/papers/hep-th/9901001/other"}, // no such route: left alone
		{"/v1/search", "/v1/search"},
	}
	for _, tt := range tests {
		var got string
		h := rewriteOldStyleIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.EscapedPath() }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tt.target, nil))
		if got != tt.wantEscaped {
			t.Errorf("%s routed as %s, want %s", tt.target, got, tt.wantEscaped)
		}
	}
}

func TestDecodeSlashInParams(t *testing.T) {
	var got map[string]string
	h := decodeSlashInParams(func(w http.ResponseWriter, r *http.Request, p map[string]string) { got = p })
	h(nil, nil, map[string]string{"id": "hep-th%2F9901001", "other": "math.GT%2f0309136", "plain": "2503.01234"})
	if got["id"] != "hep-th/9901001" || got["other"] != "math.GT/0309136" || got["plain"] != "2503.01234" {
		t.Errorf("params = %v", got)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths               map[string]map[string]json.RawMessage
		SecurityDefinitions map[string]any
		Tags                []struct{ Name string }
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.SecurityDefinitions["bearer"] == nil || len(d.Tags) != 3 {
		t.Errorf("security %v, tags %v", d.SecurityDefinitions, d.Tags)
	}
	want := []string{"DELETE /v1/papers/{id}", "GET /v1/categories", "GET /v1/info", "GET /v1/papers/{id}", "GET /v1/papers/{id}/similar",
		"POST /v1/embed", "POST /v1/papers", "POST /v1/search"}
	if got := restPatterns(doc); !slices.Equal(got, want) {
		t.Errorf("REST routes %v, want %v", got, want)
	}
}

func TestLimitBodyAndCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name     string
		origins  []string
		method   string
		path     string
		body     string
		headers  map[string]string
		wantCode int
		wantACAO string
	}{
		{name: "small body", method: "POST", path: "/v1/search", body: "1234", wantCode: http.StatusTeapot},
		{name: "big body, API shape", method: "POST", path: "/v1/search", body: "123456", wantCode: http.StatusRequestEntityTooLarge},
		{name: "big body, seed shape", method: "POST", path: "/search", body: "123456", wantCode: http.StatusRequestEntityTooLarge},
		{name: "any origin", origins: []string{"*"}, method: "GET", path: "/v1/info", headers: map[string]string{"Origin": "https://x.example"}, wantCode: http.StatusTeapot, wantACAO: "*"},
		{name: "preflight", origins: []string{"https://x.example/"}, method: "OPTIONS", path: "/v1/papers",
			headers: map[string]string{"Origin": "https://x.example", "Access-Control-Request-Method": "POST"}, wantCode: http.StatusNoContent, wantACAO: "https://x.example"},
		{name: "preflight from elsewhere", origins: []string{"https://x.example"}, method: "OPTIONS", path: "/v1/papers",
			headers: map[string]string{"Origin": "https://y.example", "Access-Control-Request-Method": "POST"}, wantCode: http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cors(tt.origins, limitBody(5, ok))
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.body != "" {
				req = httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Header().Get("Access-Control-Allow-Origin") != tt.wantACAO {
				t.Errorf("= %d ACAO %q, want %d %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), tt.wantCode, tt.wantACAO)
			}
			if rec.Code == http.StatusRequestEntityTooLarge {
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatal(err)
				}
				_, seed := body["detail"]
				_, api := body["code"]
				if seed != (tt.path == "/search") || api == seed {
					t.Errorf("413 body %s has the wrong shape for %s", rec.Body, tt.path)
				}
			}
		})
	}
}
