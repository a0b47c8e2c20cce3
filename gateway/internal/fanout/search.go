package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ReasonShardsUnavailable is the google.rpc.ErrorInfo reason of the error
// a search returns when some shards have no live replica; its metadata
// key "missing_shards" lists them ("3,5-6").
const ReasonShardsUnavailable = "SHARDS_UNAVAILABLE"

// ErrorDomain is the google.rpc.ErrorInfo domain of the gateway's errors.
const ErrorDomain = "arxivsearch.gateway"

// SearchResult is a search merged over every shard.
type SearchResult struct {
	// Hits holds, per query, the best k hits by score, ties broken by id.
	Hits [][]*indexv1.Hit
	// Missing lists shards that could not be searched (only when partial
	// results were allowed).
	Missing []int
	// Nprobe is the largest nprobe any instance used.
	Nprobe int32
}

// Search runs req on one live replica of every shard, in parallel, and
// merges the hits exactly. req.Shards is set per instance. A replica that
// fails is replaced by another replica of its shards while the request has
// time. Shards without a live replica fail the search with UNAVAILABLE,
// naming them, unless allowPartial, when the result lists them instead.
func (c *Cluster) Search(ctx context.Context, req *indexv1.SearchRequest, allowPartial bool) (*SearchResult, error) {
	v := c.snapshot()
	if v.total == 0 {
		// Nothing known yet (the gateway started before the instances):
		// look now rather than fail.
		c.refreshIfStale(ctx, time.Second)
		v = c.snapshot()
	}
	if v.total == 0 {
		return nil, status.Errorf(codes.Unavailable, "no index instance has answered yet (%s); retry when /readyz says ready", c.allReasons(v))
	}
	remaining := make([]int, v.total)
	for i := range remaining {
		remaining[i] = i
	}
	var (
		lists    = make([][]*indexv1.Hit, len(req.GetQueries()))
		nprobe   int32
		failures = map[int]error{} // instance index -> error of this request
		skip     = map[int]bool{}
	)
	start := c.rr.Add(1)
	refreshed := false
	var missing []int
	for len(remaining) > 0 {
		// Plan: one live replica per remaining shard, grouped by instance.
		plan := map[int][]int{}
		missing = missing[:0]
		for _, s := range remaining {
			live := v.liveOwners(s, start, skip)
			if len(live) == 0 {
				missing = append(missing, s)
				continue
			}
			plan[live[0]] = append(plan[live[0]], s)
		}
		if len(missing) > 0 && !refreshed && ctx.Err() == nil {
			// Before giving shards up, look again: an instance may be back.
			refreshed = true
			c.refreshIfStale(ctx, time.Second)
			v = c.snapshot()
			clear(skip)
			continue
		}
		if len(plan) == 0 {
			break
		}
		type outcome struct {
			inst   int
			shards []int
			resp   *indexv1.SearchResponse
			err    error
		}
		outcomes := make(chan outcome, len(plan))
		for inst, shards := range plan {
			go func() {
				r := proto.CloneOf(req)
				r.Shards = make([]int32, len(shards))
				for i, s := range shards {
					r.Shards[i] = int32(s)
				}
				cctx, cancel := c.callContext(ctx)
				defer cancel()
				resp, err := c.insts[inst].index.Search(cctx, r)
				if err == nil && len(resp.GetResults()) != len(req.GetQueries()) {
					err = status.Errorf(codes.Internal, "index %s returned %d results for %d queries", c.insts[inst].addr, len(resp.GetResults()), len(req.GetQueries()))
				}
				outcomes <- outcome{inst: inst, shards: shards, resp: resp, err: err}
			}()
		}
		remaining = slices.Clone(missing)
		var fatal error
		for range plan {
			o := <-outcomes
			if o.err == nil {
				for q, res := range o.resp.GetResults() {
					lists[q] = append(lists[q], res.GetHits()...)
				}
				nprobe = max(nprobe, o.resp.GetNprobe())
				continue
			}
			if err := ended(ctx); err != nil {
				fatal = err
				continue
			}
			if !unreachable(o.err) {
				// Every replica would say the same. FAILED_PRECONDITION may
				// also mean the shard map is stale: look again soon.
				if status.Code(o.err) == codes.FailedPrecondition {
					c.kickRefresh()
				}
				if fatal == nil {
					fatal = o.err
				}
				continue
			}
			failures[o.inst] = o.err
			skip[o.inst] = true
			if shouldMarkDown(o.err) {
				c.markDown(o.inst, o.err)
			}
			remaining = append(remaining, o.shards...)
		}
		if fatal != nil {
			return nil, contextError(fatal)
		}
		slices.Sort(remaining)
		// Shards that were already missing stay missing: loop only while
		// failed shards can go to another replica.
		if slices.Equal(remaining, missing) {
			break
		}
	}
	missing = remaining
	if err := ended(ctx); err != nil && len(missing) > 0 {
		return nil, contextError(err)
	}
	if len(missing) > 0 && !allowPartial {
		return nil, c.missingError(v, missing, failures, "retry later, or set allow_partial to get results from the other shards")
	}
	res := &SearchResult{Hits: make([][]*indexv1.Hit, len(lists)), Missing: missing, Nprobe: nprobe}
	for q, l := range lists {
		res.Hits[q] = MergeTopK(l, int(req.GetK()))
	}
	return res, nil
}

func (c *Cluster) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.CallTimeout > 0 {
		return context.WithTimeout(ctx, c.opts.CallTimeout)
	}
	return context.WithCancel(ctx)
}

// allReasons describes every instance that is down.
func (c *Cluster) allReasons(v *view) string {
	var parts []string
	for i, st := range v.insts {
		if !st.up {
			parts = append(parts, fmt.Sprintf("index %s: %s", c.insts[i].addr, st.err))
		}
	}
	return strings.Join(parts, "; ")
}

// missingError is the UNAVAILABLE (or RESOURCE_EXHAUSTED, when every
// replica was only overloaded) error of a call missing shards; hint says
// what the caller can do.
func (c *Cluster) missingError(v *view, missing []int, failures map[int]error, hint string) error {
	code := codes.Unavailable
	if len(failures) > 0 {
		code = codes.ResourceExhausted
		for _, err := range failures {
			if status.Code(err) != codes.ResourceExhausted {
				code = codes.Unavailable
			}
		}
	}
	what := "shards " + formatShards(missing) + " of " + strconv.Itoa(v.total) + " have"
	if len(missing) == 1 {
		what = "shard " + strconv.Itoa(missing[0]) + " of " + strconv.Itoa(v.total) + " has"
	}
	st := status.Newf(code, "%s no live replica (%s); %s", what, c.downReasons(v, missing, failures), hint)
	ids := make([]string, len(missing))
	for i, s := range missing {
		ids[i] = strconv.Itoa(s)
	}
	if d, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: ReasonShardsUnavailable, Domain: ErrorDomain, Metadata: map[string]string{"missing_shards": formatShards(missing)}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)},
	); err == nil {
		st = d
	}
	return st.Err()
}

// ended returns ctx's error, or context.DeadlineExceeded once its deadline
// has passed. gRPC can fail a call for an expired deadline a moment before
// the context's own timer fires; without the deadline check such a call
// would count as a failed replica and the caller would be told the shards
// are unavailable instead of that it ran out of time.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// contextError turns a context error into its gRPC status.
func contextError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the request ran out of time waiting for the index; retry, or raise the timeout")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the request was canceled")
	}
	return err
}

// MergeTopK returns the best k hits by score, ties broken by ascending id,
// each paper once. Each shard's list holds its own best k, so merging them
// gives exactly the best k over all shards.
func MergeTopK(hits []*indexv1.Hit, k int) []*indexv1.Hit {
	hits = slices.Clone(hits)
	slices.SortStableFunc(hits, cmpHits)
	seen := make(map[string]bool, len(hits))
	out := make([]*indexv1.Hit, 0, min(k, len(hits)))
	for _, h := range hits {
		if len(out) == k {
			break
		}
		if seen[h.GetId()] {
			continue
		}
		seen[h.GetId()] = true
		out = append(out, h)
	}
	return out
}
