package testbackend

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Index is an in-memory IndexService owning some shards of a collection.
type Index struct {
	indexv1.UnimplementedIndexServiceServer
	total int
	owned []int
	in    injector

	mu     sync.Mutex
	model  string
	dim    int
	papers map[string]*indexv1.Paper
	// searches records every SearchRequest, for tests to inspect.
	searches []*indexv1.SearchRequest
	// traceparents records the W3C traceparent header of every call.
	traceparents []string
}

// NewIndex returns an empty index owning shards of a collection of total
// shards.
func NewIndex(total int, owned ...int) *Index {
	return &Index{total: total, owned: slices.Sorted(slices.Values(owned)), papers: map[string]*indexv1.Paper{}}
}

// ServeIndex serves x on loopback.
func ServeIndex(t testing.TB, x *Index) *Server {
	return Serve(t, func(g *grpc.Server) { indexv1.RegisterIndexServiceServer(g, x) },
		indexv1.IndexService_ServiceDesc.ServiceName)
}

// SetError makes method fail with err; nil heals.
func (x *Index) SetError(method string, err error) { x.in.set(method, err) }

// SetDelay makes method take at least d.
func (x *Index) SetDelay(method string, d time.Duration) { x.in.setDelay(method, d) }

// Calls counts the calls of method.
func (x *Index) Calls(method string) int { return x.in.count(method) }

// Searches returns the search requests received so far.
func (x *Index) Searches() []*indexv1.SearchRequest {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.searches)
}

// Traceparents returns the traceparent headers received so far.
func (x *Index) Traceparents() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.traceparents)
}

// Has reports whether paper id is stored.
func (x *Index) Has(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.papers[id]
	return ok
}

// Len is the number of stored papers.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.papers)
}

// Put stores papers directly, bypassing the API (and its ownership check).
func (x *Index) Put(model string, papers ...*indexv1.Paper) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.model = model
	for _, p := range papers {
		x.dim = len(p.GetVector())
		x.papers[p.GetId()] = proto.Clone(p).(*indexv1.Paper)
	}
}

func (x *Index) enter(ctx context.Context, method string) error {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if tp := md.Get("traceparent"); len(tp) > 0 {
			x.mu.Lock()
			x.traceparents = append(x.traceparents, tp[0])
			x.mu.Unlock()
		}
	}
	return x.in.enter(ctx, method)
}

func (x *Index) owns(shard int) bool {
	_, ok := slices.BinarySearch(x.owned, shard)
	return ok
}

func (x *Index) shardOf(id string) int { return shardset.ShardOf(id, x.total) }

// Search searches the requested shards exactly.
func (x *Index) Search(ctx context.Context, req *indexv1.SearchRequest) (*indexv1.SearchResponse, error) {
	if err := x.enter(ctx, "Search"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.searches = append(x.searches, proto.Clone(req).(*indexv1.SearchRequest))
	if len(req.GetQueries()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "queries: give at least one")
	}
	if req.GetK() < 1 || req.GetK() > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "k %d out of range 1..1000", req.GetK())
	}
	if req.GetModel() != "" && x.model != "" && req.GetModel() != x.model {
		return nil, status.Errorf(codes.InvalidArgument, "model %q differs from the collection's %q", req.GetModel(), x.model)
	}
	shards := x.owned
	if len(req.GetShards()) > 0 {
		shards = nil
		for _, s := range req.GetShards() {
			if !x.owns(int(s)) {
				return nil, status.Errorf(codes.FailedPrecondition, "shard %d is not owned by this instance", s)
			}
			shards = append(shards, int(s))
		}
	}
	mode := req.GetMode()
	if mode == indexv1.SearchMode_SEARCH_MODE_UNSPECIFIED {
		mode = indexv1.SearchMode_SEARCH_MODE_DENSE
	}
	resp := &indexv1.SearchResponse{}
	for _, s := range shards {
		resp.Shards = append(resp.Shards, int32(s))
	}
	for _, q := range req.GetQueries() {
		if mode != indexv1.SearchMode_SEARCH_MODE_LEXICAL && x.dim != 0 && len(q.GetVector()) != x.dim {
			return nil, status.Errorf(codes.InvalidArgument, "query vector has %d dimensions, the collection %d", len(q.GetVector()), x.dim)
		}
		var hits []*indexv1.Hit
		for _, s := range shards {
			hits = append(hits, x.searchShard(s, q, req, mode)...)
		}
		sortHits(hits)
		if len(hits) > int(req.GetK()) {
			hits = hits[:req.GetK()]
		}
		resp.Results = append(resp.Results, &indexv1.QueryResult{Hits: hits})
	}
	return resp, nil
}

func sortHits(hits []*indexv1.Hit) {
	slices.SortFunc(hits, func(a, b *indexv1.Hit) int {
		if c := cmp.Compare(b.GetScore(), a.GetScore()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetId(), b.GetId())
	})
}

func (x *Index) searchShard(shard int, q *indexv1.Query, req *indexv1.SearchRequest, mode indexv1.SearchMode) []*indexv1.Hit {
	var dense, lexical []*indexv1.Hit
	terms := Words(q.GetText())
	for id, p := range x.papers {
		if x.shardOf(id) != shard || slices.Contains(q.GetExcludeIds(), id) || !inCategories(p, req.GetCategories()) {
			continue
		}
		var meta *indexv1.Paper // as the real index, no metadata when omitted
		if !req.GetOmitPapers() {
			meta = proto.Clone(p).(*indexv1.Paper)
			meta.Vector = nil
		}
		if mode != indexv1.SearchMode_SEARCH_MODE_LEXICAL {
			var dot float32
			for i, v := range q.GetVector() {
				dot += v * p.GetVector()[i]
			}
			dense = append(dense, &indexv1.Hit{Id: id, Score: dot, Shard: int32(shard), Paper: meta})
		}
		if mode != indexv1.SearchMode_SEARCH_MODE_DENSE {
			words := Words(p.GetTitle() + " " + p.GetAbstract())
			var score float32
			for _, t := range terms {
				if slices.Contains(words, t) {
					score++
				}
			}
			if score > 0 {
				lexical = append(lexical, &indexv1.Hit{Id: id, Score: score, Shard: int32(shard), Paper: meta})
			}
		}
	}
	sortHits(dense)
	sortHits(lexical)
	for i, h := range dense {
		h.DenseRank, h.DenseScore = int32(i+1), h.Score
	}
	for i, h := range lexical {
		h.LexicalRank, h.LexicalScore = int32(i+1), h.Score
	}
	switch mode {
	case indexv1.SearchMode_SEARCH_MODE_DENSE:
		return dense
	case indexv1.SearchMode_SEARCH_MODE_LEXICAL:
		return lexical
	}
	fused := map[string]*indexv1.Hit{}
	for _, h := range dense {
		fused[h.GetId()] = h
	}
	for _, h := range lexical {
		if f, ok := fused[h.GetId()]; ok {
			f.LexicalRank, f.LexicalScore = h.LexicalRank, h.LexicalScore
		} else {
			fused[h.GetId()] = h
		}
	}
	var out []*indexv1.Hit
	for _, h := range fused {
		h.Score = 0
		if h.DenseRank > 0 {
			h.Score += 1 / float32(60+h.DenseRank)
		}
		if h.LexicalRank > 0 {
			h.Score += 1 / float32(60+h.LexicalRank)
		}
		out = append(out, h)
	}
	sortHits(out)
	return out
}

func inCategories(p *indexv1.Paper, cats []string) bool {
	if len(cats) == 0 {
		return true
	}
	for _, c := range p.GetCategories() {
		if slices.Contains(cats, c) {
			return true
		}
	}
	return false
}

// UpsertPapers stores papers of owned shards.
func (x *Index) UpsertPapers(ctx context.Context, req *indexv1.UpsertPapersRequest) (*indexv1.UpsertPapersResponse, error) {
	if err := x.enter(ctx, "UpsertPapers"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(req.GetPapers()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "papers: give at least one")
	}
	if x.model != "" && req.GetModel() != x.model {
		return nil, status.Errorf(codes.InvalidArgument, "model %q differs from the collection's %q", req.GetModel(), x.model)
	}
	for _, p := range req.GetPapers() {
		if s := x.shardOf(p.GetId()); !x.owns(s) {
			return nil, status.Errorf(codes.FailedPrecondition, "paper %s is in shard %d, not owned by this instance", p.GetId(), s)
		}
		if len(p.GetVector()) == 0 || (x.dim != 0 && len(p.GetVector()) != x.dim) {
			return nil, status.Errorf(codes.InvalidArgument, "paper %s: vector of %d dimensions", p.GetId(), len(p.GetVector()))
		}
	}
	x.model = req.GetModel()
	resp := &indexv1.UpsertPapersResponse{}
	for _, p := range req.GetPapers() {
		x.dim = len(p.GetVector())
		if _, ok := x.papers[p.GetId()]; ok {
			resp.Replaced++
		} else {
			resp.Inserted++
		}
		x.papers[p.GetId()] = proto.Clone(p).(*indexv1.Paper)
	}
	return resp, nil
}

// DeletePapers removes papers.
func (x *Index) DeletePapers(ctx context.Context, req *indexv1.DeletePapersRequest) (*indexv1.DeletePapersResponse, error) {
	if err := x.enter(ctx, "DeletePapers"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	resp := &indexv1.DeletePapersResponse{}
	for _, id := range req.GetIds() {
		if _, ok := x.papers[id]; ok {
			delete(x.papers, id)
			resp.DeletedIds = append(resp.DeletedIds, id)
		} else {
			resp.NotFoundIds = append(resp.NotFoundIds, id)
		}
	}
	return resp, nil
}

// GetPapers returns papers by id.
func (x *Index) GetPapers(ctx context.Context, req *indexv1.GetPapersRequest) (*indexv1.GetPapersResponse, error) {
	if err := x.enter(ctx, "GetPapers"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	resp := &indexv1.GetPapersResponse{}
	for _, id := range req.GetIds() {
		p, ok := x.papers[id]
		if !ok {
			resp.NotFoundIds = append(resp.NotFoundIds, id)
			continue
		}
		c := proto.Clone(p).(*indexv1.Paper)
		if !req.GetIncludeVectors() {
			c.Vector = nil
		}
		resp.Papers = append(resp.Papers, c)
	}
	return resp, nil
}

// ListCategories counts papers per category over the owned shards.
func (x *Index) ListCategories(ctx context.Context, _ *indexv1.ListCategoriesRequest) (*indexv1.ListCategoriesResponse, error) {
	if err := x.enter(ctx, "ListCategories"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	counts := map[string]*indexv1.CategoryCount{}
	for _, p := range x.papers {
		for i, c := range p.GetCategories() {
			cc := counts[c]
			if cc == nil {
				cc = &indexv1.CategoryCount{Category: c}
				counts[c] = cc
			}
			cc.Total++
			if i == 0 {
				cc.Primary++
			}
		}
	}
	resp := &indexv1.ListCategoriesResponse{}
	for _, cc := range counts {
		resp.Categories = append(resp.Categories, cc)
	}
	slices.SortFunc(resp.Categories, func(a, b *indexv1.CategoryCount) int {
		if c := cmp.Compare(b.GetTotal(), a.GetTotal()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetCategory(), b.GetCategory())
	})
	return resp, nil
}

// GetStats describes the owned shards.
func (x *Index) GetStats(ctx context.Context, _ *indexv1.GetStatsRequest) (*indexv1.GetStatsResponse, error) {
	if err := x.enter(ctx, "GetStats"); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	perShard := map[int]int64{}
	for id := range x.papers {
		perShard[x.shardOf(id)]++
	}
	resp := &indexv1.GetStatsResponse{Model: x.model, Dimension: int32(x.dim), TotalShards: int32(x.total)}
	for _, s := range x.owned {
		resp.Shards = append(resp.Shards, &indexv1.ShardStats{Shard: int32(s), Papers: perShard[s], IndexedVectors: perShard[s], Kind: indexv1.IndexKind_INDEX_KIND_FLAT})
		resp.Papers += perShard[s]
	}
	return resp, nil
}

// String names the index by its shards, for test messages.
func (x *Index) String() string {
	return fmt.Sprintf("index(shards %s of %d)", shardset.Format(x.owned), x.total)
}
