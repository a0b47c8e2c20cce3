package server

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// MaxCategories bounds the category filter of one search.
const MaxCategories = 256

// searchPlan is a validated SearchRequest.
type searchPlan struct {
	mode       indexv1.SearchMode
	k, nprobe  int
	rrfK       int
	categories []string
	shards     []int
	dim        int        // query vector dimension; 0 in lexical mode
	vectors    []float32  // row-major, dense and hybrid modes
	texts      []string   // lexical and hybrid modes
	exclude    [][]string // per query
	nq         int
}

func (p *searchPlan) dense() bool {
	return p.mode == indexv1.SearchMode_SEARCH_MODE_DENSE || p.mode == indexv1.SearchMode_SEARCH_MODE_HYBRID
}

func (p *searchPlan) lexical() bool {
	return p.mode == indexv1.SearchMode_SEARCH_MODE_LEXICAL || p.mode == indexv1.SearchMode_SEARCH_MODE_HYBRID
}

func modeName(m indexv1.SearchMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "SEARCH_MODE_"))
}

// candidate is one hit before metadata is attached.
type candidate struct {
	shard      int
	key        int64
	score      float32
	denseRank  int32
	denseScore float32
	lexRank    int32
	lexScore   float32
}

// Search finds the k nearest papers of each query over the requested
// shards, in parallel, and merges the per-shard top-k lists exactly.
func (s *Server) Search(ctx context.Context, req *indexv1.SearchRequest) (*indexv1.SearchResponse, error) {
	c, err := s.collection()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := s.planSearch(c, req)
	if err != nil {
		return nil, err
	}
	mode := modeName(p.mode)
	defer func() {
		s.m.SearchSeconds.WithLabelValues(mode).Observe(time.Since(start).Seconds())
		s.m.SearchQueries.WithLabelValues(mode).Add(float64(p.nq))
	}()
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("index.mode", mode), attribute.Int("index.queries", p.nq),
		attribute.Int("index.k", p.k))

	resp := &indexv1.SearchResponse{Results: make([]*indexv1.QueryResult, p.nq)}
	for i := range resp.Results {
		resp.Results[i] = &indexv1.QueryResult{}
	}
	for _, sh := range p.shards {
		resp.Shards = append(resp.Shards, int32(sh))
	}
	shards, err := c.Shards(p.shards)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(shards) == 0 {
		return resp, nil // no paper was ever stored
	}

	perShard := make([][][]candidate, len(shards)) // shard, query, hits
	nprobes := make([]int, len(shards))
	g, gctx := errgroup.WithContext(ctx)
	for i, sh := range shards {
		g.Go(func() error {
			var err error
			perShard[i], nprobes[i], err = s.searchShard(gctx, c, sh, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, toStatus(err)
	}
	resp.Nprobe = int32(slices.Max(nprobes))

	merged := make([][]candidate, p.nq)
	for q := range p.nq {
		var all []candidate
		for i := range shards {
			all = append(all, perShard[i][q]...)
		}
		slices.SortFunc(all, func(a, b candidate) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			if c := cmp.Compare(a.shard, b.shard); c != 0 {
				return c
			}
			return cmp.Compare(a.key, b.key)
		})
		merged[q] = all[:min(len(all), p.k)]
	}
	if err := s.attachPapers(ctx, c, merged, resp, req.GetOmitPapers()); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// planSearch validates req.
func (s *Server) planSearch(c *collection.Collection, req *indexv1.SearchRequest) (*searchPlan, error) {
	model, dim := c.Model()
	p := &searchPlan{mode: req.GetMode(), k: int(req.GetK()), nprobe: int(req.GetNprobe()), rrfK: int(req.GetRrfK())}
	if p.mode == indexv1.SearchMode_SEARCH_MODE_UNSPECIFIED {
		p.mode = indexv1.SearchMode_SEARCH_MODE_DENSE
	}
	if _, ok := indexv1.SearchMode_name[int32(p.mode)]; !ok {
		return nil, invalid("mode %d is not a SearchMode; use DENSE, LEXICAL or HYBRID", p.mode)
	}
	queries := req.GetQueries()
	p.nq = len(queries)
	switch {
	case p.nq == 0:
		return nil, invalid("queries is empty: send at least one query")
	case p.nq > MaxQueries:
		return nil, invalid("%d queries in one request: send at most %d per request", p.nq, MaxQueries)
	case p.k < 1 || p.k > s.opts.MaxK:
		return nil, invalid("k = %d: ask for 1..%d results per query", p.k, s.opts.MaxK)
	case p.k*p.nq > MaxHits:
		return nil, invalid("k = %d for %d queries asks for %d hits: ask for at most %d per request (fewer results or fewer queries per call)",
			p.k, p.nq, p.k*p.nq, MaxHits)
	case p.nprobe < 0:
		return nil, invalid("nprobe = %d: use 0 for the default or a positive number of lists", p.nprobe)
	case p.rrfK < 0:
		return nil, invalid("rrf_k = %d: use 0 for the default (%d) or a positive constant", p.rrfK, DefaultRRFK)
	case req.GetModel() != "" && model != "" && req.GetModel() != model:
		return nil, invalid("model %q: this collection holds vectors of model %q; embed the queries with it", req.GetModel(), model)
	case len(req.GetCategories()) > MaxCategories:
		return nil, invalid("%d categories: filter on at most %d", len(req.GetCategories()), MaxCategories)
	}
	if p.rrfK == 0 {
		p.rrfK = DefaultRRFK
	}
	for i, cat := range req.GetCategories() {
		if err := store.ValidateCategory(cat); err != nil {
			return nil, invalid("categories[%d]: %v", i, err)
		}
	}
	p.categories = req.GetCategories()
	var err error
	if p.shards, err = s.shardList(c, "shards", req.GetShards()); err != nil {
		return nil, err
	}
	p.exclude = make([][]string, p.nq)
	for i, q := range queries {
		if n := len(q.GetExcludeIds()); n > MaxExcludeIDs {
			return nil, invalid("queries[%d].exclude_ids has %d ids: at most %d", i, n, MaxExcludeIDs)
		}
		for j, id := range q.GetExcludeIds() {
			if err := store.ValidateID(id); err != nil {
				return nil, invalid("queries[%d].exclude_ids[%d]: %v", i, j, err)
			}
		}
		p.exclude[i] = q.GetExcludeIds()
	}
	if p.lexical() {
		p.texts = make([]string, p.nq)
		for i, q := range queries {
			if strings.TrimSpace(q.GetText()) == "" {
				return nil, invalid("queries[%d].text is empty: %s search matches query text; set it", i, modeName(p.mode))
			}
			p.texts[i] = q.GetText()
		}
	}
	if p.dense() {
		p.dim = dim
		if p.dim == 0 {
			p.dim = len(queries[0].GetVector()) // empty collection: only consistency can be checked
		}
		p.vectors = make([]float32, 0, p.nq*p.dim)
		for i, q := range queries {
			v := q.GetVector()
			if err := checkVector(fmt.Sprintf("queries[%d].vector", i), v, p.dim, model, false); err != nil {
				return nil, err
			}
			p.vectors = append(p.vectors, v...)
		}
	}
	return p, nil
}

// checkVector validates a vector of dim values; unit also requires unit
// length (stored vectors).
func checkVector(field string, v []float32, dim int, model string, unit bool) error {
	if len(v) == 0 {
		if dim > 0 {
			return invalid("%s is empty: send the %d-dimensional embedding", field, dim)
		}
		return invalid("%s is empty: send the embedding", field)
	}
	if len(v) != dim {
		if model != "" {
			return invalid("%s has %d values, but the collection's vectors (model %q) have %d: embed with that model", field, len(v), model, dim)
		}
		return invalid("%s has %d values, want %d like the others of the request", field, len(v), dim)
	}
	var norm float64
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return invalid("%s[%d] is %v: vectors must be finite", field, j, x)
		}
		norm += float64(x) * float64(x)
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return invalid("%s is all zeros: it has no direction to search by", field)
	}
	if unit && math.Abs(norm-1) > UnitTolerance {
		return invalid("%s has norm %.4g: stored vectors must be unit length (scores are cosine similarities); normalize it", field, norm)
	}
	return nil
}

// searchShard runs the plan's queries on one shard and returns, per
// query, up to k candidates best first, with exclusions applied, and the
// nprobe used (0 for flat or lexical).
func (s *Server) searchShard(ctx context.Context, c *collection.Collection, sh *shard.Shard, p *searchPlan) ([][]candidate, int, error) {
	// Excluded papers that live on this shard, by id and by key.
	exIDs := make([]map[string]bool, p.nq)
	var onShard []string
	for q, ids := range p.exclude {
		for _, id := range ids {
			if c.ShardOf(id) != sh.ID() {
				continue
			}
			if exIDs[q] == nil {
				exIDs[q] = make(map[string]bool)
			}
			exIDs[q][id] = true
			onShard = append(onShard, id)
		}
	}
	extra := 0
	for _, m := range exIDs {
		extra = max(extra, len(m))
	}
	exKeys := make([]map[int64]bool, p.nq)
	if p.dense() && len(onShard) > 0 {
		found, err := sh.Store().Get(ctx, onShard, false)
		if err != nil {
			return nil, 0, err
		}
		for q, ids := range exIDs {
			for id := range ids {
				if paper, ok := found[id]; ok {
					if exKeys[q] == nil {
						exKeys[q] = make(map[int64]bool)
					}
					exKeys[q][paper.Key] = true
				}
			}
		}
	}

	var dense [][]candidate
	nprobe := 0
	if p.dense() {
		res, err := sh.SearchDense(ctx, p.vectors, p.k+extra, p.nprobe, p.categories)
		if err != nil {
			return nil, 0, err
		}
		if res.Kind == faiss.KindIVFFlat {
			nprobe = res.Nprobe
		}
		dense = make([][]candidate, p.nq)
		for q, hits := range res.Hits {
			row := make([]candidate, 0, p.k)
			for _, h := range hits {
				if exKeys[q][h.Key] {
					continue
				}
				row = append(row, candidate{shard: sh.ID(), key: h.Key, score: h.Score,
					denseRank: int32(len(row) + 1), denseScore: h.Score})
				if len(row) == p.k {
					break
				}
			}
			dense[q] = row
		}
	}
	var lexical [][]candidate
	if p.lexical() {
		lexical = make([][]candidate, p.nq)
		for q, text := range p.texts {
			hits, err := sh.SearchLexical(ctx, text, min(p.k+extra, store.MaxLexicalK), p.categories)
			if err != nil {
				return nil, 0, err
			}
			row := make([]candidate, 0, min(len(hits), p.k))
			for _, h := range hits {
				if exIDs[q][h.ID] {
					continue
				}
				row = append(row, candidate{shard: sh.ID(), key: h.Key, score: float32(h.Score),
					lexRank: int32(len(row) + 1), lexScore: float32(h.Score)})
				if len(row) == p.k {
					break
				}
			}
			lexical[q] = row
		}
	}
	switch p.mode {
	case indexv1.SearchMode_SEARCH_MODE_DENSE:
		return dense, nprobe, nil
	case indexv1.SearchMode_SEARCH_MODE_LEXICAL:
		return lexical, 0, nil
	}
	fused := make([][]candidate, p.nq)
	for q := range p.nq {
		fused[q] = fuse(dense[q], lexical[q], p.rrfK, p.k)
	}
	return fused, nprobe, nil
}

// fuse merges one shard's dense and lexical lists by reciprocal rank
// fusion: score = sum over the lists a paper is in of 1/(rrfK + rank). It
// keeps the best k, ties by key.
func fuse(dense, lexical []candidate, rrfK, k int) []candidate {
	byKey := make(map[int64]*candidate, len(dense)+len(lexical))
	var order []int64
	for _, d := range dense {
		c := d
		c.score = float32(1 / float64(rrfK+int(d.denseRank)))
		byKey[d.key] = &c
		order = append(order, d.key)
	}
	for _, l := range lexical {
		if c, ok := byKey[l.key]; ok {
			c.lexRank, c.lexScore = l.lexRank, l.lexScore
			c.score = float32(1/float64(rrfK+int(c.denseRank)) + 1/float64(rrfK+int(l.lexRank)))
			continue
		}
		c := l
		c.score = float32(1 / float64(rrfK+int(l.lexRank)))
		byKey[l.key] = &c
		order = append(order, l.key)
	}
	out := make([]candidate, 0, len(order))
	for _, key := range order {
		out = append(out, *byKey[key])
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return out[:min(len(out), k)]
}

// attachPapers fetches the metadata of the merged hits (only their ids when
// omit), one store query per shard, and fills resp. A hit whose paper was
// deleted since the index returned it is dropped.
func (s *Server) attachPapers(ctx context.Context, c *collection.Collection, merged [][]candidate, resp *indexv1.SearchResponse, omit bool) error {
	keys := make(map[int][]int64)
	for _, hits := range merged {
		for _, h := range hits {
			keys[h.shard] = append(keys[h.shard], h.key)
		}
	}
	var mu sync.Mutex
	papers := make(map[int]map[int64]*indexv1.Paper, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	for id, ks := range keys {
		g.Go(func() error {
			sh, err := c.Shard(id)
			if err != nil {
				return err
			}
			if sh == nil {
				return shard.ErrClosed
			}
			got := make(map[int64]*indexv1.Paper, len(ks))
			if omit {
				ids, err := sh.Store().IDsByKeys(gctx, ks)
				if err != nil {
					return err
				}
				for k, id := range ids {
					got[k] = &indexv1.Paper{Id: id}
				}
			} else {
				ps, err := sh.Store().GetByKeys(gctx, ks, false)
				if err != nil {
					return err
				}
				for k, p := range ps {
					got[k] = paperToProto(&p)
				}
			}
			mu.Lock()
			papers[id] = got
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for q, hits := range merged {
		out := make([]*indexv1.Hit, 0, len(hits))
		for _, h := range hits {
			p, ok := papers[h.shard][h.key]
			if !ok {
				continue
			}
			hit := &indexv1.Hit{
				Id: p.GetId(), Score: h.score, Shard: int32(h.shard), Paper: p,
				DenseRank: h.denseRank, DenseScore: h.denseScore, LexicalRank: h.lexRank, LexicalScore: h.lexScore,
			}
			if omit {
				hit.Paper = nil
			}
			out = append(out, hit)
		}
		resp.Results[q].Hits = out
	}
	return nil
}
