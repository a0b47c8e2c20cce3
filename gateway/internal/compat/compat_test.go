package compat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stub records the calls the routes make and answers them.
type stub struct {
	search *searchv1.SearchRequest
	err    error
	device string
}

func (s *stub) Search(_ context.Context, in *searchv1.SearchRequest, _ ...grpc.CallOption) (*searchv1.SearchResponse, error) {
	s.search = in
	if s.err != nil {
		return nil, s.err
	}
	return &searchv1.SearchResponse{Results: []*searchv1.SearchResult{
		{Rank: 1, Score: 0.9, Id: "2503.00001", Title: "T1", Abstract: "A1", Categories: []string{"cs.CL", "cs.LG"}, PrimaryCategory: "cs.CL"},
		{Rank: 2, Score: 0.8, Id: "hep-th/9901001", Title: "T2", Abstract: "A2", PrimaryCategory: "hep-th"},
	}}, nil
}

func (s *stub) Embed(_ context.Context, in *searchv1.EmbedRequest, _ ...grpc.CallOption) (*searchv1.EmbedResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &searchv1.EmbedResponse{Embeddings: []*searchv1.Embedding{{Vector: []float32{0.6, 0.8}}}, Dimension: 2}, nil
}

func (s *stub) GetInfo(context.Context, *searchv1.GetInfoRequest, ...grpc.CallOption) (*searchv1.GetInfoResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &searchv1.GetInfoResponse{Device: s.device}, nil
}

func serve(h http.Handler, method, body string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/", strings.NewReader(body)))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestSearch(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		err        error
		wantCode   int
		wantBody   string // exact JSON, when set
		wantK      int32
		wantNprobe int32
	}{
		{name: "defaults", body: `{"abstract": "attention"}`, wantCode: 200, wantK: 10,
			wantBody: `{"results":[{"score":0.9,"title":"T1","abstract":"A1","primary_subject":"cs.CL","subjects":["cs.CL","cs.LG"],"arxiv_id":"2503.00001"},` +
				`{"score":0.8,"title":"T2","abstract":"A2","primary_subject":"hep-th","subjects":[],"arxiv_id":"hep-th/9901001"}]}`},
		{name: "k and nprobe", body: `{"abstract": "x", "k": 5, "nprobe": 16}`, wantCode: 200, wantK: 5, wantNprobe: 16},
		{name: "lax integers", body: `{"abstract": "x", "k": "7", "nprobe": 3.0}`, wantCode: 200, wantK: 7, wantNprobe: 3},
		{name: "null nprobe, extra keys", body: `{"abstract": "x", "nprobe": null, "other": 1}`, wantCode: 200, wantK: 10},
		{name: "empty abstract", body: `{"abstract": ""}`, wantCode: 400, wantBody: `{"detail":"Abstract must not be empty"}`},
		{name: "blank abstract", body: `{"abstract": " \n\t"}`, wantCode: 400, wantBody: `{"detail":"Abstract must not be empty"}`},
		{name: "missing abstract", body: `{"k": 5}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"missing","loc":["body","abstract"],"msg":"Field required","input":{"k":5}}]}`},
		{name: "k zero", body: `{"abstract": "x", "k": 0}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"greater_than_equal","loc":["body","k"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}]}`},
		{name: "k 101", body: `{"abstract": "x", "k": 101}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"less_than_equal","loc":["body","k"],"msg":"Input should be less than or equal to 100","input":101,"ctx":{"le":100}}]}`},
		{name: "nprobe 1025", body: `{"abstract": "x", "nprobe": 1025}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"less_than_equal","loc":["body","nprobe"],"msg":"Input should be less than or equal to 1024","input":1025,"ctx":{"le":1024}}]}`},
		{name: "fractional k", body: `{"abstract": "x", "k": 2.5}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"int_from_float","loc":["body","k"],"msg":"Input should be a valid integer, got a number with a fractional part","input":2.5}]}`},
		{name: "k not a number", body: `{"abstract": "x", "k": "ten"}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"int_parsing","loc":["body","k"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}]}`},
		{name: "k null", body: `{"abstract": "x", "k": null}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"int_type","loc":["body","k"],"msg":"Input should be a valid integer","input":null}]}`},
		{name: "several errors at once", body: `{"abstract": 3, "k": 0}`, wantCode: 422,
			wantBody: `{"detail":[{"type":"string_type","loc":["body","abstract"],"msg":"Input should be a valid string","input":3},` +
				`{"type":"greater_than_equal","loc":["body","k"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}]}`},
		{name: "not an object", body: `["x"]`, wantCode: 422,
			wantBody: `{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":["x"]}]}`},
		{name: "no body", body: ``, wantCode: 422, wantBody: `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
		{name: "broken JSON", body: `{"abstract": `, wantCode: 422},
		{name: "no index", body: `{"abstract": "x"}`, err: status.Error(codes.Unavailable, "shards 0-3 have no live replica"), wantCode: 503,
			wantBody: `{"detail":"shards 0-3 have no live replica"}`},
		{name: "overloaded", body: `{"abstract": "x"}`, err: status.Error(codes.ResourceExhausted, "busy"), wantCode: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stub{err: tt.err}
			code, body := serve(Search(s), "POST", tt.body)
			if code != tt.wantCode {
				t.Fatalf("status %d %s, want %d", code, body, tt.wantCode)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body\n%s\nwant\n%s", body, tt.wantBody)
			}
			if code >= 400 && !json.Valid([]byte(body)) || !strings.Contains(body, `"detail"`) && code >= 400 {
				t.Errorf("error body %s is not {\"detail\": ...}", body)
			}
			if tt.wantK != 0 && (s.search.GetK() != tt.wantK || s.search.GetNprobe() != tt.wantNprobe || s.search.GetMode() != searchv1.SearchMode_SEARCH_MODE_DENSE) {
				t.Errorf("sent %v, want k %d nprobe %d dense", s.search, tt.wantK, tt.wantNprobe)
			}
			if code >= 400 && tt.err == nil && s.search != nil {
				t.Error("an invalid request reached the service")
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		err      error
		wantCode int
		wantBody string
	}{
		{"ok", `{"abstract": "text"}`, nil, 200, `{"embedding":[0.6,0.8],"embedding_dim":2}`},
		{"blank", `{"abstract": "  "}`, nil, 400, `{"detail":"Abstract must not be empty"}`},
		{"missing", `{}`, nil, 422, `{"detail":[{"type":"missing","loc":["body","abstract"],"msg":"Field required","input":{}}]}`},
		{"not a string", `{"abstract": ["a"]}`, nil, 422, `{"detail":[{"type":"string_type","loc":["body","abstract"],"msg":"Input should be a valid string","input":["a"]}]}`},
		{"null", `{"abstract": null}`, nil, 422, `{"detail":[{"type":"string_type","loc":["body","abstract"],"msg":"Input should be a valid string","input":null}]}`},
		{"embedder down", `{"abstract": "x"}`, status.Error(codes.Unavailable, "no embedder could answer"), 503, `{"detail":"no embedder could answer"}`},
		{"too long", `{"abstract": "x"}`, status.Error(codes.InvalidArgument, "texts[0]: is 40000 bytes"), 400, `{"detail":"texts[0]: is 40000 bytes"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := serve(Embed(&stub{err: tt.err}), "POST", tt.body)
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("= %d %s, want %d %s", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	for device, want := range map[string]string{"cpu": "cpu", "cuda:0": "cuda"} {
		code, body := serve(Health(&stub{device: device}), "GET", "")
		if code != 200 || body != `{"device":"`+want+`","status":"ok"}` {
			t.Errorf("device %s: %d %s", device, code, body)
		}
	}
	code, body := serve(Health(&stub{err: status.Error(codes.Unavailable, "no embedder could answer")}), "GET", "")
	if code != 503 || !strings.Contains(body, `"detail":"no embedder could answer"`) {
		t.Errorf("embedder down: %d %s", code, body)
	}
}
