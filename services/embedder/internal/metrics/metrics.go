// Package metrics is the embedder's Prometheus instrumentation: requests,
// batches, the queue, and what model runs where.
package metrics

import (
	"strconv"
	"time"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/batcher"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

const (
	namespace = "arxivsearch"
	subsystem = "embedder"
)

// Metrics records what the embedder does. It implements batcher.Observer;
// its methods are safe for concurrent use.
type Metrics struct {
	requestSeconds *prometheus.HistogramVec
	requestTexts   prometheus.Histogram
	rejected       *prometheus.CounterVec
	rejectedTexts  prometheus.Counter
	batchSeconds   prometheus.Histogram
	queueWait      prometheus.Histogram
	batchSize      prometheus.Histogram
	batchTokens    prometheus.Histogram
	padding        prometheus.Histogram
	batchErrors    prometheus.Counter
	queueDepth     prometheus.Gauge
	model          *prometheus.GaugeVec
}

func opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}
}

func histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help, Buckets: buckets})
}

var (
	latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	countBuckets   = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}
)

// New registers the embedder's metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help:    "Time to answer an Embed request, by gRPC status code.",
			Buckets: latencyBuckets,
		}, []string{"code"}),
		requestTexts: histogram("request_texts", "Texts per Embed request.", countBuckets),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts(opts("rejected_requests_total",
			"Embed requests refused: queue_full (RESOURCE_EXHAUSTED), invalid (INVALID_ARGUMENT) or unavailable (model loading or shutting down).")),
			[]string{"reason"}),
		rejectedTexts: prometheus.NewCounter(prometheus.CounterOpts(opts("rejected_texts_total", "Texts refused because the queue was full."))),
		batchSeconds:  histogram("batch_duration_seconds", "Time to run a batch: padding, inference, pooling and normalization.", latencyBuckets),
		queueWait:     histogram("queue_wait_seconds", "Time the oldest text of a batch waited in the queue.", latencyBuckets),
		batchSize:     histogram("batch_size", "Texts per batch.", countBuckets),
		batchTokens: histogram("batch_tokens", "Tokens per batch, padding excluded.",
			prometheus.ExponentialBuckets(8, 2, 12)),
		padding: histogram("batch_padding_ratio", "Share of a batch's padded tokens that are padding: 1 - tokens/(size*longest).",
			[]float64{0, .05, .1, .2, .3, .4, .5, .6, .8}),
		batchErrors: prometheus.NewCounter(prometheus.CounterOpts(opts("batch_errors_total", "Batches whose inference failed."))),
		queueDepth:  prometheus.NewGauge(prometheus.GaugeOpts(opts("queue_depth", "Texts waiting for a batch."))),
		model: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("model_info",
			"Always 1; labels name the served model and the device and ONNX Runtime execution provider that run it.")),
			[]string{"model", "dimension", "device", "execution_provider", "sessions", "intra_op_threads"}),
	}
	reg.MustRegister(m.requestSeconds, m.requestTexts, m.rejected, m.rejectedTexts, m.batchSeconds, m.queueWait,
		m.batchSize, m.batchTokens, m.padding, m.batchErrors, m.queueDepth, m.model)
	return m
}

// Model describes the served model for the model_info gauge.
type Model struct {
	Name, Device, Provider              string
	Dimension, Sessions, IntraOpThreads int
}

// SetModel sets the model_info gauge.
func (m *Metrics) SetModel(model Model) {
	m.model.Reset()
	m.model.WithLabelValues(model.Name, strconv.Itoa(model.Dimension), model.Device, model.Provider,
		strconv.Itoa(model.Sessions), strconv.Itoa(model.IntraOpThreads)).Set(1)
}

// Request records an answered Embed request.
func (m *Metrics) Request(code codes.Code, texts int, d time.Duration) {
	m.requestSeconds.WithLabelValues(code.String()).Observe(d.Seconds())
	m.requestTexts.Observe(float64(texts))
	switch code {
	case codes.ResourceExhausted:
		m.rejected.WithLabelValues("queue_full").Inc()
	case codes.InvalidArgument:
		m.rejected.WithLabelValues("invalid").Inc()
	case codes.Unavailable:
		m.rejected.WithLabelValues("unavailable").Inc()
	}
}

// BatchDone implements batcher.Observer.
func (m *Metrics) BatchDone(b batcher.BatchInfo) {
	if b.Err != nil {
		m.batchErrors.Inc()
	}
	m.batchSeconds.Observe(b.Run.Seconds())
	m.queueWait.Observe(b.Wait.Seconds())
	m.batchSize.Observe(float64(b.Size))
	m.batchTokens.Observe(float64(b.Tokens))
	if b.Padded > 0 {
		m.padding.Observe(1 - float64(b.Tokens)/float64(b.Padded))
	}
}

// QueueDepth implements batcher.Observer.
func (m *Metrics) QueueDepth(items int) { m.queueDepth.Set(float64(items)) }

// Rejected implements batcher.Observer.
func (m *Metrics) Rejected(items int) { m.rejectedTexts.Add(float64(items)) }
