package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/eval"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/train"
)

const sampleFile = "../../sample/arxiv-sample.jsonl.gz"

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "-log-level", "warn")
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("arxivsearch %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// TestPipelineOnSample prepares the in-repository sample, trains a small
// model for a few seconds, exports it as int8, and evaluates it against
// BM25 and the untrained model: training must beat the untrained table
// by a clear margin on precision@10.
func TestPipelineOnSample(t *testing.T) {
	tmp := t.TempDir()
	data, model, small, report := filepath.Join(tmp, "data"), filepath.Join(tmp, "model"), filepath.Join(tmp, "int8"), filepath.Join(tmp, "eval")
	runCLI(t, "prepare", "-input", sampleFile, "-out", data)

	start := time.Now()
	trainArgs := []string{"train", "-data", data, "-out", model, "-dim", "32", "-steps", "100", "-batch", "48", "-lr", "0.05", "-dtype", "float32", "-eval-every", "-1"}
	out := runCLI(t, trainArgs...)
	if !strings.Contains(out, "trained "+model) {
		t.Fatalf("train printed %q", out)
	}
	t.Logf("trained in %s", time.Since(start).Round(time.Millisecond))
	info, err := train.ReadInfo(model)
	if err != nil {
		t.Fatal(err)
	}
	// Same inputs and settings: the cached model is reused.
	if out := runCLI(t, trainArgs...); !strings.Contains(out, "up to date") {
		t.Errorf("second train printed %q, want the cache hit", out)
	}
	if again, _ := train.ReadInfo(model); again.CacheKey != info.CacheKey {
		t.Error("cache key changed")
	}

	runCLI(t, "export", "-model", model, "-out", small, "-dtype", "int8")
	m32, _, err := modeldir.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	m8, info8, err := modeldir.Load(small)
	if err != nil {
		t.Fatal(err)
	}
	if info8.DType != modeldir.Int8 || len(m8.Rows) != len(m32.Rows) {
		t.Errorf("export: %s with %d values", info8.DType, len(m8.Rows))
	}

	runCLI(t, "eval", "-data", data, "-model", "trained="+model, "-model", "int8="+small, "-tasks", "full", "-bootstrap", "100", "-out", report)
	b, err := os.ReadFile(filepath.Join(report, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep eval.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	p10 := map[string]float64{}
	for _, r := range rep.Tasks[0].Results {
		p10[r.Name] = r.All.Get("precision@10").Mean
	}
	t.Logf("precision@10 on the sample's test split (%d queries): %v", rep.Tasks[0].Queries, p10)
	if len(p10) != 4 {
		t.Fatalf("rankers %v, want trained, int8, BM25, untrained", p10)
	}
	if p10["trained"] < p10["untrained"]+0.10 {
		t.Errorf("trained precision@10 %.4f does not beat the untrained %.4f by 0.10", p10["trained"], p10["untrained"])
	}
	if d := p10["int8"] - p10["trained"]; d < -0.02 || d > 0.02 {
		t.Errorf("int8 export changed precision@10 by %+.4f", d)
	}
	if _, err := os.Stat(filepath.Join(report, "eval.md")); err != nil {
		t.Error(err)
	}
}
