// Package teststack runs the whole system for tests that go through the
// public API with real components: it builds the embedder, index and
// gateway binaries from the workspace (go build, kept per checkout so that
// a later run only relinks what changed) and starts them as processes on
// loopback ports, the embedder serving a real model with ONNX Runtime.
// Only _test.go files import it. It skips the test in -short mode, outside
// the workspace, and when ONNX Runtime is absent.
package teststack

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/daemontest"
)

// Token is the gateway's write token.
const Token = "teststack-token"

// Options shape the deployment.
type Options struct {
	// ModelDir is the model directory the embedder serves (required).
	ModelDir string
	// TotalShards of the collection, all owned by one index instance;
	// 0 means 8.
	TotalShards int
	// IndexArgs are more flags of the index (-flat-threshold ...).
	IndexArgs []string
}

// Stack is a running deployment.
type Stack struct {
	// URL is the gateway's REST base URL.
	URL          string
	EmbedderAddr string
	IndexAddr    string
}

// Start builds and starts embedder, index and gateway, waits until the
// gateway is ready, and stops them when the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the embedder, index and gateway; skipped with -short")
	}
	root := daemontest.WorkspaceRoot(t)
	lib, err := daemontest.ONNXRuntimeLib(root)
	if err != nil {
		t.Skipf("%v (make setup installs it; make test exports ONNXRUNTIME_LIB)", err)
	}
	if o.TotalShards == 0 {
		o.TotalShards = 8
	}
	bin := daemontest.Build(t, "./services/embedder/cmd/embedder", "./services/index/cmd/index", "./gateway/cmd/gateway")
	began := time.Now()

	s := &Stack{EmbedderAddr: daemontest.FreeAddr(t), IndexAddr: daemontest.FreeAddr(t)}
	httpAddr, grpcAddr := daemontest.FreeAddr(t), daemontest.FreeAddr(t)
	daemontest.Start(t, "embedder", filepath.Join(bin, "embedder"), nil, "-listen", s.EmbedderAddr, "-metrics-listen", "",
		"-model-dir", o.ModelDir, "-onnxruntime-lib", lib, "-log-level", "warn")
	// One OpenMP thread per search, as make run starts the index: it
	// parallelises over shards itself.
	daemontest.Start(t, "index", filepath.Join(bin, "index"), append(os.Environ(), "OMP_NUM_THREADS=1"),
		append([]string{"-listen", s.IndexAddr, "-metrics-listen", "", "-data-dir", filepath.Join(t.TempDir(), "index"),
			"-total-shards", strconv.Itoa(o.TotalShards), "-log-level", "warn"}, o.IndexArgs...)...)
	daemontest.Start(t, "gateway", filepath.Join(bin, "gateway"), nil, "-http-listen", httpAddr, "-grpc-listen", grpcAddr,
		"-embedder-addr", s.EmbedderAddr, "-index-addrs", s.IndexAddr, "-write-token", Token, "-index-refresh", "1s", "-log-level", "warn")
	daemontest.WaitServing(t, s.EmbedderAddr, "", 2*time.Minute)
	daemontest.WaitServing(t, s.IndexAddr, "", time.Minute)
	s.URL = "http://" + httpAddr
	daemontest.WaitHTTP(t, s.URL+"/readyz", time.Minute)
	t.Logf("embedder, index and gateway ready in %v", time.Since(began).Round(time.Millisecond))
	return s
}
