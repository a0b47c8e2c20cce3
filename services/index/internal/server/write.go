package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// UpsertPapers validates the whole batch first (ownership, model,
// dimension, finite unit vectors, paper fields), so that an invalid paper
// writes nothing anywhere; then writes one store transaction per shard, in
// parallel, each applied to its index before the call returns. The first
// upsert into an empty collection sets its model and dimension.
//
// Shards commit independently: if one shard fails (an I/O error, not bad
// input), the others' papers are stored. Upserts are idempotent, so the
// caller retries the whole batch.
func (s *Server) UpsertPapers(ctx context.Context, req *indexv1.UpsertPapersRequest) (*indexv1.UpsertPapersResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	in := req.GetPapers()
	switch {
	case len(in) == 0:
		return nil, invalid("papers is empty: send at least one paper")
	case len(in) > MaxIDs:
		return nil, invalid("%d papers in one request: send at most %d", len(in), MaxIDs)
	case req.GetModel() == "":
		return nil, invalid("model is empty: name the model that produced the vectors")
	}
	model, dim := c.Model()
	if model == "" {
		dim = len(in[0].GetVector())
		if dim == 0 {
			return nil, invalid("papers[0] (id %q): vector is empty: papers need their embedding", in[0].GetId())
		}
		if dim > 65536 {
			return nil, invalid("papers[0] (id %q): vector has %d values: at most 65536", in[0].GetId(), dim)
		}
	} else if req.GetModel() != model {
		return nil, status.Errorf(codes.FailedPrecondition, "model %q: this collection holds vectors of model %q, and vectors of different models cannot be searched together; re-embed with %q or use another collection (data directory)",
			req.GetModel(), model, model)
	}

	byShard := make(map[int][]store.Paper)
	seen := make(map[string]int, len(in))
	for i, pp := range in {
		field := fmt.Sprintf("papers[%d] (id %q)", i, pp.GetId())
		if j, dup := seen[pp.GetId()]; dup {
			return nil, invalid("papers[%d] and papers[%d] both have id %q: send each paper once", j, i, pp.GetId())
		}
		seen[pp.GetId()] = i
		p, err := paperFromProto(pp)
		if err != nil {
			return nil, invalid("%s: %v", field, err)
		}
		if err := checkVector(field+".vector", p.Vector, dim, model, true); err != nil {
			return nil, err
		}
		if err := store.ValidatePaper(&p, dim); err != nil {
			return nil, invalid("%s: %v", field, err)
		}
		sh := c.ShardOf(p.ID)
		if !c.Owns(sh) {
			return nil, status.Errorf(codes.FailedPrecondition, "%s belongs to shard %d (of %d), which this instance does not own (it owns %s); send it to the instance that owns shard %d",
				field, sh, c.TotalShards(), shardset.Format(c.Owned()), sh)
		}
		byShard[sh] = append(byShard[sh], p)
	}
	if err := c.Configure(ctx, req.GetModel(), dim); err != nil {
		switch {
		case errors.Is(err, store.ErrModelMismatch):
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		case errors.Is(err, store.ErrDimensionMismatch):
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, toStatus(err)
	}

	var mu sync.Mutex
	resp := &indexv1.UpsertPapersResponse{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for id, papers := range byShard {
		g.Go(func() error {
			sh, err := c.Shard(id)
			if err != nil {
				return err
			}
			if sh == nil {
				return shard.ErrClosed
			}
			res, err := sh.Upsert(gctx, papers)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, it := range res.Items {
				if it.Op == store.OpCreated {
					resp.Inserted++
				} else {
					resp.Replaced++
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// DeletePapers deletes papers by id. Ids that are not stored, including
// ids of shards this instance does not own, are reported in
// not_found_ids; a repeated id is reported once.
func (s *Server) DeletePapers(ctx context.Context, req *indexv1.DeletePapersRequest) (*indexv1.DeletePapersResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	ids, err := checkIDs(req.GetIds())
	if err != nil {
		return nil, err
	}
	byShard := groupIDs(c, ids)
	deleted := make(map[string]bool, len(ids))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for id, group := range byShard {
		g.Go(func() error {
			sh, err := c.Shard(id)
			if err != nil || sh == nil {
				return err
			}
			_, keys, err := sh.Delete(gctx, group)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for i, k := range keys {
				if k != store.NoKey {
					deleted[group[i]] = true
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	resp := &indexv1.DeletePapersResponse{}
	for _, id := range ids {
		if deleted[id] {
			resp.DeletedIds = append(resp.DeletedIds, id)
		} else {
			resp.NotFoundIds = append(resp.NotFoundIds, id)
		}
	}
	return resp, nil
}

// checkIDs validates a batch of ids and returns them without repeats, in
// first-seen order.
func checkIDs(in []string) ([]string, error) {
	switch {
	case len(in) == 0:
		return nil, invalid("ids is empty: name at least one paper")
	case len(in) > MaxIDs:
		return nil, invalid("%d ids in one request: send at most %d", len(in), MaxIDs)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, id := range in {
		if err := store.ValidateID(id); err != nil {
			return nil, invalid("ids[%d]: %v", i, err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// groupIDs groups ids by owned shard, dropping those of other shards.
func groupIDs(c *collection.Collection, ids []string) map[int][]string {
	out := make(map[int][]string)
	for _, id := range ids {
		if sh := c.ShardOf(id); c.Owns(sh) {
			out[sh] = append(out[sh], id)
		}
	}
	return out
}

// paperFromProto converts a paper for the store. primary_category must be
// categories[0] when both are set; alone, it becomes the only category.
func paperFromProto(p *indexv1.Paper) (store.Paper, error) {
	cats := p.GetCategories()
	if pc := p.GetPrimaryCategory(); pc != "" {
		switch {
		case len(cats) == 0:
			cats = []string{pc}
		case cats[0] != pc:
			return store.Paper{}, fmt.Errorf("primary_category %q differs from categories[0] %q: list the primary category first", pc, cats[0])
		}
	}
	return store.Paper{
		ID:         p.GetId(),
		Title:      p.GetTitle(),
		Abstract:   p.GetAbstract(),
		Authors:    slices.Clone(p.GetAuthors()),
		Categories: slices.Clone(cats),
		UpdateDate: p.GetUpdateDate(),
		Comments:   p.GetComments(),
		Vector:     p.GetVector(),
	}, nil
}

// paperToProto converts a stored paper; the vector only if it was read.
func paperToProto(p *store.Paper) *indexv1.Paper {
	return &indexv1.Paper{
		Id:              p.ID,
		Title:           p.Title,
		Abstract:        p.Abstract,
		Authors:         p.Authors,
		Categories:      p.Categories,
		PrimaryCategory: p.PrimaryCategory(),
		UpdateDate:      p.UpdateDate,
		Comments:        p.Comments,
		Vector:          p.Vector,
	}
}
