// Package indexbuild loads a dataset into the index instances: it embeds
// papers through the embedder's gRPC API and upserts each paper, with its
// vector, to every instance that owns the paper's shard.
//
// A build is resumable: papers already stored (same id) are skipped before
// they are embedded, so a build interrupted at any point continues where it
// stopped when run again, and a second run over the same data does no work.
package indexbuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
)

// Embedder embeds texts; vectors come back in input order.
type Embedder interface {
	ModelName(ctx context.Context) (name string, dim int, err error)
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Instance is one index instance.
type Instance struct {
	Addr   string
	Client indexv1.IndexServiceClient
}

// Options tune a build.
type Options struct {
	// Batch is the number of papers embedded and upserted per round.
	Batch int
	// Rule says which fields are embedded.
	Rule dataset.TextRule
	// Force re-embeds and upserts papers that are already stored.
	Force bool
	// Progress is called after every round with papers done so far.
	Progress func(done int)
}

// Result says what a build did.
type Result struct {
	Model       string `json:"model"`
	Dimension   int    `json:"dimension"`
	TotalShards int    `json:"total_shards"`
	Papers      int    `json:"papers"`
	Skipped     int    `json:"skipped_existing"`
	Inserted    int    `json:"inserted"`
	Replaced    int    `json:"replaced"`
	// Owners maps each shard to the instances that own it.
	Owners  map[int][]string `json:"owners"`
	Seconds float64          `json:"seconds"`
}

// routing maps shards to the instances that own them.
type routing struct {
	total  int
	owners map[int][]*Instance
}

func discover(ctx context.Context, instances []*Instance) (*routing, error) {
	if len(instances) == 0 {
		return nil, errors.New("no index instance given")
	}
	r := &routing{owners: map[int][]*Instance{}}
	for _, in := range instances {
		st, err := in.Client.GetStats(ctx, &indexv1.GetStatsRequest{})
		if err != nil {
			return nil, fmt.Errorf("index %s: stats: %w", in.Addr, err)
		}
		total := int(st.GetTotalShards())
		if r.total == 0 {
			r.total = total
		} else if total != r.total {
			return nil, fmt.Errorf("index %s has %d shards in all, but another instance has %d: they do not hold one collection", in.Addr, total, r.total)
		}
		for _, s := range st.GetShards() {
			r.owners[int(s.GetShard())] = append(r.owners[int(s.GetShard())], in)
		}
	}
	var missing []int
	for s := range r.total {
		if len(r.owners[s]) == 0 {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no given index instance owns shards %s; papers of those shards could not be stored", shardset.Format(missing))
	}
	return r, nil
}

// Build embeds and stores papers.
func Build(ctx context.Context, papers []dataset.Paper, emb Embedder, instances []*Instance, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Batch < 1 {
		opts.Batch = 256
	}
	if opts.Rule == "" {
		opts.Rule = dataset.TitleAbstract
	}
	rt, err := discover(ctx, instances)
	if err != nil {
		return nil, err
	}
	model, dim, err := emb.ModelName(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Model: model, Dimension: dim, TotalShards: rt.total, Papers: len(papers), Owners: map[int][]string{}}
	for s, ins := range rt.owners {
		for _, in := range ins {
			res.Owners[s] = append(res.Owners[s], in.Addr)
		}
	}
	for lo := 0; lo < len(papers); lo += opts.Batch {
		batch := papers[lo:min(lo+opts.Batch, len(papers))]
		if err := buildBatch(ctx, batch, emb, rt, model, opts, res); err != nil {
			return res, fmt.Errorf("papers %d..%d: %w", lo, lo+len(batch)-1, err)
		}
		if opts.Progress != nil {
			opts.Progress(lo + len(batch))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func buildBatch(ctx context.Context, batch []dataset.Paper, emb Embedder, rt *routing, model string, opts Options, res *Result) error {
	// Group by shard, so each shard's owners get one call per round.
	byShard := map[int][]int{}
	for i := range batch {
		s := shardset.ShardOf(batch[i].ID, rt.total)
		byShard[s] = append(byShard[s], i)
	}
	todo := make([]bool, len(batch))
	for s, idx := range byShard {
		if opts.Force {
			for _, i := range idx {
				todo[i] = true
			}
			continue
		}
		// A paper counts as stored only when every owner of its shard has
		// it, so a build interrupted between replicas completes them.
		stored := map[string]int{}
		for _, in := range rt.owners[s] {
			ids := make([]string, len(idx))
			for j, i := range idx {
				ids[j] = batch[i].ID
			}
			resp, err := in.Client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: ids})
			if err != nil {
				return fmt.Errorf("index %s: get papers: %w", in.Addr, err)
			}
			for _, p := range resp.GetPapers() {
				stored[p.GetId()]++
			}
		}
		for _, i := range idx {
			if stored[batch[i].ID] < len(rt.owners[s]) {
				todo[i] = true
			} else {
				res.Skipped++
			}
		}
	}
	var texts []string
	var which []int
	for i, t := range todo {
		if t {
			texts = append(texts, opts.Rule.Text(&batch[i]))
			which = append(which, i)
		}
	}
	if len(texts) == 0 {
		return nil
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		return err
	}
	vecOf := make(map[int][]float32, len(which))
	for j, i := range which {
		vecOf[i] = vecs[j]
	}
	shards := make([]int, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	slices.Sort(shards)
	for _, s := range shards {
		var ps []*indexv1.Paper
		for _, i := range byShard[s] {
			if !todo[i] {
				continue
			}
			p := &batch[i]
			ps = append(ps, &indexv1.Paper{
				Id: p.ID, Title: p.Title, Abstract: p.Abstract, Authors: p.Authors,
				Categories: p.Categories, PrimaryCategory: p.PrimaryCategory,
				UpdateDate: p.UpdateDate, Comments: p.Comments, Vector: vecOf[i],
			})
		}
		if len(ps) == 0 {
			continue
		}
		for k, in := range rt.owners[s] {
			resp, err := in.Client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: model, Papers: ps})
			if err != nil {
				return fmt.Errorf("index %s: upsert into shard %d: %w", in.Addr, s, err)
			}
			if k == 0 { // count each paper once, not once per replica
				res.Inserted += int(resp.GetInserted())
				res.Replaced += int(resp.GetReplaced())
			}
		}
	}
	return nil
}
