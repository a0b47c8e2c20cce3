// Package limit protects the gateway from overload and slow calls: a
// concurrency limiter with a bounded wait queue that answers
// RESOURCE_EXHAUSTED (HTTP 429) instead of queueing without end, and a
// per-call deadline.
package limit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Limiter admits at most maxInFlight calls at once; up to maxQueue more
// wait, each for at most queueTimeout, for a slot. Beyond that calls are
// refused at once.
type Limiter struct {
	slots        chan struct{}
	queue        chan struct{}
	queueTimeout time.Duration
	inFlight     prometheus.Gauge
	queued       prometheus.Gauge
	rejected     *prometheus.CounterVec
}

// New returns a limiter; Register exports its metrics.
func New(maxInFlight, maxQueue int, queueTimeout time.Duration) *Limiter {
	l := &Limiter{
		slots:        make(chan struct{}, max(maxInFlight, 1)),
		queue:        make(chan struct{}, max(maxQueue, 0)),
		queueTimeout: queueTimeout,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_requests_in_flight", Help: "API calls being served, limited by -max-in-flight.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_requests_queued", Help: "API calls waiting for a slot, limited by -max-queue.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_rejected_total", Help: "API calls refused with RESOURCE_EXHAUSTED because the gateway was at its limit.",
		}, []string{"reason"}),
	}
	return l
}

// Register exports the limiter's metrics through reg.
func (l *Limiter) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{l.inFlight, l.queued, l.rejected} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("limiter metrics: %w", err)
		}
	}
	return nil
}

func overloaded(reason, msg string) error {
	st := status.New(codes.ResourceExhausted, msg)
	if d, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: "OVERLOADED", Domain: "arxivsearch.gateway", Metadata: map[string]string{"limit": reason}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)},
	); err == nil {
		st = d
	}
	return st.Err()
}

// Acquire takes a slot, waiting in the queue when all are taken. Call the
// returned release when the call is done.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	release = func() {
		<-l.slots
		l.inFlight.Dec()
	}
	select {
	case l.slots <- struct{}{}:
		l.inFlight.Inc()
		return release, nil
	default:
	}
	select {
	case l.queue <- struct{}{}:
	default:
		l.rejected.WithLabelValues("queue_full").Inc()
		return nil, overloaded("queue", "the server is overloaded: every slot is busy and the wait queue is full; retry in a second")
	}
	l.queued.Inc()
	defer func() {
		<-l.queue
		l.queued.Dec()
	}()
	t := time.NewTimer(l.queueTimeout)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.inFlight.Inc()
		return release, nil
	case <-t.C:
		l.rejected.WithLabelValues("queue_timeout").Inc()
		return nil, overloaded("queue_timeout", "the server is overloaded: no slot freed up within "+l.queueTimeout.String()+"; retry in a second")
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, status.Error(codes.DeadlineExceeded, "the request ran out of time waiting for a free slot")
		}
		return nil, status.Error(codes.Canceled, "the request was canceled while waiting for a free slot")
	}
}

// UnaryInterceptor limits the calls of services whose full method name
// starts with one of prefixes (e.g. "/arxivsearch.search.v1.SearchService/");
// other calls, such as health checks, pass freely.
func (l *Limiter) UnaryInterceptor(prefixes ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !matches(info.FullMethod, prefixes) {
			return handler(ctx, req)
		}
		release, err := l.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		return handler(ctx, req)
	}
}

// DeadlineInterceptor gives calls of the matching services at most timeout:
// a caller's shorter deadline is kept, a longer or missing one is cut.
func DeadlineInterceptor(timeout time.Duration, prefixes ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if timeout <= 0 || !matches(info.FullMethod, prefixes) {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := handler(ctx, req)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
			// A backend call cut by this deadline reports CANCELED or
			// UNAVAILABLE; say what happened.
			return nil, status.Errorf(codes.DeadlineExceeded, "the request took longer than the server's limit of %s: %s", timeout, status.Convert(err).Message())
		}
		return resp, err
	}
}

func matches(method string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}
