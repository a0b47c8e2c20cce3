package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLoadtestCommand(t *testing.T) {
	var mu sync.Mutex
	longQueries := 0
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/search", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var b struct {
			Query string `json:"query"`
		}
		json.NewDecoder(r.Body).Decode(&b)
		if len(b.Query) > 200 {
			mu.Lock()
			longQueries++
			mu.Unlock()
		}
		w.Write([]byte(`{"results":[]}`))
	})
	mux.HandleFunc("POST /v1/embed", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("ok"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	input := filepath.Join("..", "..", "sample", "arxiv-sample.jsonl.gz")
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    []string
	}{
		{
			name: "closed loop with input and json",
			args: []string{"-target", srv.URL, "-concurrency", "4", "-requests", "50", "-duration", "5s",
				"-input", input, "-input-limit", "100", "-json", jsonPath},
			want: []string{"| total | 50 |", "| embed | 5 |", "503: 5"},
		},
		{
			name: "open loop",
			args: []string{"-target", srv.URL, "-rate", "200", "-requests", "20", "-mix", "health=1"},
			want: []string{"| health | 20 |", "rate 200/s"},
		},
		{name: "remote address refused", args: []string{"-target", "http://203.0.113.7:8080", "-requests", "1"}, wantErr: "203.0.113.7"},
		{name: "remote address refused", args: []string{"-target", "http://10.1.2.3", "-requests", "1"}, wantErr: "not a loopback"},
		{name: "bad mix", args: []string{"-target", srv.URL, "-mix", "search=1"}, wantErr: "unknown route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			var out, errOut strings.Builder
			err := run(context.Background(), append([]string{"loadtest"}, tc.args...), &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if n := hits.Load() - before; n != 0 {
					t.Errorf("%d requests sent", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	mu.Lock()
	if longQueries == 0 {
		t.Error("no long query reached the server")
	}
	mu.Unlock()
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Total struct {
			Requests int `json:"requests"`
			Errors   int `json:"errors"`
		} `json:"total"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Total.Requests != 50 || rep.Total.Errors != 5 {
		t.Errorf("JSON report %s (%v)", b, err)
	}
}
