package embed

import (
	"context"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpans checks that an Embed call under a recording span gets its
// tokenize span and, per batch, queue wait, inference and pooling spans
// that follow each other.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	e, _ := load(t, testmodel.Spec{}, nil, testConfig(), nil)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := e.Embed(ctx, []string{"graph neural networks", "search"}, 0); err != nil {
		t.Fatal(err)
	}
	parent.End()

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() != "request" && s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the request's span", s.Name())
		}
		byName[s.Name()] = s
	}
	for _, name := range []string{"embed.tokenize", "embed.queue_wait", "embed.inference", "embed.pooling"} {
		if byName[name] == nil {
			t.Fatalf("no %s span; got %v", name, byName)
		}
	}
	wait, inf, pool := byName["embed.queue_wait"], byName["embed.inference"], byName["embed.pooling"]
	if !wait.EndTime().Equal(inf.StartTime()) || !inf.EndTime().Equal(pool.StartTime()) || pool.EndTime().Before(pool.StartTime()) {
		t.Errorf("phases do not follow each other: wait %v-%v, inference %v-%v, pooling %v-%v",
			wait.StartTime(), wait.EndTime(), inf.StartTime(), inf.EndTime(), pool.StartTime(), pool.EndTime())
	}
	attrs := map[string]int64{}
	for _, kv := range inf.Attributes() {
		attrs[string(kv.Key)] = kv.Value.AsInt64()
	}
	// One batch of "graph neural network ##s" (6 tokens) and "search" (3).
	if attrs["embed.batch.size"] != 2 || attrs["embed.batch.seq_len"] != 6 || attrs["embed.batch.tokens"] != 9 {
		t.Errorf("batch attributes %v, want size 2, seq_len 6, tokens 9", attrs)
	}
}
