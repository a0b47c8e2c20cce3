package live

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/searchclient"
	"golang.org/x/sync/errgroup"
)

// RecallMeasure names the live index's recall@10 against exact search.
const RecallMeasure = "recall@10 vs exact"

// Ranker ranks through the deployment's search in one mode: every query
// text is one POST /v1/search, and the answered ids are mapped back to the
// task's corpus. It implements eval.TaskPreparer and eval.MeasuringRanker.
type Ranker struct {
	D    *Deployment
	Mode searchclient.Mode
	// Nprobe is sent with every search; 0 leaves each shard's default.
	Nprobe int
	// Recall also measures, per query, the share of the exact top 10 (by
	// the deployment's own embeddings) that the live top 10 holds.
	Recall bool
}

// PrepareTask loads the task's corpus into the deployment.
func (r *Ranker) PrepareTask(ctx context.Context, task *eval.Task, text dataset.TextRule) (string, error) {
	note, err := r.D.Load(ctx, task, text)
	if err != nil || r.Nprobe == 0 {
		return note, err
	}
	r.D.mu.Lock()
	shards := r.D.shards
	r.D.mu.Unlock()
	return fmt.Sprintf("%s; searched at nprobe %d: %s", note, r.Nprobe, describeShards(shards, r.Nprobe)), nil
}

// Rank searches every query.
func (r *Ranker) Rank(ctx context.Context, queries, corpus []string, k int) ([][]int32, error) {
	ranked, _, err := r.RankAndMeasure(ctx, queries, corpus, k)
	return ranked, err
}

// RankAndMeasure searches every query (Concurrency in flight) and, with
// Recall, compares each live top 10 with the exact one.
func (r *Ranker) RankAndMeasure(ctx context.Context, queries, corpus []string, k int) ([][]int32, []eval.Measure, error) {
	task, byID, err := r.D.loaded(queries, corpus)
	if err != nil {
		return nil, nil, err
	}
	k = min(k, searchclient.MaxK)
	label := fmt.Sprintf("%s %s", r.D.Name, r.Mode.Short())
	if r.Nprobe > 0 {
		label += fmt.Sprintf(" nprobe=%d", r.Nprobe)
	}
	bar := progress.New(label+": search", int64(len(queries)), append([]progress.Option{progress.WithUnit("queries")}, r.D.Progress...)...)
	out := make([][]int32, len(queries))
	var took atomic.Int64 // server-side milliseconds x 1000
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.D.concurrency())
	for q := range queries {
		g.Go(func() error {
			resp, err := r.D.Client.Search(gctx, searchclient.SearchRequest{Query: queries[q], K: k, Nprobe: r.Nprobe, Mode: r.Mode})
			if err != nil {
				return fmt.Errorf("query %d (paper %s): %w", q, task.Queries[q].ID, err)
			}
			if resp.Partial {
				return fmt.Errorf("query %d: partial answer, shards %v missing", q, resp.MissingShards)
			}
			if resp.Mode != r.Mode {
				return fmt.Errorf("query %d: searched in mode %s, asked for %s", q, resp.Mode, r.Mode)
			}
			hits := make([]int32, 0, len(resp.Results))
			for _, res := range resp.Results {
				i, ok := byID[res.ID]
				if !ok {
					// Only possible when the deployment changed since the
					// load: it held exactly the corpus then.
					return fmt.Errorf("query %d (paper %s): result %s is not in the task's corpus", q, task.Queries[q].ID, res.ID)
				}
				hits = append(hits, i)
			}
			out[q] = hits
			took.Add(int64(resp.TookMs * 1000))
			bar.Add(1)
			return nil
		})
	}
	err = g.Wait()
	bar.Finish()
	if err != nil {
		return nil, nil, err
	}
	r.D.log().Debug("searched", "ranker", label, "queries", len(queries), "server_ms_mean", float64(took.Load())/1000/float64(max(len(queries), 1)))
	if !r.Recall {
		return out, nil, nil
	}
	exact, err := r.D.exactTop10(ctx, queries)
	if err != nil {
		return nil, nil, fmt.Errorf("exact search for recall: %w", err)
	}
	return out, []eval.Measure{{Name: RecallMeasure, Values: RecallAt(out, exact, 10)}}, nil
}

// RecallAt is, per query, the share of the exact top k found in the live
// top k (order ignored): |live[:k] ∩ exact[:k]| / |exact[:k]|.
func RecallAt(live, exact [][]int32, k int) []float64 {
	out := make([]float64, len(exact))
	for q := range exact {
		want := exact[q][:min(k, len(exact[q]))]
		if len(want) == 0 {
			out[q] = 1
			continue
		}
		in := map[int32]bool{}
		for _, d := range want {
			in[d] = true
		}
		found := 0
		if q < len(live) {
			for _, d := range live[q][:min(k, len(live[q]))] {
				if in[d] {
					found++
				}
			}
		}
		out[q] = float64(found) / float64(len(want))
	}
	return out
}
