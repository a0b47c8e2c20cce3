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
		// Contenders sharing a deployment share its note: one line for
		// each run of equal notes.
		for i := 0; i < len(t.Results); {
			j := i + 1
			for j < len(t.Results) && t.Results[j].TaskNote == t.Results[i].TaskNote {
				j++
			}
			if note := t.Results[i].TaskNote; note != "" {
				var names []string
				for _, r := range t.Results[i:j] {
					names = append(names, r.Name)
				}
				fmt.Fprintf(&b, "- **%s**: %s\n", strings.Join(names, ", "), note)
			}
			i = j
		}
		if slices.ContainsFunc(t.Results, func(r Result) bool { return r.TaskNote != "" }) {
			b.WriteString("\n")
		}
		summaryTable(&b, "All queries", t.Results, func(r *Result) *Summary { return &r.All })
		summaryTable(&b, "Non-cs queries (primary category outside cs.*), same corpus", t.Results, func(r *Result) *Summary { return &r.NonCS })
		summaryTable(&b, "cs queries", t.Results, func(r *Result) *Summary { return &r.CS })
		diffTable(&b, t, "all queries", func(r *Result) *Summary { return r.DiffVsBaseline })
		diffTable(&b, t, "non-cs queries", func(r *Result) *Summary { return r.DiffVsBaselineNonCS })
		measureTable(&b, t)
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

func diffTable(b *strings.Builder, t TaskReport, subset string, get func(*Result) *Summary) {
	if len(t.Results) < 2 {
		return
	}
	fmt.Fprintf(b, "### Paired difference vs %s (%s)\n\n| ranker |", t.Baseline, subset)
	for _, m := range headline {
		fmt.Fprintf(b, " Δ %s |", m)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(headline)) + "\n")
	for i := range t.Results {
		d := get(&t.Results[i])
		if d == nil {
			continue
		}
		fmt.Fprintf(b, "| %s |", t.Results[i].Name)
		for _, m := range headline {
			x := d.Get(m)
			fmt.Fprintf(b, " %+.4f [%+.4f, %+.4f] |", x.Mean, x.Low, x.High)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// measureTable lists the measures besides retrieval quality (a live
// index's recall@10 against exact search), one row per contender and
// measure.
func measureTable(b *strings.Builder, t TaskReport) {
	if !slices.ContainsFunc(t.Results, func(r Result) bool { return len(r.Measures) > 0 }) {
		return
	}
	b.WriteString("### Other measures (all queries)\n\n| ranker | measure | mean [95% CI] |\n|---|---|---|\n")
	for _, r := range t.Results {
		for _, m := range r.Measures {
			fmt.Fprintf(b, "| %s | %s | %.4f [%.4f, %.4f] |\n", r.Name, m.Name, m.Mean, m.Low, m.High)
		}
	}
	b.WriteString("\n")
}
