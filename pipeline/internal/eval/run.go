package eval

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// Contender is a ranker under evaluation.
type Contender struct {
	Name   string
	Note   string // one line on what it is
	Ranker Ranker
}

// TaskPreparer is a Ranker that must see a task's papers before it ranks
// the task's texts: a live deployment has to hold exactly the task's
// corpus, and answers with paper ids that it maps back to corpus indices.
// Run calls PrepareTask before every Rank of that task; the note (where
// not empty) is reported with the contender's result on the task.
type TaskPreparer interface {
	PrepareTask(ctx context.Context, task *Task, text dataset.TextRule) (note string, err error)
}

// Measure is one value per query of something besides retrieval quality,
// such as a live index's recall@10 against exact search.
type Measure struct {
	Name   string
	Values []float64
}

// MeasuringRanker is a Ranker that measures something per query while it
// ranks; Run then calls RankAndMeasure instead of Rank and reports each
// measure's mean with a bootstrap interval.
type MeasuringRanker interface {
	Ranker
	RankAndMeasure(ctx context.Context, queries, corpus []string, k int) ([][]int32, []Measure, error)
}

// Options configure Run.
type Options struct {
	Tasks      []Task
	Contenders []Contender
	Text       dataset.TextRule
	Resamples  int
	Seed       uint64
	// MinCategoryQueries is the smallest number of queries a category
	// needs to get a row in the per-category table (default 5).
	MinCategoryQueries int
	// Baseline names the contender the others are compared with, query by
	// query (paired differences); empty means the first.
	Baseline string
	Log      *slog.Logger
}

// Report is an evaluation's result.
type Report struct {
	Text      dataset.TextRule `json:"text"`
	Seed      uint64           `json:"seed"`
	Resamples int              `json:"bootstrap_resamples"`
	Tasks     []TaskReport     `json:"tasks"`
}

// TaskReport is every contender's result on one task.
type TaskReport struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Queries     int    `json:"queries"`
	Corpus      int    `json:"corpus"`
	Dropped     int    `json:"dropped_queries"`
	// Baseline is the contender of the paired differences.
	Baseline string   `json:"baseline"`
	Results  []Result `json:"results"`
}

// Result is one contender on one task.
type Result struct {
	Name    string  `json:"name"`
	Note    string  `json:"note,omitempty"`
	Seconds float64 `json:"seconds"`
	All     Summary `json:"all"`
	CS      Summary `json:"cs"`
	NonCS   Summary `json:"non_cs"`
	// TaskNote is what the contender said when it prepared for the task
	// (a live deployment: papers loaded, shard kinds).
	TaskNote string `json:"task_note,omitempty"`
	// DiffVsBaseline is this contender minus the baseline, paired per
	// query, over all queries, cs and non-cs queries (absent for the
	// baseline itself).
	DiffVsBaseline      *Summary `json:"diff_vs_baseline,omitempty"`
	DiffVsBaselineCS    *Summary `json:"diff_vs_baseline_cs,omitempty"`
	DiffVsBaselineNonCS *Summary `json:"diff_vs_baseline_non_cs,omitempty"`
	// Measures are the contender's measures besides retrieval quality
	// (MeasuringRanker), over all queries.
	Measures   []MetricCI    `json:"measures,omitempty"`
	Categories []CategoryRow `json:"categories"`
	perQuery   []Scores
}

// CategoryRow is the mean of every metric over one category's queries.
type CategoryRow struct {
	Category string    `json:"category"`
	Queries  int       `json:"queries"`
	Means    []float64 `json:"means"` // in Metrics order
}

// Run evaluates every contender on every task.
func Run(ctx context.Context, opts Options) (*Report, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.MinCategoryQueries <= 0 {
		opts.MinCategoryQueries = 5
	}
	base := 0
	if opts.Baseline != "" {
		base = slices.IndexFunc(opts.Contenders, func(c Contender) bool { return c.Name == opts.Baseline })
		if base < 0 {
			return nil, fmt.Errorf("baseline %q is not one of the rankers", opts.Baseline)
		}
	}
	rep := &Report{Text: opts.Text, Seed: opts.Seed, Resamples: opts.Resamples}
	for ti := range opts.Tasks {
		task := &opts.Tasks[ti]
		tr := TaskReport{Name: task.Name, Description: task.Description, Queries: len(task.Queries), Corpus: len(task.Corpus), Dropped: task.Dropped}
		if len(opts.Contenders) > 0 {
			tr.Baseline = opts.Contenders[base].Name
		}
		queries := opts.Text.Texts(task.Queries)
		corpus := opts.Text.Texts(task.Corpus)
		var cs, noncs []int
		for i := range task.Queries {
			if dataset.IsCS(task.Queries[i].PrimaryCategory) {
				cs = append(cs, i)
			} else {
				noncs = append(noncs, i)
			}
		}
		for _, c := range opts.Contenders {
			var note string
			if p, ok := c.Ranker.(TaskPreparer); ok {
				var err error
				if note, err = p.PrepareTask(ctx, task, opts.Text); err != nil {
					return nil, fmt.Errorf("%s on %s: %w", c.Name, task.Name, err)
				}
			}
			start := time.Now()
			var ranked [][]int32
			var measures []Measure
			var err error
			if m, ok := c.Ranker.(MeasuringRanker); ok {
				ranked, measures, err = m.RankAndMeasure(ctx, queries, corpus, MaxK)
			} else {
				ranked, err = c.Ranker.Rank(ctx, queries, corpus, MaxK)
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", c.Name, task.Name, err)
			}
			if len(ranked) != len(queries) {
				return nil, fmt.Errorf("%s on %s: %d rankings for %d queries", c.Name, task.Name, len(ranked), len(queries))
			}
			secs := time.Since(start).Seconds()
			scores := task.ScoreRankings(ranked)
			res := Result{
				Name: c.Name, Note: c.Note, Seconds: secs, TaskNote: note, perQuery: scores,
				All:   Summarize(scores, opts.Resamples, opts.Seed),
				CS:    Summarize(pick(scores, cs), opts.Resamples, opts.Seed),
				NonCS: Summarize(pick(scores, noncs), opts.Resamples, opts.Seed),
			}
			for _, m := range measures {
				if len(m.Values) != len(queries) {
					return nil, fmt.Errorf("%s on %s: measure %s has %d values for %d queries", c.Name, task.Name, m.Name, len(m.Values), len(queries))
				}
				res.Measures = append(res.Measures, SummarizeValues(m.Name, m.Values, opts.Resamples, opts.Seed))
			}
			res.Categories = perCategory(task, scores, opts.MinCategoryQueries)
			p10 := res.All.Get("precision@10")
			log.Info("evaluated", "task", task.Name, "ranker", c.Name, "queries", len(scores),
				"p@10", fmt.Sprintf("%.4f", p10.Mean), "ndcg@10", fmt.Sprintf("%.4f", res.All.Get("ndcg@10").Mean),
				"mrr@10", fmt.Sprintf("%.4f", res.All.Get("mrr@10").Mean), "seconds", fmt.Sprintf("%.1f", secs))
			tr.Results = append(tr.Results, res)
		}
		if len(tr.Results) > 1 {
			baseScores := tr.Results[base].perQuery
			for i := range tr.Results {
				if i == base {
					continue
				}
				r := &tr.Results[i]
				diff := make([]Scores, len(r.perQuery))
				for q := range diff {
					for m := range diff[q] {
						diff[q][m] = r.perQuery[q][m] - baseScores[q][m]
					}
				}
				all := Summarize(diff, opts.Resamples, opts.Seed)
				csd := Summarize(pick(diff, cs), opts.Resamples, opts.Seed)
				noncsd := Summarize(pick(diff, noncs), opts.Resamples, opts.Seed)
				r.DiffVsBaseline, r.DiffVsBaselineCS, r.DiffVsBaselineNonCS = &all, &csd, &noncsd
			}
		}
		rep.Tasks = append(rep.Tasks, tr)
	}
	return rep, nil
}

func pick(scores []Scores, idx []int) []Scores {
	out := make([]Scores, len(idx))
	for i, j := range idx {
		out[i] = scores[j]
	}
	return out
}

func perCategory(task *Task, scores []Scores, minQueries int) []CategoryRow {
	by := map[string][]int{}
	for i := range task.Queries {
		c := task.Queries[i].PrimaryCategory
		by[c] = append(by[c], i)
	}
	var rows []CategoryRow
	for c, idx := range by {
		if len(idx) < minQueries {
			continue
		}
		means := make([]float64, numMetrics)
		for _, i := range idx {
			for m := range means {
				means[m] += scores[i][m]
			}
		}
		for m := range means {
			means[m] /= float64(len(idx))
		}
		rows = append(rows, CategoryRow{Category: c, Queries: len(idx), Means: means})
	}
	slices.SortFunc(rows, func(a, b CategoryRow) int {
		if c := cmp.Compare(b.Queries, a.Queries); c != 0 {
			return c
		}
		return cmp.Compare(a.Category, b.Category)
	})
	return rows
}
