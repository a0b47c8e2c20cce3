package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/batcher"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	var _ batcher.Observer = m

	m.SetModel(Model{Name: "minilm", Dimension: 384, Device: "cpu", Provider: "CPUExecutionProvider", Sessions: 1, IntraOpThreads: 2})
	m.Request(codes.OK, 3, 20*time.Millisecond)
	m.Request(codes.ResourceExhausted, 5, time.Millisecond)
	m.Request(codes.InvalidArgument, 0, time.Millisecond)
	m.BatchDone(batcher.BatchInfo{Size: 4, Tokens: 30, Padded: 40, Wait: time.Millisecond, Run: 50 * time.Millisecond})
	m.BatchDone(batcher.BatchInfo{Size: 1, Tokens: 3, Padded: 3, Err: errors.New("boom")})
	m.QueueDepth(7)
	m.QueueDepth(2)
	m.Rejected(5)

	want := `
# HELP arxivsearch_embedder_batch_errors_total Batches whose inference failed.
# TYPE arxivsearch_embedder_batch_errors_total counter
arxivsearch_embedder_batch_errors_total 1
# HELP arxivsearch_embedder_model_info Always 1; labels name the served model and the device and ONNX Runtime execution provider that run it.
# TYPE arxivsearch_embedder_model_info gauge
arxivsearch_embedder_model_info{device="cpu",dimension="384",execution_provider="CPUExecutionProvider",intra_op_threads="2",model="minilm",sessions="1"} 1
# HELP arxivsearch_embedder_queue_depth Texts waiting for a batch.
# TYPE arxivsearch_embedder_queue_depth gauge
arxivsearch_embedder_queue_depth 2
# HELP arxivsearch_embedder_rejected_requests_total Embed requests refused: queue_full (RESOURCE_EXHAUSTED), invalid (INVALID_ARGUMENT) or unavailable (model loading or shutting down).
# TYPE arxivsearch_embedder_rejected_requests_total counter
arxivsearch_embedder_rejected_requests_total{reason="invalid"} 1
arxivsearch_embedder_rejected_requests_total{reason="queue_full"} 1
# HELP arxivsearch_embedder_rejected_texts_total Texts refused because the queue was full.
# TYPE arxivsearch_embedder_rejected_texts_total counter
arxivsearch_embedder_rejected_texts_total 5
`
	names := []string{"arxivsearch_embedder_batch_errors_total", "arxivsearch_embedder_model_info", "arxivsearch_embedder_queue_depth",
		"arxivsearch_embedder_rejected_requests_total", "arxivsearch_embedder_rejected_texts_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	for name, count := range map[string]int{
		"arxivsearch_embedder_request_duration_seconds": 3, // one series per code
		"arxivsearch_embedder_batch_size":               1,
		"arxivsearch_embedder_batch_padding_ratio":      1,
		"arxivsearch_embedder_batch_tokens":             1,
		"arxivsearch_embedder_queue_wait_seconds":       1,
		"arxivsearch_embedder_batch_duration_seconds":   1,
	} {
		if n := testutil.CollectAndCount(reg, name); n != count {
			t.Errorf("%s: %d series, want %d", name, n, count)
		}
	}
	// Padding: 10 of 40 padded tokens in the first batch, none in the second.
	if count, sum := histogramOf(t, reg, "arxivsearch_embedder_batch_padding_ratio"); count != 2 || sum != 0.25 {
		t.Errorf("padding ratio: %d samples summing to %v, want 2 and 0.25", count, sum)
	}
}

func histogramOf(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no %s", name)
	return 0, 0
}
