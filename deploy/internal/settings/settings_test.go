package settings

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadRepositoryPage(t *testing.T) {
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ daemon, flag, env, def string }{
		{"embedder", "listen", "EMBEDDER_LISTEN", ":50051"},
		{"index", "total-shards", "INDEX_TOTAL_SHARDS", "8"},
		{"gateway", "http-listen", "GATEWAY_HTTP_LISTEN", ":8080"},
	} {
		s, ok := cfg.Flag(tc.daemon, tc.flag)
		if !ok || s.Env != tc.env || s.Default != tc.def {
			t.Errorf("%s -%s = %+v, %v; want env %s default %s", tc.daemon, tc.flag, s, ok, tc.env, tc.def)
		}
		if _, ok := cfg.Env(tc.daemon, tc.env); !ok {
			t.Errorf("%s: no variable %s", tc.daemon, tc.env)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, page := range map[string]string{
		"missing daemon": "## embedder\n| `-listen` | `EMBEDDER_LISTEN` | `:1` | x |\n## index\n| `-listen` | `INDEX_LISTEN` | `:2` | x |\n",
		"short row":      "## embedder\n| `-listen` | `EMBEDDER_LISTEN` |\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.md")
			if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(p); err == nil {
				t.Error("Parse succeeded, want an error")
			}
		})
	}
}

func TestDaemonOfEnv(t *testing.T) {
	for in, want := range map[string]string{"EMBEDDER_DEVICE": "embedder", "INDEX_SHARDS": "index", "GATEWAY_X": "gateway", "OMP_NUM_THREADS": ""} {
		if got := DaemonOfEnv(in); got != want {
			t.Errorf("DaemonOfEnv(%q) = %q, want %q", in, got, want)
		}
	}
}
