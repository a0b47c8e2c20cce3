package live

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/searchclient"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ShardStat is one replica of a shard as its index instance reports it.
type ShardStat struct {
	Shard         int    `json:"shard"`
	Address       string `json:"address"`
	Kind          string `json:"kind"` // "flat" or "IVF"
	Nlist         int    `json:"nlist"`
	DefaultNprobe int    `json:"default_nprobe"`
	Papers        int64  `json:"papers"`
	Indexed       int64  `json:"indexed_vectors"`
	Training      bool   `json:"training"`
}

// admin holds connections to the index instances the gateway's /v1/info
// names. The public API does not say whether a shard is flat or IVF, so
// the evaluation asks the instances themselves (GetStats), and retrains
// through them when asked to.
type admin struct {
	conns   map[string]*grpc.ClientConn
	clients map[string]indexv1.IndexServiceClient
	// unreachable is why the instances could not be asked, once known.
	unreachable error
}

func (d *Deployment) closeAdmin() {
	if d.admin == nil {
		return
	}
	for _, c := range d.admin.conns {
		c.Close()
	}
	d.admin = nil
}

// instances returns a client per index instance of info.
func (d *Deployment) instances(info *searchclient.Info) (map[string]indexv1.IndexServiceClient, error) {
	if d.admin == nil {
		d.admin = &admin{conns: map[string]*grpc.ClientConn{}, clients: map[string]indexv1.IndexServiceClient{}}
	}
	for _, s := range info.Shards {
		for _, r := range s.Replicas {
			if _, ok := d.admin.clients[r.Address]; ok {
				continue
			}
			conn, err := grpc.NewClient(r.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return nil, fmt.Errorf("index instance %s: %w", r.Address, err)
			}
			d.admin.conns[r.Address] = conn
			d.admin.clients[r.Address] = indexv1.NewIndexServiceClient(conn)
		}
	}
	return d.admin.clients, nil
}

// stats asks every instance for its shards.
func (d *Deployment) stats(ctx context.Context, clients map[string]indexv1.IndexServiceClient) ([]ShardStat, error) {
	var out []ShardStat
	for addr, c := range clients {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.GetStats(cctx, &indexv1.GetStatsRequest{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("index instance %s: GetStats: %w", addr, err)
		}
		for _, s := range resp.GetShards() {
			out = append(out, shardStat(addr, s))
		}
	}
	slices.SortFunc(out, func(a, b ShardStat) int {
		if a.Shard != b.Shard {
			return a.Shard - b.Shard
		}
		return strings.Compare(a.Address, b.Address)
	})
	return out, nil
}

func shardStat(addr string, s *indexv1.ShardStats) ShardStat {
	kind := "flat"
	if s.GetKind() == indexv1.IndexKind_INDEX_KIND_IVF_FLAT {
		kind = "IVF"
	}
	return ShardStat{Shard: int(s.GetShard()), Address: addr, Kind: kind, Nlist: int(s.GetNlist()),
		DefaultNprobe: int(s.GetDefaultNprobe()), Papers: s.GetPapers(), Indexed: s.GetIndexedVectors(), Training: s.GetTraining()}
}

// settle retrains the shards when asked, then waits until every shard's
// index holds all its papers and no training runs, seen twice in a row a
// second apart (a background training may start just after a write). The
// instances are found in info; when they cannot be reached the shard kinds
// stay unknown, which is only an error when Retrain was asked for.
func (d *Deployment) settle(ctx context.Context, info *searchclient.Info) ([]ShardStat, error) {
	clients, err := d.instances(info)
	if err == nil && d.Retrain {
		err = d.retrain(ctx, clients)
	}
	var last []ShardStat
	if err == nil {
		last, err = d.stats(ctx, clients)
	}
	if err != nil {
		if d.Retrain {
			return nil, err
		}
		if d.admin.unreachable == nil {
			d.log().Warn("shard kinds unknown: the index instances /v1/info names cannot be asked; the live index may be flat (exact) or IVF",
				"deployment", d.Name, "err", err)
		}
		d.admin.unreachable = err
		return nil, nil
	}
	limit := d.Settle
	if limit <= 0 {
		limit = 10 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
		now, err := d.stats(ctx, clients)
		if err != nil {
			return nil, err
		}
		if settled(now) && slices.Equal(now, last) {
			return now, nil
		}
		last = now
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("shards of %s still training or catching up after %v: %s", d.Client.URL(), limit, describeShards(now, 0))
		}
	}
}

func settled(stats []ShardStat) bool {
	for _, s := range stats {
		if s.Training || s.Indexed != s.Papers {
			return false
		}
	}
	return true
}

// retrain trains every shard of every instance into IVF with the nlist
// its size suits (TrainShards with nlist 0), one instance at a time.
func (d *Deployment) retrain(ctx context.Context, clients map[string]indexv1.IndexServiceClient) error {
	addrs := make([]string, 0, len(clients))
	for a := range clients {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for _, a := range addrs {
		start := time.Now()
		resp, err := clients[a].TrainShards(ctx, &indexv1.TrainShardsRequest{})
		if err != nil {
			return fmt.Errorf("index instance %s: TrainShards: %w", a, err)
		}
		var nl []int
		for _, s := range resp.GetShards() {
			nl = append(nl, int(s.GetNlist()))
		}
		d.log().Info("shards retrained", "deployment", d.Name, "instance", a, "nlist", nl, "seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	}
	return nil
}

// describeShards summarizes shard kinds in one phrase, with the nprobe a
// search would use (nprobe 0: each shard's default), clamped to nlist as
// the index does.
func describeShards(stats []ShardStat, nprobe int) string {
	if stats == nil {
		return "shard kinds unknown (index instances not reachable)"
	}
	var flat, ivf int
	var nlists, probes []int
	every := true
	for _, s := range stats {
		if s.Kind != "IVF" {
			flat++
			continue
		}
		ivf++
		p := s.DefaultNprobe
		if nprobe > 0 {
			p = nprobe
		}
		p = min(p, s.Nlist)
		nlists, probes = append(nlists, s.Nlist), append(probes, p)
		if p < s.Nlist {
			every = false
		}
	}
	var parts []string
	if flat > 0 {
		parts = append(parts, fmt.Sprintf("%d flat (exact)", flat))
	}
	if ivf > 0 {
		s := fmt.Sprintf("%d IVF (nlist %s, nprobe %s", ivf, span(nlists), span(probes))
		if every {
			s += ": every list probed, so exact"
		}
		parts = append(parts, s+")")
	}
	noun := "shard indexes"
	if len(stats) == 1 {
		noun = "shard index"
	}
	return fmt.Sprintf("%d %s: %s", len(stats), noun, strings.Join(parts, ", "))
}

func span(xs []int) string {
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// warnShards says when the live index cannot differ from exact search, so
// that a recall@10 of 1 is not mistaken for a property of IVF.
func warnShards(log *slog.Logger, name string, stats []ShardStat) {
	flat := 0
	for _, s := range stats {
		if s.Kind != "IVF" {
			flat++
		}
	}
	if flat > 0 {
		log.Warn("shards are flat: their search is exact, so the live recall@10 is 1 by construction; "+
			"start the index with a lower -flat-threshold or evaluate with -retrain to measure IVF",
			"deployment", name, "flat", flat, "replicas", len(stats))
	}
}
