package batcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a RunFunc that doubles its inputs and records each batch.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{} // when non-nil, runs wait until release
	once    sync.Once
	entered atomic.Int64 // runs started
	fail    error
}

func gated() *recorder { return &recorder{gate: make(chan struct{})} }

// release lets every waiting and future run proceed.
func (r *recorder) release() {
	if r.gate != nil {
		r.once.Do(func() { close(r.gate) })
	}
}

func (r *recorder) run(ctx context.Context, in []int) ([]int, error) {
	r.entered.Add(1)
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(in))
	r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	out := make([]int, len(in))
	for i, v := range in {
		out[i] = 2 * v
	}
	return out, nil
}

func (r *recorder) seen() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func identity(v int) int { return v }

func newBatcher(t *testing.T, cfg Config, r *recorder, obs Observer) *Batcher[int, int] {
	t.Helper()
	b, err := New(cfg, identity, r.run, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.release()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConfigValidation(t *testing.T) {
	good := Config{MaxBatch: 1, TokenBudget: 1, QueueSize: 1, Workers: 1}
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.MaxBatch = 0 }, "max batch 0"},
		{func(c *Config) { c.TokenBudget = 0 }, "token budget 0"},
		{func(c *Config) { c.MaxWait = -1 }, "max wait"},
		{func(c *Config) { c.QueueSize = 0 }, "queue size 0"},
		{func(c *Config) { c.Workers = 0 }, "workers 0"},
	}
	for _, tt := range tests {
		cfg := good
		tt.mutate(&cfg)
		if _, err := New(cfg, identity, (&recorder{}).run, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error = %v, want %q", cfg, err, tt.want)
		}
	}
}

func TestCoalescesConcurrentRequests(t *testing.T) {
	r := &recorder{}
	b := newBatcher(t, Config{MaxBatch: 32, TokenBudget: 1 << 20, MaxWait: 200 * time.Millisecond, QueueSize: 100, Workers: 1}, r, nil)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			out, err := b.Submit(context.Background(), []int{i + 1})
			if err != nil || len(out) != 1 || out[0] != 2*(i+1) {
				t.Errorf("Submit(%d) = %v, %v", i+1, out, err)
			}
		})
	}
	wg.Wait()
	// Ten requests within the wait window share one batch.
	if got := r.seen(); len(got) != 1 || len(got[0]) != 10 {
		t.Errorf("batches = %v, want one batch of 10", got)
	}
}

func TestFullBatchDoesNotWait(t *testing.T) {
	r := &recorder{}
	b := newBatcher(t, Config{MaxBatch: 4, TokenBudget: 1 << 20, MaxWait: time.Hour, QueueSize: 100, Workers: 1}, r, nil)
	done := make(chan error, 1)
	go func() { _, err := b.Submit(context.Background(), []int{1, 2, 3, 4}); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a full batch waited for MaxWait")
	}
}

func TestOutputsInInputOrderAcrossBatches(t *testing.T) {
	r := &recorder{}
	b := newBatcher(t, Config{MaxBatch: 8, TokenBudget: 1 << 20, MaxWait: time.Millisecond, QueueSize: 1000, Workers: 2}, r, nil)
	in := make([]int, 100)
	for i := range in {
		in[i] = (i * 37) % 101 // lengths out of order, so grouping reorders them
	}
	out, err := b.Submit(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if out[i] != 2*in[i] {
			t.Fatalf("out[%d] = %d, want %d", i, out[i], 2*in[i])
		}
	}
	batches := r.seen()
	if len(batches) < 100/8 {
		t.Errorf("%d batches for 100 items at MaxBatch 8", len(batches))
	}
	for _, bt := range batches {
		if len(bt) > 8 {
			t.Errorf("batch of %d > MaxBatch 8", len(bt))
		}
	}
}

func TestTokenBudgetAndLengthGrouping(t *testing.T) {
	r := gated()
	b := newBatcher(t, Config{MaxBatch: 3, TokenBudget: 700, MaxWait: time.Millisecond, QueueSize: 100, Workers: 1}, r, nil)
	// Occupy the only worker so the real items queue up together.
	go b.Submit(context.Background(), []int{1})
	waitFor(t, func() bool { return r.entered.Load() == 1 })
	res := make(chan []int, 1)
	go func() {
		out, err := b.Submit(context.Background(), []int{10, 200, 12, 210, 11, 205, 900})
		if err != nil {
			t.Error(err)
		}
		res <- out
	}()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 7 })
	r.release()
	out := <-res
	if !slices.Equal(out, []int{20, 400, 24, 420, 22, 410, 1800}) {
		t.Errorf("outputs = %v", out)
	}
	var got [][]int
	for _, bt := range r.seen()[1:] {
		s := slices.Clone(bt)
		slices.Sort(s)
		got = append(got, s)
	}
	slices.SortFunc(got, func(a, b []int) int { return a[0] - b[0] })
	// Similar lengths together; 3*210 fits the 700 budget; 900 alone.
	want := [][]int{{10, 11, 12}, {200, 205, 210}, {900}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches = %v, want %v", got, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

type countingObserver struct {
	batches, rejected atomic.Int64
	maxDepth          atomic.Int64
}

func (o *countingObserver) BatchDone(BatchInfo) { o.batches.Add(1) }
func (o *countingObserver) QueueDepth(n int) {
	for {
		cur := o.maxDepth.Load()
		if int64(n) <= cur || o.maxDepth.CompareAndSwap(cur, int64(n)) {
			return
		}
	}
}
func (o *countingObserver) Rejected(n int) { o.rejected.Add(int64(n)) }

func TestQueueFullRejectsAtOnce(t *testing.T) {
	r := gated()
	obs := &countingObserver{}
	b := newBatcher(t, Config{MaxBatch: 2, TokenBudget: 1 << 20, MaxWait: 0, QueueSize: 4, Workers: 1}, r, obs)
	go b.Submit(context.Background(), []int{1, 2}) // runs, blocked on the gate
	waitFor(t, func() bool { return r.entered.Load() == 1 })
	go b.Submit(context.Background(), []int{3, 4, 5}) // queued
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 3 })
	start := time.Now()
	_, err := b.Submit(context.Background(), []int{6, 7})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Submit on a full queue = %v, want ErrQueueFull", err)
	}
	if time.Since(start) > time.Second {
		t.Error("rejection was not immediate")
	}
	if obs.rejected.Load() != 2 {
		t.Errorf("rejected = %d, want 2", obs.rejected.Load())
	}
}

func TestCancelledRequestLeavesQueue(t *testing.T) {
	r := gated()
	b := newBatcher(t, Config{MaxBatch: 8, TokenBudget: 1 << 20, MaxWait: 0, QueueSize: 100, Workers: 1}, r, nil)
	first := make(chan error, 1)
	go func() { _, err := b.Submit(context.Background(), []int{1}); first <- err }()
	waitFor(t, func() bool { return r.entered.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { _, err := b.Submit(ctx, []int{99, 98}); second <- err }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 2 })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Submit = %v", err)
	}
	r.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A later request runs, and the cancelled items never reached the model.
	if _, err := b.Submit(context.Background(), []int{5}); err != nil {
		t.Fatal(err)
	}
	for _, bt := range r.seen() {
		if slices.Contains(bt, 99) || slices.Contains(bt, 98) {
			t.Errorf("cancelled items ran in batch %v", bt)
		}
	}
}

func TestRunErrorReachesEveryRequestInBatch(t *testing.T) {
	boom := errors.New("onnxruntime: out of memory")
	r := &recorder{fail: boom}
	b := newBatcher(t, Config{MaxBatch: 8, TokenBudget: 1 << 20, MaxWait: 100 * time.Millisecond, QueueSize: 100, Workers: 1}, r, nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := b.Submit(context.Background(), []int{i, i + 10}); !errors.Is(err, boom) {
				t.Errorf("Submit = %v, want the run error", err)
			}
		})
	}
	wg.Wait()
}

func TestCloseDrainsThenRefuses(t *testing.T) {
	r := &recorder{}
	b, err := New(Config{MaxBatch: 4, TokenBudget: 1 << 20, MaxWait: time.Hour, QueueSize: 100, Workers: 1}, identity, r.run, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { _, err := b.Submit(context.Background(), []int{1, 2}); res <- err }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// MaxWait is an hour, so only Close makes the queued items run.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Errorf("queued request failed on Close: %v", err)
	}
	if _, err := b.Submit(context.Background(), []int{3}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentLoad(t *testing.T) {
	r := &recorder{}
	obs := &countingObserver{}
	b := newBatcher(t, Config{MaxBatch: 16, TokenBudget: 4000, MaxWait: time.Millisecond, QueueSize: 10000, Workers: 2}, r, obs)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 20 {
				in := []int{g*1000 + i, (g*1000 + i) % 300}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%5)*time.Millisecond*50)
				out, err := b.Submit(ctx, in)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Submit: %v", err)
					}
					continue
				}
				if out[0] != 2*in[0] || out[1] != 2*in[1] {
					t.Errorf("Submit(%v) = %v", in, out)
				}
			}
		})
	}
	wg.Wait()
	if obs.batches.Load() == 0 {
		t.Error("no batch observed")
	}
}

// depthObserver keeps the last queue depth reported.
type depthObserver struct {
	countingObserver
	last atomic.Int64
}

func (o *depthObserver) QueueDepth(n int) { o.last.Store(int64(n)) }

// TestQueueDepthFalls checks that the depth is reported as batches leave
// the queue, not only as items join it, so a gauge returns to zero.
func TestQueueDepthFalls(t *testing.T) {
	r := gated()
	obs := &depthObserver{}
	b := newBatcher(t, Config{MaxBatch: 2, TokenBudget: 1 << 20, MaxWait: 0, QueueSize: 10, Workers: 1}, r, obs)
	done := make(chan error, 1)
	go func() { _, err := b.Submit(context.Background(), []int{1, 2, 3, 4, 5}); done <- err }()
	waitFor(t, func() bool { return r.entered.Load() == 1 })
	if got := obs.last.Load(); got != 3 {
		t.Errorf("depth with the first batch running = %d, want 3", got)
	}
	r.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := obs.last.Load(); got != 0 {
		t.Errorf("depth after every batch ran = %d, want 0", got)
	}
}
