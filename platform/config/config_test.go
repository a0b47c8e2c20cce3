package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		listen  string
		batch   int
		wait    time.Duration
		verbose bool
	}{
		{name: "defaults", listen: ":50051", batch: 32, wait: 5 * time.Millisecond},
		{name: "env", env: map[string]string{"EMBEDDER_LISTEN": ":1", "EMBEDDER_MAX_BATCH": "8", "EMBEDDER_MAX_WAIT": "1s", "EMBEDDER_VERBOSE": "true"},
			listen: ":1", batch: 8, wait: time.Second, verbose: true},
		{name: "flag beats env", args: []string{"-listen", ":2", "--max-batch=4"}, env: map[string]string{"EMBEDDER_LISTEN": ":1", "EMBEDDER_MAX_BATCH": "8"},
			listen: ":2", batch: 4, wait: 5 * time.Millisecond},
		{name: "other prefix ignored", env: map[string]string{"INDEX_LISTEN": ":3"}, listen: ":50051", batch: 32, wait: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("embedder", "EMBEDDER")
			s.SetLookupEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			listen := s.String("listen", ":50051", "gRPC listen address")
			batch := s.Int("max-batch", 32, "texts per batch")
			wait := s.Duration("max-wait", 5*time.Millisecond, "batch wait")
			verbose := s.Bool("verbose", false, "log more")
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if *listen != tt.listen || *batch != tt.batch || *wait != tt.wait || *verbose != tt.verbose {
				t.Errorf("got listen=%q batch=%d wait=%v verbose=%v, want %q %d %v %v",
					*listen, *batch, *wait, *verbose, tt.listen, tt.batch, tt.wait, tt.verbose)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "bad env int", env: map[string]string{"INDEX_K": "ten"}, want: `INDEX_K="ten": invalid value for -k (default "10")`},
		{name: "bad env duration", env: map[string]string{"INDEX_TIMEOUT": "5"}, want: `INDEX_TIMEOUT="5"`},
		{name: "bad flag", args: []string{"-k", "x"}, want: `invalid value "x" for flag -k`},
		{name: "unknown flag", args: []string{"-nope"}, want: "flag provided but not defined: -nope"},
		{name: "stray argument", args: []string{"serve"}, want: `unexpected arguments ["serve"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("index", "INDEX")
			s.FlagSetOutput(&bytes.Buffer{})
			s.SetLookupEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			s.Int("k", 10, "results")
			s.Duration("timeout", time.Second, "timeout")
			err := s.Parse(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestHelpListsEnv(t *testing.T) {
	s := New("gateway", "GATEWAY")
	var out bytes.Buffer
	s.FlagSetOutput(&out)
	s.String("http-listen", ":8080", "HTTP listen address")
	if err := s.Parse([]string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-http-listen", "GATEWAY_HTTP_LISTEN", `default ":8080"`, "HTTP listen address"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage %q lacks %q", out.String(), want)
		}
	}
	if got := s.Settings(); len(got) != 1 || got[0].Env != "GATEWAY_HTTP_LISTEN" {
		t.Errorf("Settings() = %+v", got)
	}
}

func TestUndocumented(t *testing.T) {
	s := New("index", "INDEX")
	s.String("data-dir", "var/index", "where shards live")
	s.Int("total-shards", 8, "shards | in all")
	var rows bytes.Buffer
	s.MarkdownRows(&rows)
	if got := s.Undocumented(rows.String()); len(got) != 0 {
		t.Errorf("settings missing from their own Markdown rows: %+v", got)
	}
	if !strings.Contains(rows.String(), `shards \| in all`) {
		t.Errorf("pipe not escaped in %q", rows.String())
	}
	got := s.Undocumented("| `-data-dir` | `INDEX_DATA_DIR` | ... |")
	if len(got) != 1 || got[0].Flag != "total-shards" {
		t.Errorf("Undocumented = %+v, want total-shards only", got)
	}
}
