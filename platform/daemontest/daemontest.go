// Package daemontest runs the project's daemons as real processes for
// tests: it builds their commands from the workspace, picks free loopback
// ports, starts processes with their output in a log, waits until a gRPC
// health check answers SERVING or an HTTP URL answers 200, and stops them
// when the test ends (SIGTERM, then SIGKILL), showing the end of each log
// when the test failed. Only _test.go files and test helpers import it.
package daemontest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const (
	// stopGrace is how long a process gets to shut down after SIGTERM:
	// the index persists its shards on the way out.
	stopGrace = 15 * time.Second
	// logTail is how much of a log a failed test shows, enough for the
	// last few errors without flooding the output.
	logTail = 4000
	// pollEvery paces the readiness checks.
	pollEvery = 100 * time.Millisecond
)

// WorkspaceRoot returns the directory holding go.work above the test's
// working directory; the daemons are built from it. It skips the test
// outside the workspace (a module copied on its own).
func WorkspaceRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("not inside the workspace (no go.work above the test): the daemons are built from it")
		}
		dir = parent
	}
}

// ONNXRuntimeLib is the ONNX Runtime library the embedder loads:
// $ONNXRUNTIME_LIB, else where make setup installs it under root. The
// error says it is absent; callers decide whether that skips or fails.
func ONNXRuntimeLib(root string) (string, error) {
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		lib = filepath.Join(root, "third_party", "onnxruntime", "1.24.1", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil {
		return lib, fmt.Errorf("ONNX Runtime library %s is absent: %w", lib, err)
	}
	return lib, nil
}

var (
	builtMu sync.Mutex
	built   = map[string]string{} // packages, joined -> directory
)

// Build links the commands pkgs (paths relative to the workspace root,
// such as ./services/index/cmd/index) and returns the directory holding
// them, named after each command. The directory is kept per checkout, so
// that go build, which leaves an up-to-date binary alone, relinks only
// what changed; a file lock keeps test binaries running in parallel from
// linking into it at the same time. Within one test binary each set of
// commands is built once.
func Build(tb testing.TB, pkgs ...string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the daemons; skipped with -short")
	}
	root := WorkspaceRoot(tb)
	key := strings.Join(pkgs, " ")
	builtMu.Lock()
	defer builtMu.Unlock()
	if dir, ok := built[key]; ok {
		return dir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(base, "arxivsearch-daemontest", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	began := time.Now()
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	tb.Logf("built %s in %v", key, time.Since(began).Round(time.Millisecond))
	built[key] = dir
	return dir
}

// FreeAddr returns a loopback address nothing listens on now, for a
// daemon to listen on.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a started process.
type Proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start runs program with args, its stdout and stderr going to a log, and
// stops it when tb ends. env is its whole environment; nil inherits the
// test's. name labels the log.
func Start(tb testing.TB, name, program string, env []string, args ...string) *Proc {
	tb.Helper()
	log, err := os.CreateTemp(tb.TempDir(), name+"-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(program, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{name: name, cmd: cmd, log: log.Name(), done: make(chan struct{})}
	go func() {
		cmd.Wait()
		log.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			p.showLog(tb)
		}
	})
	return p
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop ends the process gracefully (SIGTERM), or kills it when it has not
// exited within 15s. Stopping an exited process does nothing.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process at once (SIGKILL), as a crash would, and waits
// for it.
func (p *Proc) Kill(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Fatal(err)
	}
	<-p.done
}

func (p *Proc) showLog(tb testing.TB) {
	b, _ := os.ReadFile(p.log)
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	tb.Logf("--- %s log %s (end)\n%s", p.name, filepath.Base(p.log), b)
}

// WaitServing waits until the gRPC server at addr reports service (""
// for the whole server) SERVING, failing the test after within.
func WaitServing(tb testing.TB, addr, service string, within time.Duration) {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = fmt.Sprint(r.GetStatus(), " ", err)
		time.Sleep(pollEvery)
	}
	tb.Fatalf("%s: health of %q not SERVING after %v: %s", addr, service, within, last)
}

// WaitHTTP waits until a GET of url answers 200, failing the test after
// within with the last answer.
func WaitHTTP(tb testing.TB, url string, within time.Duration) {
	tb.Helper()
	// A bounded attempt keeps a hung server from outliving within.
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s %s", resp.Status, b)
		} else {
			last = err.Error()
		}
		time.Sleep(pollEvery)
	}
	tb.Fatalf("GET %s: not 200 after %v: %s", url, within, last)
}
