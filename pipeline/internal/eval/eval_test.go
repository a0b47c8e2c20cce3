package eval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

func TestSearchExactWithTies(t *testing.T) {
	corpus := [][]float32{{1, 0}, {0, 1}, {0.6, 0.8}, {1, 0}, {-1, 0}}
	queries := [][]float32{{1, 0}, {0, 1}}
	got, err := Search(context.Background(), queries, corpus, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Query 0: docs 0 and 3 tie at 1 (lower index first), then 2 (0.6).
	// Query 1: doc 1 (1), doc 2 (0.8), then docs 0, 3, 4 tie at 0 -> 0.
	want := [][]int32{{0, 3, 2}, {1, 2, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Search = %v, want %v", got, want)
	}
	if _, err := Search(context.Background(), [][]float32{{1}}, corpus, 1, 1); err == nil {
		t.Error("dimension mismatch accepted")
	}
}

// mapEmbedder embeds a text by looking it up.
type mapEmbedder map[string][]float32

func (m mapEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = m[t]
	}
	return out, nil
}

func paper(id, cat string) dataset.Paper {
	return dataset.Paper{ID: id, Title: id, Abstract: cat, PrimaryCategory: cat, Categories: []string{cat}}
}

func TestNewTask(t *testing.T) {
	var ps []dataset.Paper
	for i := range 100 {
		ps = append(ps, paper(fmt.Sprint(i), fmt.Sprintf("c%d", i%3)))
	}
	ps = append(ps, paper("lonely", "solo")) // can never have a relevant doc when it is a query
	task := NewTask("t", "", ps, 50, 42)
	if len(task.Corpus) != 40 || len(task.Queries)+task.Dropped != 10 {
		t.Fatalf("corpus %d, queries %d + dropped %d", len(task.Corpus), len(task.Queries), task.Dropped)
	}
	for i, q := range task.Queries {
		n := 0
		for _, c := range task.Corpus {
			if c.PrimaryCategory == q.PrimaryCategory {
				n++
			}
			if c.ID == q.ID {
				t.Errorf("query %s is also in the corpus", q.ID)
			}
		}
		if n == 0 || n != task.NumRel[i] {
			t.Errorf("query %s: NumRel %d, corpus has %d", q.ID, task.NumRel[i], n)
		}
	}
	again := NewTask("t", "", ps, 50, 42)
	if !slices.EqualFunc(task.Queries, again.Queries, func(a, b dataset.Paper) bool { return a.ID == b.ID }) {
		t.Error("NewTask is not deterministic")
	}
	full := NewTask("t", "", ps, 0, 42)
	if len(full.Corpus)+len(full.Queries)+full.Dropped != len(ps) || len(full.Queries)+full.Dropped != len(ps)/5 {
		t.Errorf("whole split: %d corpus, %d queries, %d dropped", len(full.Corpus), len(full.Queries), full.Dropped)
	}
}

func TestSummarize(t *testing.T) {
	var scores []Scores
	for i := range 200 {
		var s Scores
		s[P10] = float64(i % 2) // mean 0.5
		s[MRR10] = 0.25         // constant
		scores = append(scores, s)
	}
	sum := Summarize(scores, 500, 1)
	p := sum.Get("precision@10")
	if p.Mean != 0.5 || !(p.Low < 0.5 && p.High > 0.5) || p.Low < 0.35 || p.High > 0.65 {
		t.Errorf("precision@10 %+v", p)
	}
	if m := sum.Get("mrr@10"); m.Mean != 0.25 || m.Low != 0.25 || m.High != 0.25 {
		t.Errorf("constant metric %+v", m)
	}
	if again := Summarize(scores, 500, 1); again.Get("precision@10") != p {
		t.Error("bootstrap not deterministic")
	}
	if got := percentile([]float64{1, 2, 3, 4, 5}, 0.25); got != 2 {
		t.Errorf("percentile = %v", got)
	}
	if got := percentile([]float64{0, 10}, 0.975); math.Abs(got-9.75) > 1e-12 {
		t.Errorf("percentile = %v", got)
	}
}

func TestRunReport(t *testing.T) {
	// Four categories with two papers each in the corpus and one query
	// each; the perfect embedder maps a paper to its category's axis.
	axis := map[string][]float32{"cs.A": {1, 0, 0, 0}, "cs.B": {0, 1, 0, 0}, "math.C": {0, 0, 1, 0}, "math.D": {0, 0, 0, 1}}
	var queries, corpus []dataset.Paper
	emb := mapEmbedder{}
	wrong := mapEmbedder{}
	for c, v := range axis {
		for i := range 3 {
			p := paper(fmt.Sprintf("%s-%d", c, i), c)
			emb[dataset.TitleAbstract.Text(&p)] = v
			wrong[dataset.TitleAbstract.Text(&p)] = []float32{1, 0, 0, 0}
			if i == 0 {
				queries = append(queries, p)
			} else {
				corpus = append(corpus, p)
			}
		}
	}
	task := Task{Name: "toy", Queries: queries, Corpus: corpus, NumRel: []int{2, 2, 2, 2}}
	rep, err := Run(context.Background(), Options{
		Tasks: []Task{task}, Text: dataset.TitleAbstract, Resamples: 50, Seed: 1, MinCategoryQueries: 1,
		Contenders: []Contender{{Name: "perfect", Ranker: Dense{Embedder: emb}}, {Name: "constant", Ranker: Dense{Embedder: wrong}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	perfect, constant := rep.Tasks[0].Results[0], rep.Tasks[0].Results[1]
	if got := perfect.All.Get("ndcg@10").Mean; got != 1 {
		t.Errorf("perfect ndcg@10 = %v", got)
	}
	if got := perfect.All.Get("precision@10").Mean; got != 0.2 { // 2 relevant of 8 docs, k=10
		t.Errorf("perfect precision@10 = %v", got)
	}
	if perfect.NonCS.Queries != 2 || perfect.CS.Queries != 2 || len(perfect.Categories) != 4 {
		t.Errorf("subsets: non-cs %d, cs %d, categories %d", perfect.NonCS.Queries, perfect.CS.Queries, len(perfect.Categories))
	}
	if constant.DiffVsBaseline == nil || constant.DiffVsBaseline.Get("ndcg@10").Mean >= 0 {
		t.Errorf("constant ranker's paired difference %+v", constant.DiffVsBaseline)
	}
	md := rep.Markdown()
	for _, want := range []string{"## toy", "| perfect | 1.0000", "Paired difference vs perfect", "| cs.A | 1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

// preparingRanker records the tasks it was prepared for, ranks with a
// Dense ranker and measures a constant per query.
type preparingRanker struct {
	Dense
	prepared []string
}

func (p *preparingRanker) PrepareTask(_ context.Context, task *Task, _ dataset.TextRule) (string, error) {
	p.prepared = append(p.prepared, task.Name)
	return "loaded " + task.Name, nil
}

func (p *preparingRanker) RankAndMeasure(ctx context.Context, queries, corpus []string, k int) ([][]int32, []Measure, error) {
	ranked, err := p.Rank(ctx, queries, corpus, k)
	vals := make([]float64, len(queries))
	for i := range vals {
		vals[i] = float64(i % 2)
	}
	return ranked, []Measure{{Name: "half", Values: vals}}, err
}

func TestRunPreparesMeasuresAndComparesWithBaseline(t *testing.T) {
	axis := map[string][]float32{"cs.A": {1, 0}, "math.B": {0, 1}}
	emb, wrong := mapEmbedder{}, mapEmbedder{}
	var queries, corpus []dataset.Paper
	for c, v := range axis {
		for i := range 3 {
			p := paper(fmt.Sprintf("%s-%d", c, i), c)
			emb[dataset.TitleAbstract.Text(&p)] = v
			wrong[dataset.TitleAbstract.Text(&p)] = []float32{v[1], v[0]} // corpus papers on the other axis
			if i == 0 {
				wrong[dataset.TitleAbstract.Text(&p)] = v
				queries = append(queries, p)
			} else {
				corpus = append(corpus, p)
			}
		}
	}
	tasks := []Task{{Name: "one", Queries: queries, Corpus: corpus, NumRel: []int{2, 2}}, {Name: "two", Queries: queries, Corpus: corpus, NumRel: []int{2, 2}}}
	live := &preparingRanker{Dense: Dense{Embedder: emb}}
	opts := Options{Tasks: tasks, Text: dataset.TitleAbstract, Resamples: 20, Seed: 1, MinCategoryQueries: 1, Baseline: "live",
		Contenders: []Contender{{Name: "inverted", Ranker: Dense{Embedder: wrong}}, {Name: "live", Ranker: live},
			{Name: "live too", Ranker: &preparingRanker{Dense: Dense{Embedder: emb}}}}}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(live.prepared) != "[one two]" {
		t.Errorf("prepared for %v", live.prepared)
	}
	tr := rep.Tasks[1]
	inv, lv := tr.Results[0], tr.Results[1]
	if tr.Baseline != "live" || lv.DiffVsBaseline != nil || inv.DiffVsBaseline == nil {
		t.Fatalf("baseline %q; diffs %v, %v", tr.Baseline, inv.DiffVsBaseline, lv.DiffVsBaseline)
	}
	if d := inv.DiffVsBaseline.Get("precision@1").Mean; d != -1 {
		t.Errorf("inverted minus live precision@1 = %v, want -1", d)
	}
	if inv.DiffVsBaselineNonCS.Queries != 1 || inv.DiffVsBaselineCS.Queries != 1 {
		t.Errorf("subset differences over %d cs and %d non-cs queries", inv.DiffVsBaselineCS.Queries, inv.DiffVsBaselineNonCS.Queries)
	}
	if lv.TaskNote != "loaded two" || len(lv.Measures) != 1 || lv.Measures[0].Mean != 0.5 || len(inv.Measures) != 0 {
		t.Errorf("live result: note %q, measures %+v", lv.TaskNote, lv.Measures)
	}
	md := rep.Markdown()
	for _, want := range []string{"- **live, live too**: loaded two", "Paired difference vs live (all queries)", "Paired difference vs live (non-cs queries)",
		"| live | half | 0.5000 [", "| inverted | -1.0000"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	opts.Baseline = "nobody"
	if _, err := Run(context.Background(), opts); err == nil {
		t.Error("unknown baseline accepted")
	}
}

func TestSummarizeValuesMatchesSummarize(t *testing.T) {
	var scores []Scores
	var vals []float64
	for i := range 50 {
		var s Scores
		s[0] = float64(i%7) / 7
		scores = append(scores, s)
		vals = append(vals, s[0])
	}
	sum := Summarize(scores, 200, 3)
	want := sum.Get(Metrics[0])
	got := SummarizeValues("x", vals, 200, 3)
	if got.Mean != want.Mean || got.Low != want.Low || got.High != want.High || got.Name != "x" {
		t.Errorf("SummarizeValues = %+v, Summarize = %+v", got, want)
	}
}
