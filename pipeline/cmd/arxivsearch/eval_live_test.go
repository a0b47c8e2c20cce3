package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval/live"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/searchclient"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/teststack"
)

// TestEvalLiveDeployment evaluates a real deployment (embedder serving the
// shipped default model with ONNX Runtime, one index instance with two
// shards, the gateway) through its REST API on the in-repository sample:
//
//   - with flat shards, dense search through the gateway ranks as the
//     in-process exact search of the same model, so every metric is the
//     same and the recall@10 against exact search is 1; lexical search
//     ranks differently; papers of the split left in the deployment by an
//     earlier run (here: queries) are found, kept out of the searched
//     index and removed at the end;
//   - with IVF shards (-retrain), probing one list of each shard loses
//     neighbours, which the recall measure shows, while the default nprobe
//     (at least every list at this size) loses none;
//   - a deployment holding a paper that is not of the split is refused
//     and left as it was.
func TestEvalLiveDeployment(t *testing.T) {
	model, err := filepath.Abs("../../models/default")
	if err != nil {
		t.Fatal(err)
	}
	st := teststack.Start(t, teststack.Options{ModelDir: model, TotalShards: 2})
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	// Uncompressed: gzip under the race detector is most of prepare's time.
	runCLI(t, "prepare", "-input", sampleFile, "-out", data, "-gzip=false")
	test, err := dataset.ReadSplit(data, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	// The old protocol on 300 papers of the test split (51 queries, 240
	// corpus papers) keeps the test to seconds.
	const sample = 300
	task := eval.NewTask("", "", test, sample, 42)
	ctx := context.Background()
	client, err := searchclient.New(st.URL, 2)
	if err != nil {
		t.Fatal(err)
	}
	client.Token = teststack.Token
	held := func(t *testing.T) int64 {
		t.Helper()
		info, err := client.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.PapersIndexed
	}
	// liveEval runs eval with args on the sample task, or on the full
	// split when full.
	liveEval := func(t *testing.T, full bool, out string, args ...string) *eval.TaskReport {
		t.Helper()
		taskArgs := []string{"-tasks", "old", "-sample", fmt.Sprint(sample)}
		queries := len(task.Queries)
		if full {
			taskArgs, queries = []string{"-tasks", "full"}, len(eval.NewTask("", "", test, 0, 42).Queries)
		}
		args = append(append([]string{"eval", "-data", data, "-gateway", "live=" + st.URL, "-write-token", teststack.Token,
			"-concurrency", "4", "-bootstrap", "100", "-bm25=false", "-untrained=false", "-out", out}, taskArgs...), args...)
		runCLI(t, args...)
		b, err := os.ReadFile(filepath.Join(out, "eval.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep eval.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Tasks) != 1 || rep.Tasks[0].Queries != queries {
			t.Fatalf("report tasks %+v", rep.Tasks)
		}
		return &rep.Tasks[0]
	}
	result := func(t *testing.T, tr *eval.TaskReport, name string) *eval.Result {
		t.Helper()
		for i := range tr.Results {
			if tr.Results[i].Name == name {
				return &tr.Results[i]
			}
		}
		t.Fatalf("no result %q in the report", name)
		return nil
	}
	recall := func(r *eval.Result) float64 {
		for _, m := range r.Measures {
			if m.Name == live.RecallMeasure {
				return m.Mean
			}
		}
		return math.NaN()
	}

	t.Run("flat shards", func(t *testing.T) {
		// Queries left by an "earlier run": they must not be searchable.
		var leftover []searchclient.Paper
		for _, p := range task.Queries[:3] {
			leftover = append(leftover, searchclient.Paper{ID: p.ID, Title: p.Title, Abstract: p.Abstract, Categories: p.Categories})
		}
		if _, err := client.Ingest(ctx, leftover); err != nil {
			t.Fatal(err)
		}
		tr := liveEval(t, false, filepath.Join(tmp, "flat"), "-model", "default="+model, "-modes", "dense,lexical")
		offline, dense, lexical := result(t, tr, "default"), result(t, tr, "live dense"), result(t, tr, "live lexical")
		t.Logf("%d queries over %d papers: P@10 offline %.4f, live dense %.4f, live lexical %.4f; live dense recall@10 %.4f",
			tr.Queries, tr.Corpus, offline.All.Get("precision@10").Mean, dense.All.Get("precision@10").Mean,
			lexical.All.Get("precision@10").Mean, recall(dense))
		if !strings.Contains(dense.TaskNote, "2 flat") {
			t.Errorf("task note %q does not report 2 flat shards", dense.TaskNote)
		}
		// Identical on the development machine. FAISS and the Go kernel add
		// the same products in another order, and the sample has scores
		// 1.5e-8 apart within a top 100, so another CPU could swap such a
		// pair: allow what a swap or two costs (a text or id mapping error
		// costs far more; lexical differs by 0.3).
		for _, m := range eval.Metrics {
			if a, b := offline.All.Get(m).Mean, dense.All.Get(m).Mean; math.Abs(a-b) > 0.01 {
				t.Errorf("%s: live dense %.6f, offline exact %.6f", m, b, a)
			}
		}
		if r := recall(dense); r < 0.99 {
			t.Errorf("live dense recall@10 vs exact = %v on flat shards, want 1", r)
		}
		differs := false
		for _, m := range []string{"precision@10", "ndcg@10", "mrr@10", "map@100"} {
			if math.Abs(lexical.All.Get(m).Mean-dense.All.Get(m).Mean) > 0.005 {
				differs = true
			}
		}
		if !differs {
			t.Error("lexical mode ranks like dense mode: the mode does not reach the index")
		}
		if len(lexical.Measures) != 0 {
			t.Errorf("lexical mode has measures %+v", lexical.Measures)
		}
		if n := held(t); n != 0 {
			t.Errorf("the deployment holds %d papers after the evaluation, want 0", n)
		}
	})

	t.Run("IVF shards", func(t *testing.T) {
		// The full split (480 corpus papers) gives shards of 6 lists.
		tr := liveEval(t, true, filepath.Join(tmp, "ivf"), "-modes", "dense", "-nprobe", "0,1", "-retrain")
		all, one := result(t, tr, "live dense"), result(t, tr, "live dense nprobe=1")
		t.Logf("%s; recall@10 at the default nprobe %.4f, at nprobe 1 %.4f", all.TaskNote, recall(all), recall(one))
		if !strings.Contains(all.TaskNote, "2 IVF") || !strings.Contains(one.TaskNote, "nprobe 1") {
			t.Errorf("task notes %q, %q do not report IVF shards", all.TaskNote, one.TaskNote)
		}
		if r := recall(all); r < 0.99 {
			t.Errorf("recall@10 probing every list = %v, want 1", r)
		}
		if r := recall(one); !(r > 0.1 && r < 0.95) {
			t.Errorf("recall@10 probing one list = %v, want clearly below 1", r)
		}
		if d := one.DiffVsBaseline; d == nil || tr.Baseline != "live dense" {
			t.Errorf("paired difference vs %q: %+v", tr.Baseline, d)
		}
		if n := held(t); n != 0 {
			t.Errorf("the deployment holds %d papers after the evaluation, want 0", n)
		}
	})

	t.Run("foreign paper refused", func(t *testing.T) {
		evalSplit, err := dataset.ReadSplit(data, dataset.Eval)
		if err != nil {
			t.Fatal(err)
		}
		p := evalSplit[0]
		if _, err := client.Ingest(ctx, []searchclient.Paper{{ID: p.ID, Title: p.Title, Abstract: p.Abstract, Categories: p.Categories}}); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		err = run(ctx, []string{"eval", "-data", data, "-tasks", "old", "-sample", fmt.Sprint(sample), "-gateway", st.URL, "-write-token", teststack.Token,
			"-bm25=false", "-untrained=false", "-log-level", "error"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "holds nothing else") {
			t.Errorf("eval on a deployment holding a foreign paper: err = %v", err)
		}
		if ok, err := client.Has(ctx, p.ID); err != nil || !ok || held(t) != 1 {
			t.Errorf("the foreign paper was touched (present %v, err %v) or papers were added", ok, err)
		}
	})
}
