package embed

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// tracer is looked up per call, not kept, so that it follows the global
// tracer provider when that is replaced.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/arxivsearch/arxivsearch/services/embedder/internal/embed")
}

// traceBatches records, under the request's span, when each batch that
// carried the request's texts waited, ran the model and pooled. A batch
// serves several requests, so each request gets its own copy of the
// batch's timeline, with the batch's shape as attributes.
func traceBatches(ctx context.Context, submitted time.Time, outs []output) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	tr := tracer()
	seen := make(map[*batchTrace]bool, 1)
	for _, o := range outs {
		b := o.batch
		if seen[b] {
			continue
		}
		seen[b] = true
		attrs := trace.WithAttributes(
			attribute.Int("embed.batch.size", b.size),
			attribute.Int("embed.batch.seq_len", b.seqLen),
			attribute.Int("embed.batch.tokens", b.tokens),
		)
		for _, phase := range []struct {
			name       string
			start, end time.Time
		}{
			{"embed.queue_wait", submitted, b.start},
			{"embed.inference", b.start, b.inferred},
			{"embed.pooling", b.inferred, b.pooled},
		} {
			_, s := tr.Start(ctx, phase.name, trace.WithTimestamp(phase.start), attrs)
			s.End(trace.WithTimestamp(phase.end))
		}
	}
}
