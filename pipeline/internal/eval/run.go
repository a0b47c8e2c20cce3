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
	Log                *slog.Logger
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
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Queries     int      `json:"queries"`
	Corpus      int      `json:"corpus"`
	Dropped     int      `json:"dropped_queries"`
	Results     []Result `json:"results"`
}

// Result is one contender on one task.
type Result struct {
	Name    string  `json:"name"`
	Note    string  `json:"note,omitempty"`
	Seconds float64 `json:"seconds"`
	All     Summary `json:"all"`
	CS      Summary `json:"cs"`
	NonCS   Summary `json:"non_cs"`
	// DiffVsFirst is this contender minus the first one, paired per
	// query (absent for the first).
	DiffVsFirst *Summary      `json:"diff_vs_first,omitempty"`
	Categories  []CategoryRow `json:"categories"`
	perQuery    []Scores
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
	rep := &Report{Text: opts.Text, Seed: opts.Seed, Resamples: opts.Resamples}
	for _, task := range opts.Tasks {
		tr := TaskReport{Name: task.Name, Description: task.Description, Queries: len(task.Queries), Corpus: len(task.Corpus), Dropped: task.Dropped}
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
		for ci, c := range opts.Contenders {
			start := time.Now()
			ranked, err := c.Ranker.Rank(ctx, queries, corpus, MaxK)
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", c.Name, task.Name, err)
			}
			secs := time.Since(start).Seconds()
			scores := task.ScoreRankings(ranked)
			res := Result{
				Name: c.Name, Note: c.Note, Seconds: secs, perQuery: scores,
				All:   Summarize(scores, opts.Resamples, opts.Seed),
				CS:    Summarize(pick(scores, cs), opts.Resamples, opts.Seed),
				NonCS: Summarize(pick(scores, noncs), opts.Resamples, opts.Seed),
			}
			if ci > 0 {
				base := tr.Results[0].perQuery
				diff := make([]Scores, len(scores))
				for q := range scores {
					for m := range diff[q] {
						diff[q][m] = scores[q][m] - base[q][m]
					}
				}
				d := Summarize(diff, opts.Resamples, opts.Seed)
				res.DiffVsFirst = &d
			}
			res.Categories = perCategory(task, scores, opts.MinCategoryQueries)
			p10 := res.All.Get("precision@10")
			log.Info("evaluated", "task", task.Name, "ranker", c.Name, "queries", len(scores),
				"p@10", fmt.Sprintf("%.4f", p10.Mean), "ndcg@10", fmt.Sprintf("%.4f", res.All.Get("ndcg@10").Mean),
				"mrr@10", fmt.Sprintf("%.4f", res.All.Get("mrr@10").Mean), "seconds", fmt.Sprintf("%.1f", secs))
			tr.Results = append(tr.Results, res)
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

func perCategory(task Task, scores []Scores, minQueries int) []CategoryRow {
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
