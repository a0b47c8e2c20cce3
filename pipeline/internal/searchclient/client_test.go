package searchclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"dense", Dense, false},
		{" Lexical ", Lexical, false},
		{"SEARCH_MODE_HYBRID", Hybrid, false},
		{"bm25", "", true},
		{"", "", true},
	} {
		got, err := ParseMode(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseMode(%q) = %q, %v", tc.in, got, err)
		}
	}
	if Hybrid.Short() != "hybrid" {
		t.Errorf("Short = %q", Hybrid.Short())
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://x", "http://", "::"} {
		if _, err := New(u, 1); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// TestCalls checks requests (paths, bodies, the token only on writes) and
// how answers and errors are read, against a server that plays the
// gateway's answers.
func TestCalls(t *testing.T) {
	var busy atomic.Int32
	busy.Store(2) // the first two searches are refused for load
	var searches atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/search", func(w http.ResponseWriter, r *http.Request) {
		searches.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Error("search sent the write token")
		}
		if busy.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":8,"message":"busy"}`, http.StatusTooManyRequests)
			return
		}
		var req SearchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Query != "q" || req.K != 100 || req.Mode != Lexical {
			t.Errorf("search body %+v, %v", req, err)
		}
		w.Write([]byte(`{"results":[{"rank":1,"score":2.5,"id":"2503.00001","title":"x","primary_category":"cs.CL"}],"took_ms":1.5,"partial":false,"missing_shards":[],"mode":"SEARCH_MODE_LEXICAL"}`))
	})
	mux.HandleFunc("POST /v1/papers", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"code":16,"message":"no token"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"inserted":1,"replaced":0,"took_ms":3}`))
	})
	mux.HandleFunc("DELETE /v1/papers/{id...}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "hep-th/9901001" {
			http.Error(w, `{"code":5,"message":"paper `+r.PathValue("id")+` is not in the index"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"id":"hep-th/9901001"}`))
	})
	mux.HandleFunc("GET /v1/papers/{id...}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "gone" {
			http.Error(w, `{"code":5,"message":"no"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"id":"x"}`))
	})
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"model":"default","dimension":256,"papers_indexed":"12","total_shards":2,"shards":[{"shard":0,"replicas":[{"address":"127.0.0.1:1","serving":true,"papers":"7"}]}],"default_mode":"SEARCH_MODE_DENSE"}`))
	})
	mux.HandleFunc("POST /v1/embed", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":14,"message":"no embedder"}`, http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(srv.URL+"/", 2)
	if err != nil {
		t.Fatal(err)
	}
	c.Token, c.MaxWait = "tok", 10*time.Millisecond
	ctx := context.Background()

	resp, err := c.Search(ctx, SearchRequest{Query: "q", K: 100, Mode: Lexical})
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ID != "2503.00001" || resp.Mode != Lexical || searches.Load() != 3 {
		t.Errorf("search after two 429s = %+v, %v (%d calls)", resp, err, searches.Load())
	}
	if r, err := c.Ingest(ctx, []Paper{{ID: "2503.00001", Title: "t"}}); err != nil || r.Inserted != 1 {
		t.Errorf("ingest = %+v, %v", r, err)
	}
	c.Token = ""
	if _, err := c.Ingest(ctx, []Paper{{ID: "2503.00001", Title: "t"}}); err == nil || !strings.Contains(err.Error(), "401 Unauthorized: no token") {
		t.Errorf("ingest without token: %v", err)
	}
	if err := c.Delete(ctx, "hep-th/9901001"); err != nil {
		t.Errorf("delete of an old-style id: %v", err)
	}
	if err := c.Delete(ctx, "2503.00002"); !IsNotFound(err) {
		t.Errorf("delete of a missing paper: %v, want not found", err)
	}
	if ok, err := c.Has(ctx, "x"); !ok || err != nil {
		t.Errorf("Has(x) = %v, %v", ok, err)
	}
	if ok, err := c.Has(ctx, "gone"); ok || err != nil {
		t.Errorf("Has(gone) = %v, %v", ok, err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.PapersIndexed != 12 || info.Shards[0].Replicas[0].Papers != 7 || info.DefaultMode != Dense {
		t.Errorf("info = %+v, %v", info, err)
	}
	c.Attempts = 3
	_, err = c.Embed(ctx, []string{"a"})
	var apiErr *Error
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "no embedder") {
		t.Errorf("embed with no embedder: %v", err)
	} else if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Code != 14 {
		t.Errorf("embed error %#v", err)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, 1)
	c.MaxWait = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Info(ctx); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled call returned after %v", d)
	}
}
