package fanout

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GetPaper fetches one paper from a live replica of its shard, trying the
// next replica when one cannot answer. NOT_FOUND when it is not stored.
func (c *Cluster) GetPaper(ctx context.Context, id string, withVector bool) (*indexv1.Paper, error) {
	v, err := c.known(ctx)
	if err != nil {
		return nil, err
	}
	got, err := c.shardPapers(ctx, v, shardset.ShardOf(id, v.total), []string{id}, withVector)
	if err != nil {
		return nil, err
	}
	if p, ok := got[id]; ok {
		return p, nil
	}
	return nil, status.Errorf(codes.NotFound, "paper %s is not in the index", id)
}

// GetPapers fetches the metadata of ids, without vectors, asking every
// shard concerned in parallel. Ids that are not stored are absent from the
// map (a search may rank a paper deleted a moment later). With
// allowPartial, the shards that have no live replica are returned in
// missing, ascending, instead of failing the call.
func (c *Cluster) GetPapers(ctx context.Context, ids []string, allowPartial bool) (papers map[string]*indexv1.Paper, missing []int, err error) {
	papers = make(map[string]*indexv1.Paper, len(ids))
	if len(ids) == 0 {
		return papers, nil, nil
	}
	v, err := c.known(ctx)
	if err != nil {
		return nil, nil, err
	}
	byShard := map[int][]string{}
	for _, id := range ids {
		s := shardset.ShardOf(id, v.total)
		byShard[s] = append(byShard[s], id)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for s, ids := range byShard {
		g.Go(func() error {
			got, err := c.shardPapers(gctx, v, s, ids, false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				maps.Copy(papers, got)
			case allowPartial && ended(gctx) == nil && unreachable(err):
				missing = append(missing, s)
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	slices.Sort(missing)
	return papers, missing, nil
}

// shardPapers fetches the stored papers among ids, all of shard s, from a
// live replica of s, trying the next replica when one cannot answer.
func (c *Cluster) shardPapers(ctx context.Context, v *view, s int, ids []string, withVector bool) (map[string]*indexv1.Paper, error) {
	failures := map[int]error{}
	for attempt := 0; attempt < 2; attempt++ {
		for _, i := range v.liveOwners(s, c.rr.Add(1), nil) {
			if _, failed := failures[i]; failed {
				continue
			}
			resp, err := c.insts[i].index.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: ids, IncludeVectors: withVector})
			if err == nil {
				want := make(map[string]bool, len(ids))
				for _, id := range ids {
					want[id] = true
				}
				got := make(map[string]*indexv1.Paper, len(ids))
				for _, p := range resp.GetPapers() {
					if want[p.GetId()] {
						got[p.GetId()] = p
					}
				}
				return got, nil
			}
			if err := ended(ctx); err != nil {
				return nil, contextError(err)
			}
			if !unreachable(err) {
				return nil, err
			}
			failures[i] = err
			if shouldMarkDown(err) {
				c.markDown(i, err)
			}
		}
		// Every replica failed or none is up: look again once.
		c.refreshIfStale(ctx, time.Second)
		v = c.snapshot()
	}
	return nil, c.missingError(v, []int{s}, failures, "retry later")
}

// known returns the state once the shard count is known, refreshing first
// when it is not.
func (c *Cluster) known(ctx context.Context) (*view, error) {
	v := c.snapshot()
	if v.total == 0 {
		c.refreshIfStale(ctx, time.Second)
		v = c.snapshot()
	}
	if v.total == 0 {
		return nil, status.Errorf(codes.Unavailable, "no index instance has answered yet (%s); retry when /readyz says ready", c.allReasons(v))
	}
	return v, nil
}

// writePlan checks that shards can be written: every configured instance
// has reported its shards (else an unknown one might own them), every shard
// has an owner, and every owner is up. Writes go to every replica, so one
// replica down means no write rather than replicas silently diverging.
func (c *Cluster) writePlan(ctx context.Context, shards []int) (*view, error) {
	v, err := c.known(ctx)
	if err != nil {
		return nil, err
	}
	check := func(v *view) error {
		var problems []string
		for i, st := range v.insts {
			if !st.known {
				problems = append(problems, fmt.Sprintf("index %s has not reported its shards yet (%s)", c.insts[i].addr, st.err))
			}
		}
		for _, s := range shards {
			if len(v.owners[s]) == 0 {
				problems = append(problems, fmt.Sprintf("no index instance owns shard %d", s))
			}
			for _, i := range v.owners[s] {
				if !v.insts[i].up {
					problems = append(problems, fmt.Sprintf("index %s (shard %d) is down: %s", c.insts[i].addr, s, v.insts[i].err))
				}
			}
		}
		if len(problems) == 0 {
			return nil
		}
		slices.Sort(problems)
		return status.Errorf(codes.Unavailable, "nothing was written: %s; writes go to every replica of a shard, so retry when all are up", strings.Join(slices.Compact(problems), "; "))
	}
	if check(v) == nil {
		return v, nil
	}
	c.refreshIfStale(ctx, time.Second)
	v = c.snapshot()
	if err := check(v); err != nil {
		return nil, err
	}
	return v, nil
}

// CheckWritable fails when some replica of the shards of ids is down, so a
// caller can refuse a write before doing costly work for it.
func (c *Cluster) CheckWritable(ctx context.Context, ids []string) error {
	v, err := c.known(ctx)
	if err != nil {
		return err
	}
	_, err = c.writePlan(ctx, shardsOf(ids, v.total))
	return err
}

func shardsOf(ids []string, total int) []int {
	var out []int
	for _, id := range ids {
		out = append(out, shardset.ShardOf(id, total))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UpsertResult counts what an upsert changed, each paper once.
type UpsertResult struct {
	Inserted, Replaced int
}

type shardCall struct {
	inst, shard int
	err         error
}

// Upsert writes papers to every replica of their shards, one call per
// instance and shard. Any failure is an error that says which shards were
// written where and which were not; upserts are idempotent, so retrying
// the whole batch is safe.
func (c *Cluster) Upsert(ctx context.Context, model string, papers []*indexv1.Paper) (UpsertResult, error) {
	v, err := c.known(ctx)
	if err != nil {
		return UpsertResult{}, err
	}
	byShard := map[int][]*indexv1.Paper{}
	for _, p := range papers {
		s := shardset.ShardOf(p.GetId(), v.total)
		byShard[s] = append(byShard[s], p)
	}
	shards := sortedKeys(byShard)
	if v, err = c.writePlan(ctx, shards); err != nil {
		return UpsertResult{}, err
	}
	var (
		mu    sync.Mutex
		res   UpsertResult
		calls []shardCall
		wg    sync.WaitGroup
	)
	for _, s := range shards {
		for n, i := range v.owners[s] {
			wg.Go(func() {
				resp, err := c.insts[i].index.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: model, Papers: byShard[s]})
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, shardCall{inst: i, shard: s, err: err})
				// Count each shard from its first replica only.
				if err == nil && n == 0 {
					res.Inserted += int(resp.GetInserted())
					res.Replaced += int(resp.GetReplaced())
				}
			})
		}
	}
	wg.Wait()
	c.invalidate()
	return res, c.writeError(ctx, "upsert", calls, "upserts are idempotent: retry the whole batch")
}

// Delete removes a paper from every replica of its shard. It reports
// whether any replica held it.
func (c *Cluster) Delete(ctx context.Context, id string) (bool, error) {
	v, err := c.known(ctx)
	if err != nil {
		return false, err
	}
	s := shardset.ShardOf(id, v.total)
	if v, err = c.writePlan(ctx, []int{s}); err != nil {
		return false, err
	}
	var (
		mu      sync.Mutex
		deleted bool
		calls   []shardCall
		wg      sync.WaitGroup
	)
	for _, i := range v.owners[s] {
		wg.Go(func() {
			resp, err := c.insts[i].index.DeletePapers(ctx, &indexv1.DeletePapersRequest{Ids: []string{id}})
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, shardCall{inst: i, shard: s, err: err})
			if err == nil && slices.Contains(resp.GetDeletedIds(), id) {
				deleted = true
			}
		})
	}
	wg.Wait()
	c.invalidate()
	return deleted, c.writeError(ctx, "delete", calls, "deletes are idempotent: retry")
}

// writeError summarizes failed write calls, or returns nil when all
// succeeded. The code is the first failure's, so a refused write
// (INVALID_ARGUMENT) stays the caller's to fix.
func (c *Cluster) writeError(ctx context.Context, what string, calls []shardCall, retry string) error {
	slices.SortFunc(calls, func(a, b shardCall) int {
		if x := cmp.Compare(a.shard, b.shard); x != 0 {
			return x
		}
		return cmp.Compare(a.inst, b.inst)
	})
	var failed, done []string
	var first error
	for _, call := range calls {
		where := fmt.Sprintf("shard %d on %s", call.shard, c.insts[call.inst].addr)
		if call.err == nil {
			done = append(done, where)
			continue
		}
		if first == nil {
			first = call.err
		}
		if shouldMarkDown(call.err) {
			c.markDown(call.inst, call.err)
		}
		failed = append(failed, fmt.Sprintf("%s: %s", where, status.Convert(call.err).Message()))
	}
	if first == nil {
		return nil
	}
	code := status.Code(first)
	if err := ended(ctx); err != nil {
		code = status.Code(contextError(err))
	}
	written := "nothing was written"
	if len(done) > 0 {
		written = "written: " + strings.Join(done, ", ")
	}
	return status.Errorf(code, "%s incomplete: failed: %s; %s; %s", what, strings.Join(failed, "; "), written, retry)
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Categories counts papers per category over the whole collection. Index
// instances count over all the shards they own, so the counts come from a
// set of live instances whose shards cover the collection exactly once.
func (c *Cluster) Categories(ctx context.Context) ([]*indexv1.CategoryCount, error) {
	v, err := c.known(ctx)
	if err != nil {
		return nil, err
	}
	var cover []int
	for attempt := 0; attempt < 2; attempt++ {
		if missing := c.Topology().Missing; len(missing) > 0 {
			if attempt == 0 {
				c.refreshIfStale(ctx, time.Second)
				v = c.snapshot()
				continue
			}
			return nil, c.missingError(v, missing, nil, "retry later")
		}
		cover = exactCover(v)
		if cover == nil {
			return nil, status.Errorf(codes.FailedPrecondition,
				"cannot count categories: no set of live index instances holds every shard exactly once (%s); "+
					"give each replica set the same shard ranges", c.ownershipSummary(v))
		}
		break
	}
	counts := map[string]*indexv1.CategoryCount{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(cover))
	for n, i := range cover {
		wg.Go(func() {
			resp, err := c.insts[i].index.ListCategories(ctx, &indexv1.ListCategoriesRequest{})
			if err != nil {
				if shouldMarkDown(err) {
					c.markDown(i, err)
				}
				errs[n] = fmt.Errorf("index %s: %w", c.insts[i].addr, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, cc := range resp.GetCategories() {
				sum := counts[cc.GetCategory()]
				if sum == nil {
					sum = &indexv1.CategoryCount{Category: cc.GetCategory()}
					counts[cc.GetCategory()] = sum
				}
				sum.Primary += cc.GetPrimary()
				sum.Total += cc.GetTotal()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, status.Errorf(status.Code(err), "counting categories: %s", err)
		}
	}
	out := make([]*indexv1.CategoryCount, 0, len(counts))
	for _, cc := range counts {
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b *indexv1.CategoryCount) int {
		if x := cmp.Compare(b.GetTotal(), a.GetTotal()); x != 0 {
			return x
		}
		return cmp.Compare(a.GetCategory(), b.GetCategory())
	})
	return out, nil
}

func (c *Cluster) ownershipSummary(v *view) string {
	var parts []string
	for i, st := range v.insts {
		if st.up {
			parts = append(parts, fmt.Sprintf("%s owns %s", c.insts[i].addr, shardset.Format(st.shards)))
		}
	}
	return strings.Join(parts, ", ")
}

// exactCover returns live instances whose shard sets are disjoint and
// together hold every shard, preferring earlier instances, or nil when no
// such set exists.
func exactCover(v *view) []int {
	covered := make([]bool, v.total)
	var chosen []int
	var solve func() bool
	solve = func() bool {
		first := slices.Index(covered, false)
		if first < 0 {
			return true
		}
		for _, i := range v.owners[first] {
			st := v.insts[i]
			if !st.up || slices.ContainsFunc(st.shards, func(s int) bool { return covered[s] }) {
				continue
			}
			for _, s := range st.shards {
				covered[s] = true
			}
			chosen = append(chosen, i)
			if solve() {
				return true
			}
			chosen = chosen[:len(chosen)-1]
			for _, s := range st.shards {
				covered[s] = false
			}
		}
		return false
	}
	if !solve() {
		return nil
	}
	return chosen
}
