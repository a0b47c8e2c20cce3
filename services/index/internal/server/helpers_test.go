package server

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The tests run the real service: FAISS, SQLite stores in a temporary
// directory, and gRPC over a loopback TCP connection.

const (
	testDim   = 16
	testModel = "test-model"
)

type env struct {
	client indexv1.IndexServiceClient
	coll   *collection.Collection
	m      *metrics.Metrics
	total  int
}

type envOptions struct {
	total int
	owned string
	cfg   shard.Config
	dir   string
}

// newEnv starts a server over a collection; zero options mean 4 shards,
// all owned, flat, no automatic snapshots.
func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.total == 0 {
		o.total = 4
	}
	if o.cfg == (shard.Config{}) {
		o.cfg = shard.DefaultConfig()
		o.cfg.FlatThreshold = 0
		o.cfg.SnapshotEveryChanges = 0
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	owned, err := shardset.Parse(o.owned, o.total)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New(nil)
	coll, err := collection.Open(context.Background(), collection.Options{
		Dir: o.dir, TotalShards: o.total, Owned: owned, Shard: o.cfg, Logger: logger, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{TotalShards: o.total, Owned: owned, Logger: logger, Metrics: m})
	srv.SetCollection(coll)
	gs := grpcserver.New(grpcserver.Options{Logger: logger, MaxRecvBytes: 64 << 20})
	indexv1.RegisterIndexServiceServer(gs.GRPC, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.GRPC.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.GRPC.Stop()
		coll.Close(context.Background(), false)
	})
	return &env{client: indexv1.NewIndexServiceClient(conn), coll: coll, m: m, total: o.total}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// paperN is paper n with a vector from g; every fifth paper is in
// math.CO, the others in cs.LG.
func paperN(g *synth.Generator, n int) *indexv1.Paper {
	cats := []string{"cs.LG"}
	if n%5 == 0 {
		cats = []string{"math.CO", "cs.DM"}
	}
	return &indexv1.Paper{
		Id: fmt.Sprintf("2502.%05d", n), Title: fmt.Sprintf("Paper number w%d", n),
		Abstract: "We study things.", Authors: []string{"A. Author"}, Categories: cats,
		UpdateDate: "2025-02-01", Vector: g.Vector(),
	}
}

func (e *env) upsert(t testing.TB, ps ...*indexv1.Paper) *indexv1.UpsertPapersResponse {
	t.Helper()
	resp, err := e.client.UpsertPapers(ctxT(t), &indexv1.UpsertPapersRequest{Model: testModel, Papers: ps})
	if err != nil {
		t.Fatalf("UpsertPapers: %v", err)
	}
	return resp
}

// bruteForce returns the ids of the exact top k of q over live, filtered
// by cats when set and without the ids in exclude.
func bruteForce(live map[string]*indexv1.Paper, q []float32, k int, cats []string, exclude ...string) []string {
	type hit struct {
		id    string
		score float32
	}
	var hits []hit
	for id, p := range live {
		if slices.Contains(exclude, id) {
			continue
		}
		if len(cats) > 0 && !slices.ContainsFunc(p.GetCategories(), func(c string) bool { return slices.Contains(cats, c) }) {
			continue
		}
		var s float32
		for j := range q {
			s += q[j] * p.GetVector()[j]
		}
		hits = append(hits, hit{id, s})
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(b.score, a.score) })
	var out []string
	for _, h := range hits[:min(k, len(hits))] {
		out = append(out, h.id)
	}
	return out
}

func hitIDs(r *indexv1.QueryResult) []string {
	var out []string
	for _, h := range r.GetHits() {
		out = append(out, h.GetId())
	}
	return out
}

// wantCode fails unless err has the code and its message contains every
// fragment.
func wantCode(t testing.TB, what string, err error, code codes.Code, fragments ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: error %v, want %v", what, err, code)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(status.Convert(err).Message(), f) {
			t.Errorf("%s: message %q does not say %q", what, status.Convert(err).Message(), f)
		}
	}
}
