// Package testbackend provides in-memory implementations of the embedder
// and index gRPC services, served over real loopback gRPC, for the
// gateway's tests. It is imported only by _test.go files; nothing in the
// gateway's binary uses it.
//
// The embedder is a hashing bag-of-words vectorizer: texts that share words
// get close vectors, so searches return meaningful neighbours without a
// model. The index searches exactly (brute force) over the shards it owns,
// with the same contract as the real index: shard selection, category
// filter, excluded ids, model check, top-k merged by score then id.
package testbackend

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Server is a gRPC server on a loopback port that can be stopped and
// started again on the same address, as a crashed and restarted process.
type Server struct {
	t        testing.TB
	register func(*grpc.Server)
	services []string

	mu     sync.Mutex
	addr   string
	grpc   *grpc.Server
	health *health.Server
}

// Serve starts a server with the given services registered by register and
// the health protocol reporting each of services SERVING. It stops when
// the test ends.
func Serve(t testing.TB, register func(*grpc.Server), services ...string) *Server {
	t.Helper()
	s := &Server{t: t, register: register, services: services}
	s.start("127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(addr string) {
	s.t.Helper()
	var lis net.Listener
	var err error
	// A port just released can take a moment to be free again.
	for range 50 {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("testbackend: listen on %s: %v", addr, err)
	}
	g := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	s.register(g)
	for _, name := range s.services {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	go g.Serve(lis)
	s.mu.Lock()
	s.addr, s.grpc, s.health = lis.Addr().String(), g, h
	s.mu.Unlock()
}

// Addr is the server's address, the same across restarts.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop kills the server: connections are cut and calls in flight fail.
func (s *Server) Stop() {
	s.mu.Lock()
	g := s.grpc
	s.grpc = nil
	s.mu.Unlock()
	if g != nil {
		g.Stop()
	}
}

// Restart starts a stopped server again on its address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(s.Addr())
}

// SetServing sets what the health protocol reports for every service.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.services {
		s.health.SetServingStatus(name, st)
	}
}

// injector returns per-method errors set by a test.
type injector struct {
	mu    sync.Mutex
	errs  map[string]error
	delay map[string]time.Duration
	calls map[string]int
}

func (in *injector) set(method string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.errs == nil {
		in.errs = map[string]error{}
	}
	in.errs[method] = err
}

func (in *injector) setDelay(method string, d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.delay == nil {
		in.delay = map[string]time.Duration{}
	}
	in.delay[method] = d
}

// enter counts a call and returns the error to fail it with, after the
// configured delay.
func (in *injector) enter(ctx context.Context, method string) error {
	in.mu.Lock()
	if in.calls == nil {
		in.calls = map[string]int{}
	}
	in.calls[method]++
	err, d := in.errs[method], in.delay[method]
	in.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (in *injector) count(method string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[method]
}
