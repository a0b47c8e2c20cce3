package limit

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestLimiter(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := New(2, 1, 150*time.Millisecond)
	if err := l.Register(reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r1, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(l.inFlight); got != 2 {
		t.Errorf("in flight = %v", got)
	}

	// A third call waits in the queue; a fourth finds it full.
	waited := make(chan error, 1)
	go func() {
		r3, err := l.Acquire(ctx)
		if err == nil {
			r3()
		}
		waited <- err
	}()
	for testutil.ToFloat64(l.queued) != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Acquire(ctx); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("fourth call: %v, want RESOURCE_EXHAUSTED", err)
	}
	r1()
	if err := <-waited; err != nil {
		t.Errorf("queued call after a release: %v", err)
	}

	// A queued call that gets no slot in time is refused, not kept.
	start := time.Now()
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatal(err) // takes r1's slot
	}
	_, err = l.Acquire(ctx)
	if status.Code(err) != codes.ResourceExhausted || time.Since(start) < 150*time.Millisecond {
		t.Errorf("queued call without a slot: %v after %v", err, time.Since(start))
	}
	// A caller's own deadline ends its wait.
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(dctx); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("queued call past its deadline: %v", err)
	}
	r2()
	if n := testutil.CollectAndCount(reg, "gateway_requests_rejected_total"); n != 2 {
		t.Errorf("rejection series = %d, want queue_full and queue_timeout", n)
	}
}

func TestUnaryInterceptorSkipsOtherServices(t *testing.T) {
	l := New(1, 0, time.Millisecond)
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ic := l.UnaryInterceptor("/arxivsearch.search.v1.SearchService/")
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	if _, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}, ok); err != nil {
		t.Errorf("health check limited: %v", err)
	}
	if _, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/arxivsearch.search.v1.SearchService/Search"}, ok); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("search over the limit: %v", err)
	}
}

func TestDeadlineInterceptor(t *testing.T) {
	ic := DeadlineInterceptor(time.Second, "/svc/")
	tests := []struct {
		name         string
		method       string
		callerBudget time.Duration
		wantMax      time.Duration
		wantNone     bool
	}{
		{name: "no caller deadline", method: "/svc/M", wantMax: time.Second},
		{name: "longer caller deadline cut", method: "/svc/M", callerBudget: time.Hour, wantMax: time.Second},
		{name: "shorter caller deadline kept", method: "/svc/M", callerBudget: 100 * time.Millisecond, wantMax: 100 * time.Millisecond},
		{name: "other service untouched", method: "/other/M", wantNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.callerBudget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.callerBudget)
				defer cancel()
			}
			_, _ = ic(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(ctx context.Context, _ any) (any, error) {
				d, ok := ctx.Deadline()
				if tt.wantNone {
					if ok {
						t.Errorf("deadline set on %s", tt.method)
					}
					return nil, nil
				}
				if !ok || time.Until(d) > tt.wantMax {
					t.Errorf("deadline in %v, want at most %v", time.Until(d), tt.wantMax)
				}
				return nil, nil
			})
		})
	}

	short := DeadlineInterceptor(20*time.Millisecond, "/svc/")
	_, err := short(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/svc/M"}, func(ctx context.Context, _ any) (any, error) {
		<-ctx.Done()
		return nil, status.Error(codes.Canceled, "context canceled")
	})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("handler cut by the deadline: %v, want DEADLINE_EXCEEDED", err)
	}
}
