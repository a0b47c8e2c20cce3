// Package live evaluates a running deployment through the gateway's public
// REST API: for every task it makes the deployment hold exactly the task's
// corpus (ingesting and deleting through the API), sends every query as a
// search in each mode, maps the answered ids back to corpus papers for
// eval.Run, and measures the live index's recall@10 against exact search
// over the deployment's own embeddings.
//
// The protocol needs a deployment that holds nothing but what the
// evaluation puts there: queries must not be in the index (they would find
// themselves) and no other paper may compete with the corpus. Tasks share
// papers (the old protocol's corpus overlaps the full split's queries), so
// they are loaded one after another, each replacing the previous one's
// corpus, and the deployment's paper count is checked against the corpus
// after every load.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/searchclient"
	"github.com/arxivsearch/arxivsearch/platform/paper"
	"golang.org/x/sync/errgroup"
)

// Deployment is a gateway under evaluation. Its rankers (Ranker) share it,
// so a task's corpus is loaded once for all modes.
type Deployment struct {
	Name   string
	Client *searchclient.Client
	// Concurrency is the number of requests in flight (default 8).
	Concurrency int
	// Known are papers an earlier run may have left in the deployment (an
	// interrupted run, or -keep): the evaluated split. When the deployment
	// is not empty at the start, every known paper is looked up, and those
	// found are managed as if this run had ingested them.
	Known []dataset.Paper
	// Retrain (re)trains every shard's IVF index after each load (index
	// TrainShards), so that shards are IVF with the nlist their size suits
	// whatever the index's -flat-threshold and the order papers came in.
	Retrain bool
	// Settle bounds the wait for shards to catch up with the store and
	// finish background trainings after a load (default 10 minutes).
	Settle time.Duration
	Log    *slog.Logger
	// Progress configures the progress bars.
	Progress []progress.Option

	mu      sync.Mutex
	started bool
	// held is what the deployment holds of the evaluation's papers: true
	// when this run ingested it (its vector is current), false when an
	// earlier run left it.
	held   map[string]bool
	task   *eval.Task
	note   string
	byID   map[string]int32
	shards []ShardStat
	exact  [][]int32 // exact top-10 of the loaded task's queries
	admin  *admin
}

func (d *Deployment) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

func (d *Deployment) concurrency() int { return max(d.Concurrency, 1) }

// Load makes the deployment hold exactly task's corpus: it deletes what
// the previous task left that this one does not use, ingests the rest,
// waits for the shards to settle and checks the paper count. It returns a
// one-line note on what was loaded and the shards' index kinds. Loading
// the task that is loaded already does nothing.
func (d *Deployment) Load(ctx context.Context, task *eval.Task, text dataset.TextRule) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if text != dataset.TitleAbstract {
		return "", fmt.Errorf("a live deployment embeds %q (title + abstract); evaluate it with that text rule, not %q", dataset.TitleAbstract, text)
	}
	if d.task == task {
		return d.note, nil
	}
	start := time.Now()
	if !d.started {
		if err := d.adopt(ctx); err != nil {
			return "", err
		}
		d.started = true
	}
	d.task, d.exact, d.byID = nil, nil, nil
	want := make(map[string]int32, len(task.Corpus))
	for i := range task.Corpus {
		want[task.Corpus[i].ID] = int32(i)
	}
	var stale []string
	for id := range d.held {
		if _, ok := want[id]; !ok {
			stale = append(stale, id)
		}
	}
	slices.Sort(stale)
	if err := d.delete(ctx, stale); err != nil {
		return "", err
	}
	var add []dataset.Paper
	for i := range task.Corpus {
		if !d.held[task.Corpus[i].ID] {
			add = append(add, task.Corpus[i])
		}
	}
	ing, err := d.ingest(ctx, add)
	if err != nil {
		return "", err
	}
	info, err := d.Client.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.PapersIndexed != int64(len(task.Corpus)) {
		return "", fmt.Errorf("%s holds %d papers after loading the %d of the task's corpus: it holds papers the evaluation did not put there; evaluate a deployment that holds nothing else (an index started on an empty -data-dir)",
			d.Client.URL(), info.PapersIndexed, len(task.Corpus))
	}
	shards, err := d.settle(ctx, info)
	if err != nil {
		return "", err
	}
	d.task, d.byID, d.shards = task, want, shards
	d.note = fmt.Sprintf("%d papers loaded through the API in %.1fs (%d ingested, %d replaced, %d deleted); %s",
		len(task.Corpus), time.Since(start).Seconds(), ing.Inserted, ing.Replaced, len(stale), describeShards(shards, 0))
	d.log().Info("deployment loaded", "deployment", d.Name, "task", task.Name, "papers", len(task.Corpus),
		"inserted", ing.Inserted, "replaced", ing.Replaced, "deleted", len(stale), "shards", describeShards(shards, 0),
		"seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	warnShards(d.log(), d.Name, shards)
	return d.note, nil
}

// adopt looks up the known papers when the deployment is not empty, so
// that what an earlier run left is replaced or deleted like the rest.
func (d *Deployment) adopt(ctx context.Context) error {
	d.held = map[string]bool{}
	info, err := d.Client.Info(ctx)
	if err != nil {
		return err
	}
	if info.PapersIndexed == 0 {
		return nil
	}
	d.log().Warn("the deployment is not empty: looking up which of its papers belong to the evaluated split", "deployment", d.Name,
		"papers", info.PapersIndexed, "split", len(d.Known))
	bar := progress.New(d.Name+": look up", int64(len(d.Known)), append([]progress.Option{progress.WithUnit("papers")}, d.Progress...)...)
	defer bar.Finish()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.concurrency())
	for i := range d.Known {
		id := d.Known[i].ID
		g.Go(func() error {
			ok, err := d.Client.Has(gctx, id)
			if err != nil {
				return err
			}
			if ok {
				mu.Lock()
				d.held[id] = false
				mu.Unlock()
			}
			bar.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if int64(len(d.held)) != info.PapersIndexed {
		return fmt.Errorf("%s holds %d papers, %d of them of the evaluated split: evaluate a deployment that holds nothing else (an index started on an empty -data-dir)",
			d.Client.URL(), info.PapersIndexed, len(d.held))
	}
	d.log().Info("papers left by an earlier run will be replaced or deleted", "deployment", d.Name, "papers", len(d.held))
	return nil
}

func (d *Deployment) delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	bar := progress.New(d.Name+": delete", int64(len(ids)), append([]progress.Option{progress.WithUnit("papers")}, d.Progress...)...)
	defer bar.Finish()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.concurrency())
	for _, id := range ids {
		g.Go(func() error {
			// A paper already gone is what was wanted.
			if err := d.Client.Delete(gctx, id); err != nil && !searchclient.IsNotFound(err) {
				return err
			}
			mu.Lock()
			delete(d.held, id)
			mu.Unlock()
			bar.Add(1)
			return nil
		})
	}
	return g.Wait()
}

func (d *Deployment) ingest(ctx context.Context, papers []dataset.Paper) (searchclient.IngestResponse, error) {
	var total searchclient.IngestResponse
	if len(papers) == 0 {
		return total, nil
	}
	bar := progress.New(d.Name+": ingest", int64(len(papers)), append([]progress.Option{progress.WithUnit("papers")}, d.Progress...)...)
	defer bar.Finish()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.concurrency())
	for lo := 0; lo < len(papers); lo += searchclient.MaxIngestPapers {
		batch := papers[lo:min(lo+searchclient.MaxIngestPapers, len(papers))]
		g.Go(func() error {
			in := make([]searchclient.Paper, len(batch))
			for i, p := range batch {
				in[i] = searchclient.Paper{ID: p.ID, Title: p.Title, Abstract: p.Abstract, Authors: p.Authors,
					Categories: p.Categories, UpdateDate: p.UpdateDate, Comments: p.Comments}
			}
			r, err := d.Client.Ingest(gctx, in)
			if err != nil {
				return fmt.Errorf("ingest papers %s..%s: %w", batch[0].ID, batch[len(batch)-1].ID, err)
			}
			mu.Lock()
			total.Inserted += r.Inserted
			total.Replaced += r.Replaced
			for _, p := range batch {
				d.held[p.ID] = true
			}
			mu.Unlock()
			bar.Add(int64(len(batch)))
			return nil
		})
	}
	err := g.Wait()
	return total, err
}

// Unload deletes every paper the evaluation holds in the deployment and
// closes its admin connections.
func (d *Deployment) Unload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.closeAdmin()
	ids := make([]string, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	d.task, d.exact, d.byID = nil, nil, nil
	if err := d.delete(ctx, ids); err != nil {
		return fmt.Errorf("removing the evaluation's papers from %s: %w", d.Client.URL(), err)
	}
	if len(ids) > 0 {
		d.log().Info("evaluation papers removed", "deployment", d.Name, "papers", len(ids))
	}
	return nil
}

// Close leaves the papers in place and closes the admin connections.
func (d *Deployment) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeAdmin()
}

// Held is the number of the evaluation's papers the deployment holds.
func (d *Deployment) Held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

// loaded returns the loaded task and its id map, checking that texts are
// the task's (queries or corpus, by rule).
func (d *Deployment) loaded(queries, corpus []string) (*eval.Task, map[string]int32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.task
	if t == nil {
		return nil, nil, errors.New("no task is loaded (eval.Run loads it through PrepareTask)")
	}
	if len(queries) != len(t.Queries) || len(corpus) != len(t.Corpus) {
		return nil, nil, fmt.Errorf("ranking %d queries over %d papers, but the deployment holds task %q (%d queries, %d papers)",
			len(queries), len(corpus), t.Name, len(t.Queries), len(t.Corpus))
	}
	for i := range corpus {
		if corpus[i] != dataset.TitleAbstract.Text(&t.Corpus[i]) {
			return nil, nil, fmt.Errorf("corpus text %d is not paper %s's: the deployment holds another corpus", i, t.Corpus[i].ID)
		}
	}
	return t, d.byID, nil
}

// exactTop10 is the exact top 10 of the loaded task's queries over its
// corpus, by the vectors the deployment's embedder gives (POST /v1/embed
// of the texts the gateway embeds at ingest and at search).
func (d *Deployment) exactTop10(ctx context.Context, queries []string) ([][]int32, error) {
	d.mu.Lock()
	t, cached := d.task, d.exact
	d.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	corpus := make([]string, len(t.Corpus))
	for i := range t.Corpus {
		p := &t.Corpus[i]
		corpus[i] = paper.EmbeddingText(paper.CleanText(p.Title), paper.CleanText(p.Abstract))
	}
	qv, err := d.embed(ctx, queries, "embed queries")
	if err != nil {
		return nil, err
	}
	cv, err := d.embed(ctx, corpus, "embed corpus")
	if err != nil {
		return nil, err
	}
	top, err := eval.Search(ctx, qv, cv, 10, 0)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.task == t {
		d.exact = top
	}
	d.mu.Unlock()
	return top, nil
}

func (d *Deployment) embed(ctx context.Context, texts []string, what string) ([][]float32, error) {
	bar := progress.New(d.Name+": "+what, int64(len(texts)), append([]progress.Option{progress.WithUnit("texts")}, d.Progress...)...)
	defer bar.Finish()
	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.concurrency())
	for lo := 0; lo < len(texts); lo += searchclient.MaxEmbedTexts {
		hi := min(lo+searchclient.MaxEmbedTexts, len(texts))
		g.Go(func() error {
			r, err := d.Client.Embed(gctx, texts[lo:hi])
			if err != nil {
				return fmt.Errorf("%s %d..%d: %w", what, lo, hi-1, err)
			}
			for i, e := range r.Embeddings {
				out[lo+i] = e.Vector
			}
			bar.Add(int64(hi - lo))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
