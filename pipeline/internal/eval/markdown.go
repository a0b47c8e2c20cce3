package eval

import (
	"fmt"
	"slices"
	"strings"
)

// headline are the metrics of the summary tables.
var headline = []string{"precision@1", "precision@10", "ndcg@10", "mrr@10", "map@100", "accuracy@10"}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Text rule: `%s`. Seed %d. Intervals: 95%% percentile bootstrap over queries, %d resamples.\n\n", r.Text, r.Seed, r.Resamples)
	for _, t := range r.Tasks {
		fmt.Fprintf(&b, "## %s\n\n%s %d queries, %d corpus papers", t.Name, t.Description, t.Queries, t.Corpus)
		if t.Dropped > 0 {
			fmt.Fprintf(&b, " (%d queries dropped: no paper of their category in the corpus)", t.Dropped)
		}
		b.WriteString(".\n\n")
		summaryTable(&b, "All queries", t.Results, func(r *Result) *Summary { return &r.All })
		summaryTable(&b, "Non-cs queries (primary category outside cs.*), same corpus", t.Results, func(r *Result) *Summary { return &r.NonCS })
		summaryTable(&b, "cs queries", t.Results, func(r *Result) *Summary { return &r.CS })
		if len(t.Results) > 1 {
			fmt.Fprintf(&b, "### Paired difference vs %s (all queries)\n\n| ranker |", t.Results[0].Name)
			for _, m := range headline {
				fmt.Fprintf(&b, " Δ %s |", m)
			}
			b.WriteString("\n|---|" + strings.Repeat("---|", len(headline)) + "\n")
			for _, res := range t.Results[1:] {
				fmt.Fprintf(&b, "| %s |", res.Name)
				for _, m := range headline {
					x := res.DiffVsFirst.Get(m)
					fmt.Fprintf(&b, " %+.4f [%+.4f, %+.4f] |", x.Mean, x.Low, x.High)
				}
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
		b.WriteString("### All metrics (means, all queries)\n\n| metric |")
		for _, res := range t.Results {
			fmt.Fprintf(&b, " %s |", res.Name)
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(t.Results)) + "\n")
		for _, m := range Metrics {
			fmt.Fprintf(&b, "| %s |", m)
			for _, res := range t.Results {
				fmt.Fprintf(&b, " %.4f |", res.All.Get(m).Mean)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		categoryTable(&b, t)
	}
	return b.String()
}

func summaryTable(b *strings.Builder, title string, results []Result, get func(*Result) *Summary) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s (%d queries)\n\n| ranker |", title, get(&results[0]).Queries)
	for _, m := range headline {
		fmt.Fprintf(b, " %s |", m)
	}
	b.WriteString(" seconds |\n|---|" + strings.Repeat("---|", len(headline)) + "---:|\n")
	for i := range results {
		s := get(&results[i])
		fmt.Fprintf(b, "| %s |", results[i].Name)
		for _, m := range headline {
			x := s.Get(m)
			fmt.Fprintf(b, " %.4f [%.3f, %.3f] |", x.Mean, x.Low, x.High)
		}
		fmt.Fprintf(b, " %.1f |\n", results[i].Seconds)
	}
	b.WriteString("\n")
}

func categoryTable(b *strings.Builder, t TaskReport) {
	if len(t.Results) == 0 || len(t.Results[0].Categories) == 0 {
		return
	}
	p10 := slices.Index(Metrics, "precision@10")
	ndcg := slices.Index(Metrics, "ndcg@10")
	fmt.Fprintf(b, "### Per category (precision@10 / ndcg@10; categories with at least the minimum number of queries)\n\n| category | queries |")
	for _, res := range t.Results {
		fmt.Fprintf(b, " %s |", res.Name)
	}
	b.WriteString("\n|---|---:|" + strings.Repeat("---|", len(t.Results)) + "\n")
	// Index every contender's rows by category.
	rows := make([]map[string]CategoryRow, len(t.Results))
	for i, res := range t.Results {
		rows[i] = map[string]CategoryRow{}
		for _, c := range res.Categories {
			rows[i][c.Category] = c
		}
	}
	for _, c := range t.Results[0].Categories {
		fmt.Fprintf(b, "| %s | %d |", c.Category, c.Queries)
		for i := range t.Results {
			r := rows[i][c.Category]
			fmt.Fprintf(b, " %.3f / %.3f |", r.Means[p10], r.Means[ndcg])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}
