package server

import (
	"cmp"
	"context"
	"slices"
	"sync"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// GetPapers returns papers by id, in request order, one store query per
// shard. Ids that are not stored, including ids of shards this instance
// does not own, are listed in not_found_ids; a repeated id is returned
// once.
func (s *Server) GetPapers(ctx context.Context, req *indexv1.GetPapersRequest) (*indexv1.GetPapersResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	ids, err := checkIDs(req.GetIds())
	if err != nil {
		return nil, err
	}
	found := make(map[string]store.Paper, len(ids))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for id, group := range groupIDs(c, ids) {
		g.Go(func() error {
			sh, err := c.Shard(id)
			if err != nil || sh == nil {
				return err
			}
			got, err := sh.Store().Get(gctx, group, req.GetIncludeVectors())
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for id, p := range got {
				found[id] = p
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	resp := &indexv1.GetPapersResponse{}
	for _, id := range ids {
		if p, ok := found[id]; ok {
			resp.Papers = append(resp.Papers, paperToProto(&p))
		} else {
			resp.NotFoundIds = append(resp.NotFoundIds, id)
		}
	}
	return resp, nil
}

// categoryCache keeps each shard's category counts for the store version
// they were counted at, so ListCategories re-counts only changed shards.
type categoryCache struct {
	mu      sync.Mutex
	entries map[*shard.Shard]categoryEntry
}

type categoryEntry struct {
	version int64
	counts  []store.CategoryCount
}

func (cc *categoryCache) get(ctx context.Context, sh *shard.Shard) ([]store.CategoryCount, error) {
	v, err := sh.Store().Version(ctx)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	e, ok := cc.entries[sh]
	cc.mu.Unlock()
	if ok && e.version == v {
		return e.counts, nil
	}
	counts, err := sh.Store().CategoryCounts(ctx)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if cc.entries == nil {
		cc.entries = make(map[*shard.Shard]categoryEntry)
	}
	// Counted at v or later; a later write re-counts at the next call.
	cc.entries[sh] = categoryEntry{version: v, counts: counts}
	cc.mu.Unlock()
	return counts, nil
}

// ListCategories counts papers per category over the owned shards, by
// descending total, ties by name.
func (s *Server) ListCategories(ctx context.Context, _ *indexv1.ListCategoriesRequest) (*indexv1.ListCategoriesResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	shards, err := c.Shards(nil)
	if err != nil {
		return nil, toStatus(err)
	}
	perShard := make([][]store.CategoryCount, len(shards))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, sh := range shards {
		g.Go(func() error {
			var err error
			perShard[i], err = s.cats.get(gctx, sh)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	sum := make(map[string]*indexv1.CategoryCount)
	for _, counts := range perShard {
		for _, cc := range counts {
			e := sum[cc.Category]
			if e == nil {
				e = &indexv1.CategoryCount{Category: cc.Category}
				sum[cc.Category] = e
			}
			e.Primary += cc.Primary
			e.Total += cc.Total
		}
	}
	resp := &indexv1.ListCategoriesResponse{}
	for _, e := range sum {
		resp.Categories = append(resp.Categories, e)
	}
	slices.SortFunc(resp.Categories, func(a, b *indexv1.CategoryCount) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Category, b.Category)
	})
	return resp, nil
}

// GetStats describes the collection and every owned shard. Shards report
// zeros (and kind UNSPECIFIED) until the first upsert creates them.
func (s *Server) GetStats(ctx context.Context, _ *indexv1.GetStatsRequest) (*indexv1.GetStatsResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	model, dim := c.Model()
	resp := &indexv1.GetStatsResponse{Model: model, Dimension: int32(dim), TotalShards: int32(c.TotalShards())}
	stats, err := s.shardStats(ctx, c, c.Owned())
	if err != nil {
		return nil, toStatus(err)
	}
	resp.Shards = stats
	for _, st := range stats {
		resp.Papers += st.GetPapers()
	}
	return resp, nil
}

// shardStats returns the stats of the given owned shards, in order.
func (s *Server) shardStats(ctx context.Context, c *collection.Collection, ids []int) ([]*indexv1.ShardStats, error) {
	out := make([]*indexv1.ShardStats, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, id := range ids {
		g.Go(func() error {
			sh, err := c.Shard(id)
			if err != nil {
				return err
			}
			if sh == nil {
				out[i] = &indexv1.ShardStats{Shard: int32(id)}
				return nil
			}
			st, err := sh.Stats(gctx)
			if err != nil {
				return err
			}
			out[i] = statsToProto(&st)
			return nil
		})
	}
	return out, g.Wait()
}

func statsToProto(st *shard.Stats) *indexv1.ShardStats {
	out := &indexv1.ShardStats{
		Shard:           int32(st.Shard),
		Papers:          st.Papers,
		IndexedVectors:  st.IndexedVectors,
		Nlist:           int32(st.Nlist),
		DefaultNprobe:   int32(st.DefaultNprobe),
		StoreVersion:    st.StoreVersion,
		SnapshotVersion: st.SnapshotVersion,
		StoreBytes:      st.StoreBytes,
		SnapshotBytes:   st.SnapshotBytes,
		Training:        st.Training,
	}
	switch st.Kind {
	case faiss.KindFlat:
		out.Kind = indexv1.IndexKind_INDEX_KIND_FLAT
	case faiss.KindIVFFlat:
		out.Kind = indexv1.IndexKind_INDEX_KIND_IVF_FLAT
	}
	if !st.SnapshotTime.IsZero() {
		out.SnapshotTime = timestamppb.New(st.SnapshotTime)
	}
	return out
}

// adminShards resolves the shards of an admin call; they must exist.
func (s *Server) adminShards(c *collection.Collection, req []int32) ([]*shard.Shard, []int, error) {
	ids, err := s.shardList(c, "shards", req)
	if err != nil {
		return nil, nil, err
	}
	if model, _ := c.Model(); model == "" {
		return nil, nil, status.Error(codes.FailedPrecondition, "the collection is empty: no shard exists before the first upsert")
	}
	shards, err := c.Shards(ids)
	if err != nil {
		return nil, nil, toStatus(err)
	}
	return shards, ids, nil
}

// TrainShards (re)trains shards one after the other (each training uses
// the memory of a second index while it runs); searches and writes
// continue meanwhile.
func (s *Server) TrainShards(ctx context.Context, req *indexv1.TrainShardsRequest) (*indexv1.TrainShardsResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	if n := req.GetNlist(); n < 0 || n > faiss.MaxNlist {
		return nil, invalid("nlist = %d: use 0 for automatic or 1..%d", n, faiss.MaxNlist)
	}
	shards, ids, err := s.adminShards(c, req.GetShards())
	if err != nil {
		return nil, err
	}
	for _, sh := range shards {
		if err := sh.Train(ctx, int(req.GetNlist())); err != nil {
			return nil, toStatus(err)
		}
	}
	stats, err := s.shardStats(ctx, c, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	return &indexv1.TrainShardsResponse{Shards: stats}, nil
}

// SnapshotShards writes the snapshots of shards that changed since their
// last one; an unchanged shard's snapshot on disk is already current.
func (s *Server) SnapshotShards(ctx context.Context, req *indexv1.SnapshotShardsRequest) (*indexv1.SnapshotShardsResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	shards, ids, err := s.adminShards(c, req.GetShards())
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, sh := range shards {
		g.Go(func() error {
			_, err := sh.Snapshot(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	stats, err := s.shardStats(ctx, c, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	return &indexv1.SnapshotShardsResponse{Shards: stats}, nil
}

// ReloadShards reloads shards from disk: snapshot plus replay, or a
// rebuild from the store.
func (s *Server) ReloadShards(ctx context.Context, req *indexv1.ReloadShardsRequest) (*indexv1.ReloadShardsResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	shards, ids, err := s.adminShards(c, req.GetShards())
	if err != nil {
		return nil, err
	}
	for _, sh := range shards {
		if err := sh.Reload(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	stats, err := s.shardStats(ctx, c, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	return &indexv1.ReloadShardsResponse{Shards: stats}, nil
}
