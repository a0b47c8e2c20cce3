package embedpool

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/testbackend"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func pool(t *testing.T, n int) (*Pool, []*testbackend.Embedder, []*testbackend.Server) {
	t.Helper()
	var eps []Endpoint
	var embs []*testbackend.Embedder
	var srvs []*testbackend.Server
	for range n {
		e := testbackend.NewEmbedder()
		s := testbackend.ServeEmbedder(t, e)
		conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		eps = append(eps, Endpoint{Addr: s.Addr(), Conn: conn})
		embs, srvs = append(embs, e), append(srvs, s)
	}
	p, err := New(eps)
	if err != nil {
		t.Fatal(err)
	}
	return p, embs, srvs
}

var req = &embedderv1.EmbedRequest{Texts: []string{"a text", "another"}}

func TestRoundRobin(t *testing.T) {
	p, embs, _ := pool(t, 2)
	for range 6 {
		resp, err := p.Embed(context.Background(), req)
		if err != nil || len(resp.GetEmbeddings()) != 2 {
			t.Fatalf("Embed = %v, %v", resp, err)
		}
	}
	if a, b := embs[0].Calls("Embed"), embs[1].Calls("Embed"); a != 3 || b != 3 {
		t.Errorf("calls per instance = %d, %d; want 3, 3", a, b)
	}
}

func TestFailover(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(*testbackend.Embedder, *testbackend.Server)
	}{
		{"down", func(_ *testbackend.Embedder, s *testbackend.Server) { s.Stop() }},
		{"queue full", func(e *testbackend.Embedder, _ *testbackend.Server) {
			e.SetError("Embed", status.Error(codes.ResourceExhausted, "queue full"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, embs, srvs := pool(t, 2)
			tt.breakIt(embs[0], srvs[0])
			for range 4 {
				if _, err := p.Embed(context.Background(), req); err != nil {
					t.Fatalf("Embed with one instance %s: %v", tt.name, err)
				}
			}
			// The failed instance is tried last while it cools off, so
			// the healthy one takes every call after the first failure.
			if n := embs[0].Calls("Embed"); n > 1 {
				t.Errorf("failed instance called %d times, want at most 1", n)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	p, embs, srvs := pool(t, 2)
	embs[0].SetError("Embed", status.Error(codes.InvalidArgument, "text 0 is over 65536 bytes"))
	embs[1].SetError("Embed", status.Error(codes.InvalidArgument, "text 0 is over 65536 bytes"))
	_, err := p.Embed(context.Background(), req)
	if status.Code(err) != codes.InvalidArgument || embs[0].Calls("Embed")+embs[1].Calls("Embed") != 1 {
		t.Errorf("INVALID_ARGUMENT: err %v after %d calls; want it returned after 1", err, embs[0].Calls("Embed")+embs[1].Calls("Embed"))
	}

	srvs[0].Stop()
	srvs[1].Stop()
	_, err = p.Embed(context.Background(), req)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), srvs[0].Addr()) || !strings.Contains(err.Error(), srvs[1].Addr()) {
		t.Errorf("all down: %v; want UNAVAILABLE naming both", err)
	}
	if _, err := p.ModelInfo(context.Background()); status.Code(err) != codes.Unavailable {
		t.Errorf("ModelInfo all down: %v", err)
	}
}

func TestCooloffEnds(t *testing.T) {
	p, embs, _ := pool(t, 2)
	now := time.Now()
	p.now = func() time.Time { return now }
	embs[0].SetError("Embed", status.Error(codes.Unavailable, "loading"))
	for range 2 {
		if _, err := p.Embed(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	embs[0].SetError("Embed", nil)
	now = now.Add(DefaultCooloff + time.Millisecond)
	for range 4 {
		if _, err := p.Embed(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if n := embs[0].Calls("Embed"); n < 3 {
		t.Errorf("healed instance got %d calls, want it back in rotation", n)
	}
	info, err := p.ModelInfo(context.Background())
	if err != nil || info.GetName() != "fake-hash-64" || info.GetDimension() != 64 {
		t.Errorf("ModelInfo = %v, %v", info, err)
	}
}
