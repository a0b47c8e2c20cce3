package stack

import (
	"context"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestLoadRepositoryStack(t *testing.T) {
	s, err := Load(context.Background(), ComposeFile, map[string]string{"ARXIVSEARCH_EMBEDDER": "embedder-gpu"})
	if err != nil {
		t.Fatal(err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		v, ok := s.Service(name)
		if !ok {
			t.Fatalf("no service %s", name)
		}
		return v
	}
	for _, tc := range []struct {
		service, program, daemon string
		enabled                  bool
	}{
		{"embedder", "embedder", "embedder", true},
		{"embedder-gpu", "embedder", "embedder", false},
		{"index-a", "index", "index", true},
		{"gateway", "gateway", "gateway", true},
		{"index-build", "arxivsearch", "", true},
		{"prometheus", "", "", true},
	} {
		sc := svc(tc.service)
		prog, err := s.Program(sc)
		if err != nil || prog != tc.program {
			t.Errorf("Program(%s) = %q, %v; want %q", tc.service, prog, err, tc.program)
		}
		if d, err := s.Daemon(sc); err != nil || d != tc.daemon {
			t.Errorf("Daemon(%s) = %q, %v; want %q", tc.service, d, err, tc.daemon)
		}
		if got := s.Enabled(tc.service); got != tc.enabled {
			t.Errorf("Enabled(%s) = %v", tc.service, got)
		}
	}
	for _, tc := range []struct{ service, flag, want, from string }{
		{"index-b", "shards", "4-7", "compose environment"},
		{"embedder", "listen", ":50051", "image ENV"},
		{"embedder-gpu", "device", "cuda", "image ENV of another target"},
		{"gateway", "index-refresh", "10s", "documented default"},
		{"gateway", "write-token", "", "compose default of an unset variable"},
		{"gateway", "embedder-addr", "embedder-gpu:50051", "interpolated from the environment given"},
	} {
		if got, err := s.Value(svc(tc.service), tc.flag); err != nil || got != tc.want {
			t.Errorf("%s -%s = %q, %v; want %q (%s)", tc.service, tc.flag, got, err, tc.want, tc.from)
		}
	}
	if p, err := s.ListenPort(svc("index-a"), "metrics-listen"); err != nil || p != "9102" {
		t.Errorf("index-a metrics port = %q, %v", p, err)
	}
	if _, err := s.Value(svc("gateway"), "no-such-flag"); err == nil {
		t.Error("Value of an undocumented flag succeeded")
	}
	if _, err := s.Value(svc("jaeger"), "listen"); err == nil {
		t.Error("Value for a service that runs no daemon succeeded")
	}
}
