package daemontest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// fatalTB records a Fatal instead of ending the real test, so that the
// failure paths can be checked.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a fatalTB on its own goroutine and returns what it
// failed with ("" when it returned).
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.fatal
}

func TestWaitServing(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	for _, tc := range []struct {
		name, addr, service string
		fails               bool
	}{
		{"whole server", addr, "", false},
		{"serving service", addr, "up", false},
		{"not serving service", addr, "down", true},
		{"unknown service", addr, "other", true},
		{"nothing listening", FreeAddr(t), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := fails(t, func(tb testing.TB) { WaitServing(tb, tc.addr, tc.service, 300*time.Millisecond) })
			if (msg != "") != tc.fails {
				t.Errorf("WaitServing(%s, %q) failed with %q, want failure %v", tc.addr, tc.service, msg, tc.fails)
			}
		})
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/late":
			// Not ready for the first two checks, as a daemon warming up.
			if calls.Add(1) <= 2 {
				http.Error(w, "warming up", http.StatusServiceUnavailable)
				return
			}
		case "/never":
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		url   string
		fails bool
	}{
		{srv.URL + "/now", false},
		{srv.URL + "/late", false},
		{srv.URL + "/never", true},
		{"http://" + FreeAddr(t) + "/", true},
	} {
		msg := fails(t, func(tb testing.TB) { WaitHTTP(tb, tc.url, 600*time.Millisecond) })
		if (msg != "") != tc.fails {
			t.Errorf("WaitHTTP(%s) failed with %q, want failure %v", tc.url, msg, tc.fails)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("/late was asked %d times, want 3 (answers until the first 200)", n)
	}
}

// TestProcStopKill starts real processes: Stop ends one with SIGTERM at
// once, Kill one that ignores SIGTERM, and their output lands in the log.
func TestProcStopKill(t *testing.T) {
	sh, err := os.Stat("/bin/sh")
	if err != nil || sh.IsDir() {
		t.Skip("no /bin/sh")
	}
	t.Run("stop", func(t *testing.T) {
		p := Start(t, "sleeper", "/bin/sh", nil, "-c", "echo started; exec sleep 60")
		began := time.Now()
		waitLog(t, p, "started")
		p.Stop()
		if d := time.Since(began); d > 10*time.Second {
			t.Errorf("Stop took %v: SIGTERM should end sleep at once", d)
		}
		select {
		case <-p.Done():
		default:
			t.Error("Done is open after Stop")
		}
		p.Stop() // exited: does nothing
	})
	t.Run("kill", func(t *testing.T) {
		p := Start(t, "stubborn", "/bin/sh", []string{"PATH=" + os.Getenv("PATH")}, "-c", "trap '' TERM; echo trapped; while :; do sleep 1; done")
		waitLog(t, p, "trapped")
		began := time.Now()
		p.Kill(t)
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("Kill took %v", d)
		}
		p.Kill(t) // exited: does nothing
	})
}

func waitLog(t *testing.T, p *Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%q never appeared in %s", want, filepath.Base(p.log))
}

func TestFreeAddrIsLoopbackAndFree(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q, want a 127.0.0.1 address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen on FreeAddr's %s: %v", addr, err)
	}
	l.Close()
}
