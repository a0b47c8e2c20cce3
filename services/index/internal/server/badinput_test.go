package server

import (
	"context"
	"math"
	"slices"
	"testing"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// TestBadInput sends malformed requests and checks that each is refused
// with the right code and a message that says what to fix.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{owned: "0-2"})
	g := synth.New(synth.Spec{Dim: testDim, Seed: 6}, 50)
	var ps []*indexv1.Paper
	for n := range 50 {
		p := paperN(g, n)
		if e.coll.Owns(e.coll.ShardOf(p.GetId())) {
			ps = append(ps, p)
		}
	}
	e.upsert(t, ps...)
	var foreign *indexv1.Paper
	for n := 50; foreign == nil; n++ {
		if p := paperN(g, n); !e.coll.Owns(e.coll.ShardOf(p.GetId())) {
			foreign = p
		}
	}

	q := func(v []float32) *indexv1.Query { return &indexv1.Query{Vector: v} }
	good := g.Vector()
	withNaN := slices.Clone(good)
	withNaN[3] = float32(math.NaN())
	withInf := slices.Clone(good)
	withInf[0] = float32(math.Inf(1))
	search := func(mut func(r *indexv1.SearchRequest)) func(context.Context) error {
		return func(ctx context.Context) error {
			r := &indexv1.SearchRequest{K: 10, Queries: []*indexv1.Query{q(good)}}
			mut(r)
			_, err := e.client.Search(ctx, r)
			return err
		}
	}
	paper := func(mut func(p *indexv1.Paper)) func(context.Context) error {
		return func(ctx context.Context) error {
			p := proto.Clone(paperN(g, 1000)).(*indexv1.Paper)
			p.Id = ps[0].GetId() // an owned shard
			mut(p)
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: testModel, Papers: []*indexv1.Paper{p}})
			return err
		}
	}
	many := make([]*indexv1.Query, MaxQueries+1)
	for i := range many {
		many[i] = q(good)
	}

	tests := []struct {
		name      string
		call      func(context.Context) error
		code      codes.Code
		fragments []string
	}{
		{"search: empty batch", search(func(r *indexv1.SearchRequest) { r.Queries = nil }), codes.InvalidArgument, []string{"queries is empty"}},
		{"search: too many queries", search(func(r *indexv1.SearchRequest) { r.Queries = many }), codes.InvalidArgument, []string{"at most 1024"}},
		{"search: k = 0", search(func(r *indexv1.SearchRequest) { r.K = 0 }), codes.InvalidArgument, []string{"k = 0", "1..1000"}},
		{"search: k negative", search(func(r *indexv1.SearchRequest) { r.K = -5 }), codes.InvalidArgument, []string{"k = -5"}},
		{"search: k too large", search(func(r *indexv1.SearchRequest) { r.K = 1001 }), codes.InvalidArgument, []string{"k = 1001", "1..1000"}},
		{"search: too many hits", search(func(r *indexv1.SearchRequest) { r.K, r.Queries = 1000, many[:101] }), codes.InvalidArgument, []string{"101000 hits", "at most 100000"}},
		{"search: negative nprobe", search(func(r *indexv1.SearchRequest) { r.Nprobe = -1 }), codes.InvalidArgument, []string{"nprobe = -1"}},
		{"search: wrong dimension", search(func(r *indexv1.SearchRequest) { r.Queries = []*indexv1.Query{q(good), q(good[:5])} }),
			codes.InvalidArgument, []string{"queries[1].vector has 5 values", `model "test-model"`, "16"}},
		{"search: no vector", search(func(r *indexv1.SearchRequest) { r.Queries = []*indexv1.Query{{Text: "x"}} }), codes.InvalidArgument, []string{"queries[0].vector is empty"}},
		{"search: NaN", search(func(r *indexv1.SearchRequest) { r.Queries = []*indexv1.Query{q(withNaN)} }), codes.InvalidArgument, []string{"queries[0].vector[3] is NaN", "finite"}},
		{"search: Inf", search(func(r *indexv1.SearchRequest) { r.Queries = []*indexv1.Query{q(withInf)} }), codes.InvalidArgument, []string{"queries[0].vector[0] is +Inf"}},
		{"search: zero vector", search(func(r *indexv1.SearchRequest) { r.Queries = []*indexv1.Query{q(make([]float32, testDim))} }), codes.InvalidArgument, []string{"all zeros"}},
		{"search: other model", search(func(r *indexv1.SearchRequest) { r.Model = "other" }), codes.InvalidArgument, []string{`model "other"`, `model "test-model"`}},
		{"search: shard out of range", search(func(r *indexv1.SearchRequest) { r.Shards = []int32{4} }), codes.InvalidArgument, []string{"shards[0] = 4", "0..3"}},
		{"search: shard not owned", search(func(r *indexv1.SearchRequest) { r.Shards = []int32{3} }), codes.FailedPrecondition, []string{"does not own shard 3", "owns 0-2"}},
		{"search: bad category", search(func(r *indexv1.SearchRequest) { r.Categories = []string{"cs LG"} }), codes.InvalidArgument, []string{"categories[0]"}},
		{"search: bad exclude id", search(func(r *indexv1.SearchRequest) { r.Queries[0].ExcludeIds = []string{""} }), codes.InvalidArgument, []string{"queries[0].exclude_ids[0]", "empty id"}},
		{"search: lexical without text", search(func(r *indexv1.SearchRequest) { r.Mode = indexv1.SearchMode_SEARCH_MODE_LEXICAL }), codes.InvalidArgument, []string{"queries[0].text is empty", "lexical"}},
		{"search: hybrid without vector", search(func(r *indexv1.SearchRequest) {
			r.Mode = indexv1.SearchMode_SEARCH_MODE_HYBRID
			r.Queries = []*indexv1.Query{{Text: "x"}}
		}), codes.InvalidArgument, []string{"queries[0].vector is empty"}},
		{"search: unknown mode", search(func(r *indexv1.SearchRequest) { r.Mode = 9 }), codes.InvalidArgument, []string{"mode 9"}},
		{"search: negative rrf_k", search(func(r *indexv1.SearchRequest) { r.RrfK = -1 }), codes.InvalidArgument, []string{"rrf_k = -1"}},

		{"upsert: no papers", func(ctx context.Context) error {
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: testModel})
			return err
		}, codes.InvalidArgument, []string{"papers is empty"}},
		{"upsert: no model", func(ctx context.Context) error {
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Papers: ps[:1]})
			return err
		}, codes.InvalidArgument, []string{"model is empty"}},
		{"upsert: other model", func(ctx context.Context) error {
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: "other", Papers: ps[:1]})
			return err
		}, codes.FailedPrecondition, []string{`model "other"`, `model "test-model"`}},
		{"upsert: wrong dimension", paper(func(p *indexv1.Paper) { p.Vector = p.Vector[:8] }), codes.InvalidArgument, []string{"vector has 8 values", "16"}},
		{"upsert: NaN", paper(func(p *indexv1.Paper) { p.Vector[2] = float32(math.NaN()) }), codes.InvalidArgument, []string{"vector[2] is NaN"}},
		{"upsert: -Inf", paper(func(p *indexv1.Paper) { p.Vector[2] = float32(math.Inf(-1)) }), codes.InvalidArgument, []string{"vector[2] is -Inf"}},
		{"upsert: not unit length", paper(func(p *indexv1.Paper) {
			for i := range p.Vector {
				p.Vector[i] *= 2
			}
		}), codes.InvalidArgument, []string{"norm 2", "normalize"}},
		{"upsert: no vector", paper(func(p *indexv1.Paper) { p.Vector = nil }), codes.InvalidArgument, []string{"vector is empty"}},
		{"upsert: empty id", paper(func(p *indexv1.Paper) { p.Id = "" }), codes.InvalidArgument, []string{"empty id"}},
		{"upsert: id with space", paper(func(p *indexv1.Paper) { p.Id = "2501 0001" }), codes.InvalidArgument, []string{"white space"}},
		{"upsert: bad date", paper(func(p *indexv1.Paper) { p.UpdateDate = "1/2/2025" }), codes.InvalidArgument, []string{"YYYY-MM-DD"}},
		{"upsert: primary category differs", paper(func(p *indexv1.Paper) { p.PrimaryCategory = "hep-th" }), codes.InvalidArgument, []string{"primary_category", "first"}},
		{"upsert: same id twice", func(ctx context.Context) error {
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: testModel, Papers: []*indexv1.Paper{ps[0], ps[1], ps[0]}})
			return err
		}, codes.InvalidArgument, []string{"papers[0] and papers[2]", ps[0].GetId()}},
		{"upsert: paper of a shard not owned", func(ctx context.Context) error {
			_, err := e.client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: testModel, Papers: []*indexv1.Paper{ps[0], foreign}})
			return err
		}, codes.FailedPrecondition, []string{"papers[1]", foreign.GetId(), "shard 3", "owns 0-2"}},

		{"delete: no ids", func(ctx context.Context) error {
			_, err := e.client.DeletePapers(ctx, &indexv1.DeletePapersRequest{})
			return err
		}, codes.InvalidArgument, []string{"ids is empty"}},
		{"delete: bad id", func(ctx context.Context) error {
			_, err := e.client.DeletePapers(ctx, &indexv1.DeletePapersRequest{Ids: []string{"ok", "a\tb"}})
			return err
		}, codes.InvalidArgument, []string{"ids[1]"}},
		{"get: no ids", func(ctx context.Context) error {
			_, err := e.client.GetPapers(ctx, &indexv1.GetPapersRequest{})
			return err
		}, codes.InvalidArgument, []string{"ids is empty"}},
		{"train: negative nlist", func(ctx context.Context) error {
			_, err := e.client.TrainShards(ctx, &indexv1.TrainShardsRequest{Nlist: -1})
			return err
		}, codes.InvalidArgument, []string{"nlist = -1"}},
		{"train: more lists than papers", func(ctx context.Context) error {
			_, err := e.client.TrainShards(ctx, &indexv1.TrainShardsRequest{Nlist: 1000})
			return err
		}, codes.FailedPrecondition, []string{"papers for 1000 lists"}},
		{"snapshot: shard not owned", func(ctx context.Context) error {
			_, err := e.client.SnapshotShards(ctx, &indexv1.SnapshotShardsRequest{Shards: []int32{3}})
			return err
		}, codes.FailedPrecondition, []string{"shard 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, tt.call(ctxT(t)), tt.code, tt.fragments...)
		})
	}

	// A batch with one bad paper writes nothing, on any shard.
	fresh := []*indexv1.Paper{paperN(g, 2000), paperN(g, 2001), paperN(g, 2002)}
	for i, p := range fresh {
		for !e.coll.Owns(e.coll.ShardOf(p.GetId())) {
			p.Id += "x"
		}
		fresh[i] = p
	}
	fresh[2].Vector[0] = float32(math.NaN())
	_, err := e.client.UpsertPapers(ctxT(t), &indexv1.UpsertPapersRequest{Model: testModel, Papers: fresh})
	wantCode(t, "batch with a NaN", err, codes.InvalidArgument, "papers[2]")
	got, err := e.client.GetPapers(ctxT(t), &indexv1.GetPapersRequest{Ids: []string{fresh[0].GetId(), fresh[1].GetId()}})
	if err != nil || len(got.GetPapers()) != 0 {
		t.Errorf("after a refused batch, GetPapers = %v, %v; want nothing stored", got, err)
	}
}
