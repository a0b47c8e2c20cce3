// Package fanout is the gateway's view of the index instances: which
// instance owns which shards (discovered with GetStats, refreshed
// periodically and on failure), searches sent to one live replica of every
// shard in parallel and merged exactly, and writes routed to every replica
// of a paper's shard.
package fanout

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Instance is one index instance to connect to.
type Instance struct {
	Addr string
	Conn grpc.ClientConnInterface
}

// Options configures a Cluster.
type Options struct {
	Logger *slog.Logger
	// RefreshInterval is how often every instance is asked for its shards
	// in the background; 0 means 10s.
	RefreshInterval time.Duration
	// ProbeTimeout bounds one instance's answer during a refresh; 0 means 2s.
	ProbeTimeout time.Duration
	// CallTimeout bounds one search call to one instance, so a hung replica
	// is given up for another while the request still has time; 0 means no
	// bound other than the request's deadline.
	CallTimeout time.Duration
}

// Cluster routes calls to index instances. It is safe for concurrent use.
type Cluster struct {
	opts  Options
	log   *slog.Logger
	insts []*instance
	rr    atomic.Uint64

	mu   sync.RWMutex
	view *view

	// refresh runs one at a time; callers that need fresh state wait for
	// the one in progress.
	refreshMu   sync.Mutex
	refreshing  chan struct{}
	lastRefresh time.Time
	kick        chan struct{}
}

type instance struct {
	addr   string
	conn   grpc.ClientConnInterface
	index  indexv1.IndexServiceClient
	health healthpb.HealthClient
}

// instState is what the gateway knows of one instance.
type instState struct {
	// known is true once the instance has answered GetStats at least once:
	// its shards are known even while it is down.
	known bool
	up    bool
	err   string
	total int
	// shards are the owned shards, sorted.
	shards []int
	papers map[int]int64
	model  string
	dim    int
}

// view is an immutable snapshot of the cluster's state.
type view struct {
	// total is the collection's shard count; 0 while no instance answered.
	total int
	model string
	dim   int
	insts []instState
	// owners lists, per shard, the indexes of the instances that own it,
	// up or down, ascending.
	owners [][]int
}

// New returns a cluster over instances. Call Refresh (or Run) to discover
// their shards.
func New(instances []Instance, opts Options) *Cluster {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 10 * time.Second
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 2 * time.Second
	}
	c := &Cluster{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}
	for _, in := range instances {
		c.insts = append(c.insts, &instance{addr: in.Addr, conn: in.Conn, index: indexv1.NewIndexServiceClient(in.Conn), health: healthpb.NewHealthClient(in.Conn)})
	}
	c.view = &view{insts: make([]instState, len(c.insts))}
	for i := range c.view.insts {
		c.view.insts[i].err = "not contacted yet"
	}
	return c
}

func (c *Cluster) snapshot() *view {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.view
}

// Run refreshes the cluster's state every RefreshInterval, and soon after
// a call failed, until ctx is done.
func (c *Cluster) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.Refresh(ctx)
	}
}

// kickRefresh asks Run for a refresh soon, without waiting for it.
func (c *Cluster) kickRefresh() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Refresh asks every instance for its health and shards now. When a
// refresh is already running it waits for that one instead.
func (c *Cluster) Refresh(ctx context.Context) {
	c.refreshMu.Lock()
	if ch := c.refreshing; ch != nil {
		c.refreshMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	c.refreshing = ch
	c.refreshMu.Unlock()

	c.refresh(context.WithoutCancel(ctx))

	c.refreshMu.Lock()
	c.refreshing = nil
	c.lastRefresh = time.Now()
	c.refreshMu.Unlock()
	close(ch)
}

// refreshIfStale refreshes unless a refresh finished within the last
// interval, so a burst of failing requests costs one refresh.
func (c *Cluster) refreshIfStale(ctx context.Context, interval time.Duration) {
	c.refreshMu.Lock()
	fresh := c.refreshing == nil && time.Since(c.lastRefresh) < interval
	c.refreshMu.Unlock()
	if !fresh {
		c.Refresh(ctx)
	}
}

type probe struct {
	stats *indexv1.GetStatsResponse
	err   error
}

func (c *Cluster) probe(ctx context.Context, in *instance, wasUp bool) probe {
	if r, ok := in.conn.(interface{ ResetConnectBackoff() }); ok && !wasUp {
		// An instance that was down may be back: reconnect now rather than
		// at the end of the connection's backoff.
		r.ResetConnectBackoff()
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
	defer cancel()
	// No WaitForReady: a dead instance fails at once instead of holding
	// the refresh (and the requests waiting on it) for the whole timeout.
	// A restarted one is reconnected within the connection's backoff,
	// which the gateway keeps short.
	h, err := in.health.Check(ctx, &healthpb.HealthCheckRequest{Service: indexv1.IndexService_ServiceDesc.ServiceName})
	if err != nil {
		return probe{err: fmt.Errorf("health check: %s", status.Convert(err).Message())}
	}
	stats, err := in.index.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		return probe{err: fmt.Errorf("GetStats: %s", status.Convert(err).Message())}
	}
	if h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return probe{stats: stats, err: fmt.Errorf("health check says %s", h.GetStatus())}
	}
	return probe{stats: stats}
}

func (c *Cluster) refresh(ctx context.Context) {
	probes := make([]probe, len(c.insts))
	before := c.snapshot()
	var wg sync.WaitGroup
	for i, in := range c.insts {
		wg.Go(func() { probes[i] = c.probe(ctx, in, before.insts[i].up) })
	}
	wg.Wait()

	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.view
	nv := &view{insts: make([]instState, len(c.insts))}
	// The collection's shard count is what most instances say; one that
	// disagrees is misconfigured and left out rather than trusted.
	votes := map[int]int{}
	for _, p := range probes {
		if p.stats != nil {
			votes[int(p.stats.GetTotalShards())]++
		}
	}
	for t, n := range votes {
		if n > votes[nv.total] || (n == votes[nv.total] && t < nv.total) {
			nv.total = t
		}
	}
	if nv.total == 0 {
		nv.total = old.total
	}
	for i, p := range probes {
		st := old.insts[i]
		if p.stats != nil {
			st.known, st.total = true, int(p.stats.GetTotalShards())
			st.model, st.dim = p.stats.GetModel(), int(p.stats.GetDimension())
			st.shards, st.papers = nil, map[int]int64{}
			for _, s := range p.stats.GetShards() {
				st.shards = append(st.shards, int(s.GetShard()))
				st.papers[int(s.GetShard())] = s.GetPapers()
			}
			slices.Sort(st.shards)
		}
		st.up, st.err = p.err == nil, ""
		if p.err != nil {
			st.err = p.err.Error()
		}
		if st.known && st.total != nv.total {
			st.up = false
			st.err = fmt.Sprintf("reports %d total shards where the other instances report %d; fix its -total-shards", st.total, nv.total)
		}
		if st.known && st.up {
			if err := shardset.ValidateTotal(st.total); err != nil {
				st.up, st.err = false, err.Error()
			}
		}
		if st.up != old.insts[i].up || st.err != old.insts[i].err {
			if st.up {
				c.log.Info("index instance up", "addr", c.insts[i].addr, "shards", shardset.Format(st.shards), "total_shards", st.total)
			} else {
				c.log.Warn("index instance down", "addr", c.insts[i].addr, "err", st.err)
			}
		}
		if st.up && st.model != "" {
			nv.model, nv.dim = st.model, st.dim
		}
		nv.insts[i] = st
	}
	if nv.model == "" {
		nv.model, nv.dim = old.model, old.dim
	}
	nv.owners = owners(nv)
	c.view = nv
}

// owners indexes, per shard, the instances that own it (up or down) and
// agree on the shard count.
func owners(v *view) [][]int {
	if v.total <= 0 {
		return nil
	}
	out := make([][]int, v.total)
	for i, st := range v.insts {
		if !st.known || st.total != v.total {
			continue
		}
		for _, s := range st.shards {
			if s >= 0 && s < v.total {
				out[s] = append(out[s], i)
			}
		}
	}
	return out
}

// markDown records that a call to instance i failed with err, so other
// requests avoid it until the next refresh, which it triggers.
func (c *Cluster) markDown(i int, err error) {
	c.mu.Lock()
	old := c.view
	if !old.insts[i].up {
		c.mu.Unlock()
		return
	}
	nv := *old
	nv.insts = slices.Clone(old.insts)
	nv.insts[i].up = false
	nv.insts[i].err = status.Convert(err).Message()
	c.view = &nv
	c.mu.Unlock()
	c.log.Warn("index instance down", "addr", c.insts[i].addr, "err", nv.insts[i].err)
	c.kickRefresh()
}

// unreachable reports whether err says the instance could not serve the
// call (down, starting, overloaded, slow, or failing inside), so another
// replica should be tried. Errors about the request itself
// (INVALID_ARGUMENT, NOT_FOUND) and FAILED_PRECONDITION (a model that
// differs from the collection's, or a shard the instance no longer owns,
// which the refresh that follows corrects) are answered as they are.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.Aborted:
		return true
	}
	return false
}

// shouldMarkDown reports whether err means the instance is gone, rather
// than busy, slow or refusing the request.
func shouldMarkDown(err error) bool {
	return status.Code(err) == codes.Unavailable
}

// Topology is the cluster as the gateway sees it.
type Topology struct {
	TotalShards int
	// Model and Dimension are the collection's, as the instances report.
	Model     string
	Dimension int
	Shards    []ShardInfo
	Instances []InstanceInfo
	// Unowned are shards no instance owns; Missing are shards with no live
	// replica (Unowned included).
	Unowned []int
	Missing []int
	// PapersIndexed counts each shard once, from a live replica.
	PapersIndexed int64
}

// ShardInfo says where a shard lives.
type ShardInfo struct {
	Shard    int
	Replicas []Replica
}

// Replica is one instance serving a shard.
type Replica struct {
	Addr    string
	Serving bool
	Papers  int64
}

// InstanceInfo is the state of one configured instance.
type InstanceInfo struct {
	Addr   string
	Up     bool
	Known  bool
	Err    string
	Shards []int
}

// RefreshedTopology refreshes (or joins the refresh under way) and
// returns the state: what readiness checks should judge by, since it is
// what requests are routed by.
func (c *Cluster) RefreshedTopology(ctx context.Context) Topology {
	c.Refresh(ctx)
	return c.Topology()
}

// FreshTopology returns the state after a refresh, unless one finished
// within the last second and no write happened since.
func (c *Cluster) FreshTopology(ctx context.Context) Topology {
	c.refreshIfStale(ctx, time.Second)
	return c.Topology()
}

// invalidate makes the next refreshIfStale refresh: a write changed the
// instances' paper counts.
func (c *Cluster) invalidate() {
	c.refreshMu.Lock()
	c.lastRefresh = time.Time{}
	c.refreshMu.Unlock()
}

// Topology returns the current state.
func (c *Cluster) Topology() Topology {
	v := c.snapshot()
	t := Topology{TotalShards: v.total, Model: v.model, Dimension: v.dim}
	for i, st := range v.insts {
		t.Instances = append(t.Instances, InstanceInfo{Addr: c.insts[i].addr, Up: st.up, Known: st.known, Err: st.err, Shards: st.shards})
	}
	for s, os := range v.owners {
		si := ShardInfo{Shard: s}
		var papers int64 = -1
		for _, i := range os {
			st := v.insts[i]
			si.Replicas = append(si.Replicas, Replica{Addr: c.insts[i].addr, Serving: st.up, Papers: st.papers[s]})
			if st.up && papers < 0 {
				papers = st.papers[s]
			}
		}
		if len(os) == 0 {
			t.Unowned = append(t.Unowned, s)
		}
		if papers < 0 {
			t.Missing = append(t.Missing, s)
		} else {
			t.PapersIndexed += papers
		}
		t.Shards = append(t.Shards, si)
	}
	return t
}

// liveOwners returns the up instances owning shard s, rotated by start
// so that successive requests spread over replicas.
func (v *view) liveOwners(s int, start uint64, skip map[int]bool) []int {
	var live []int
	for _, i := range v.owners[s] {
		if v.insts[i].up && !skip[i] {
			live = append(live, i)
		}
	}
	if len(live) > 1 {
		r := int(start % uint64(len(live)))
		live = append(live[r:], live[:r]...)
	}
	return live
}

// downReasons describes why the owners of shards are not usable.
func (c *Cluster) downReasons(v *view, shards []int, failures map[int]error) string {
	seen := map[int]bool{}
	var parts []string
	for _, s := range shards {
		if s >= len(v.owners) || len(v.owners[s]) == 0 {
			parts = append(parts, fmt.Sprintf("no index instance owns shard %d", s))
			continue
		}
		for _, i := range v.owners[s] {
			if seen[i] {
				continue
			}
			seen[i] = true
			reason := v.insts[i].err
			if err, ok := failures[i]; ok {
				reason = status.Convert(err).Message()
			}
			if reason == "" {
				reason = "down"
			}
			parts = append(parts, fmt.Sprintf("index %s: %s", c.insts[i].addr, reason))
		}
	}
	slices.Sort(parts)
	return strings.Join(slices.Compact(parts), "; ")
}

func formatShards(shards []int) string {
	s := slices.Clone(shards)
	sort.Ints(s)
	return shardset.Format(s)
}

func cmpHits(a, b *indexv1.Hit) int {
	if c := cmp.Compare(b.GetScore(), a.GetScore()); c != 0 {
		return c
	}
	return cmp.Compare(a.GetId(), b.GetId())
}
