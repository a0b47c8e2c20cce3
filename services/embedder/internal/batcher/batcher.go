// Package batcher coalesces concurrent requests into batches for a model
// that is much faster per item on a batch than one item at a time.
//
// Requests submit items (texts, already tokenized, with a token cost). A
// dispatcher forms batches bounded by a maximum size and a token budget
// counted with padding (batch size times the longest item, which is what the
// model computes), waits at most MaxWait for company once an item is queued,
// and groups items of similar length so little compute goes to padding. A
// request's items may land in different batches. The queue is bounded:
// when it is full, Submit fails at once with ErrQueueFull instead of letting
// latency grow without limit. A request whose context ends leaves the
// queue: its items are dropped before they reach the model.
package batcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrQueueFull is returned by Submit when accepting the items would exceed
// the queue bound. Callers should shed load (RESOURCE_EXHAUSTED, HTTP 429).
var ErrQueueFull = errors.New("batcher: queue full")

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("batcher: closed")

// Config bounds batches and the queue.
type Config struct {
	// MaxBatch is the most items in one batch.
	MaxBatch int
	// TokenBudget is the most padded tokens in one batch: items times the
	// longest item's cost. An item costlier than the budget runs alone.
	TokenBudget int
	// MaxWait is how long a queued item waits for more items before its
	// batch runs anyway.
	MaxWait time.Duration
	// QueueSize is the most items waiting to run.
	QueueSize int
	// Workers is how many batches run at once (e.g. one per model session).
	Workers int
}

func (c Config) validate() error {
	switch {
	case c.MaxBatch < 1:
		return fmt.Errorf("max batch %d: want at least 1", c.MaxBatch)
	case c.TokenBudget < 1:
		return fmt.Errorf("token budget %d: want at least 1", c.TokenBudget)
	case c.MaxWait < 0:
		return fmt.Errorf("max wait %v: want 0 or more", c.MaxWait)
	case c.QueueSize < 1:
		return fmt.Errorf("queue size %d: want at least 1", c.QueueSize)
	case c.Workers < 1:
		return fmt.Errorf("workers %d: want at least 1", c.Workers)
	}
	return nil
}

// BatchInfo describes a batch that ran, for metrics.
type BatchInfo struct {
	Size int
	// Tokens is the sum of the items' costs; Padded is Size times the
	// largest cost, the tokens the model computed.
	Tokens, Padded int
	// Wait is how long the batch's oldest item was queued.
	Wait time.Duration
	Run  time.Duration
	Err  error
}

// Observer receives what the batcher does; all methods must be cheap and
// safe for concurrent use. QueueDepth is called with the queue locked, so
// depths arrive in order.
type Observer interface {
	BatchDone(BatchInfo)
	QueueDepth(items int)
	Rejected(items int)
}

// RunFunc runs a batch and returns one output per input, in order.
type RunFunc[In, Out any] func(ctx context.Context, batch []In) ([]Out, error)

// Batcher runs items through a RunFunc in batches.
type Batcher[In, Out any] struct {
	cfg  Config
	cost func(In) int
	run  RunFunc[In, Out]
	obs  Observer

	mu      sync.Mutex
	pending []*entry[In, Out]
	closed  bool
	wake    chan struct{} // a send says pending changed
	slots   chan struct{} // one token per idle worker
	done    chan struct{} // closed when the dispatcher has exited
	running sync.WaitGroup
}

type request[Out any] struct {
	ctx       context.Context
	out       []Out
	remaining int
	err       error
	done      chan struct{}
}

type entry[In, Out any] struct {
	req      *request[Out]
	idx      int
	in       In
	cost     int
	enqueued time.Time
}

// New starts a batcher. cost reports an item's length in tokens.
func New[In, Out any](cfg Config, cost func(In) int, run RunFunc[In, Out], obs Observer) (*Batcher[In, Out], error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	b := &Batcher[In, Out]{
		cfg: cfg, cost: cost, run: run, obs: obs,
		wake:  make(chan struct{}, 1),
		slots: make(chan struct{}, cfg.Workers),
		done:  make(chan struct{}),
	}
	for range cfg.Workers {
		b.slots <- struct{}{}
	}
	go b.dispatch()
	return b, nil
}

// Submit queues items and waits for their outputs, in input order. It
// fails with ErrQueueFull when the queue cannot take them all, and with the
// context's error when ctx ends first (the items then leave the queue).
func (b *Batcher[In, Out]) Submit(ctx context.Context, items []In) ([]Out, error) {
	if len(items) == 0 {
		return nil, nil
	}
	req := &request[Out]{ctx: ctx, out: make([]Out, len(items)), remaining: len(items), done: make(chan struct{})}
	now := time.Now()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if len(b.pending)+len(items) > b.cfg.QueueSize {
		depth := len(b.pending)
		b.mu.Unlock()
		if b.obs != nil {
			b.obs.Rejected(len(items))
		}
		return nil, fmt.Errorf("%w: %d items queued, %d more asked, bound %d", ErrQueueFull, depth, len(items), b.cfg.QueueSize)
	}
	for i, in := range items {
		b.pending = append(b.pending, &entry[In, Out]{req: req, idx: i, in: in, cost: max(1, b.cost(in)), enqueued: now})
	}
	if b.obs != nil {
		b.obs.QueueDepth(len(b.pending))
	}
	b.mu.Unlock()
	b.notify()

	select {
	case <-req.done:
		if req.err != nil {
			return nil, req.err
		}
		return req.out, nil
	case <-ctx.Done():
		b.mu.Lock()
		// Items not yet taken are dropped by the dispatcher; items in a
		// running batch finish and are discarded.
		if req.err == nil {
			req.err = ctx.Err()
		}
		b.mu.Unlock()
		b.notify()
		return nil, ctx.Err()
	}
}

func (b *Batcher[In, Out]) notify() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting items, lets queued and running batches finish, and
// returns when they have or when ctx ends.
func (b *Batcher[In, Out]) Close(ctx context.Context) error {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.mu.Unlock()
	if !already {
		b.notify()
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	waited := make(chan struct{})
	go func() { b.running.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dispatch forms batches whenever a worker is idle and items are due.
func (b *Batcher[In, Out]) dispatch() {
	defer close(b.done)
	var timer *time.Timer
	for {
		<-b.slots // an idle worker
		var batch []*entry[In, Out]
		for batch == nil {
			b.mu.Lock()
			before := len(b.pending)
			b.dropCancelledLocked()
			closed := b.closed
			var due time.Duration
			if len(b.pending) > 0 {
				due = b.cfg.MaxWait - time.Since(b.oldestLocked())
				if due <= 0 || closed || b.fullLocked() {
					batch = b.takeLocked()
				}
			}
			if len(b.pending) != before && b.obs != nil {
				// Under the lock, so that depths are reported in order.
				b.obs.QueueDepth(len(b.pending))
			}
			b.mu.Unlock()
			if batch != nil {
				break
			}
			if closed {
				b.slots <- struct{}{}
				return
			}
			var timeout <-chan time.Time
			if due > 0 {
				if timer == nil {
					timer = time.NewTimer(due)
				} else {
					timer.Reset(due)
				}
				timeout = timer.C
			}
			select {
			case <-b.wake:
			case <-timeout:
			}
			if timer != nil && !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		b.running.Add(1)
		go b.runBatch(batch)
	}
}

func (b *Batcher[In, Out]) dropCancelledLocked() {
	b.pending = slices.DeleteFunc(b.pending, func(e *entry[In, Out]) bool { return e.req.err != nil })
}

func (b *Batcher[In, Out]) oldestLocked() time.Time {
	t := b.pending[0].enqueued
	for _, e := range b.pending[1:] {
		if e.enqueued.Before(t) {
			t = e.enqueued
		}
	}
	return t
}

// fullLocked reports whether the queue holds at least a full batch, by
// count or by padded tokens, so waiting longer could not make it bigger.
func (b *Batcher[In, Out]) fullLocked() bool {
	if len(b.pending) >= b.cfg.MaxBatch {
		return true
	}
	longest := 0
	for _, e := range b.pending {
		longest = max(longest, e.cost)
	}
	return longest*len(b.pending) >= b.cfg.TokenBudget
}

// takeLocked removes the next batch from the queue: the oldest item (so
// none starves) together with the items closest to it in length, as many
// as the size and padded-token bounds allow.
func (b *Batcher[In, Out]) takeLocked() []*entry[In, Out] {
	byCost := slices.Clone(b.pending)
	slices.SortStableFunc(byCost, func(x, y *entry[In, Out]) int { return x.cost - y.cost })
	oldest := 0
	for i, e := range byCost {
		if e.enqueued.Before(byCost[oldest].enqueued) {
			oldest = i
		}
	}
	lo, hi := oldest, oldest+1 // the batch is byCost[lo:hi]
grow:
	for hi-lo < b.cfg.MaxBatch {
		// Grow toward the neighbour closer in length; the padded cost of a
		// sorted window is its size times its last item's cost.
		canLo := lo > 0 && (hi-lo+1)*byCost[hi-1].cost <= b.cfg.TokenBudget
		canHi := hi < len(byCost) && (hi-lo+1)*byCost[hi].cost <= b.cfg.TokenBudget
		switch {
		case canLo && canHi:
			if byCost[oldest].cost-byCost[lo-1].cost <= byCost[hi].cost-byCost[oldest].cost {
				lo--
			} else {
				hi++
			}
		case canLo:
			lo--
		case canHi:
			hi++
		default:
			break grow
		}
	}
	batch := slices.Clone(byCost[lo:hi])
	taken := make(map[*entry[In, Out]]bool, len(batch))
	for _, e := range batch {
		taken[e] = true
	}
	b.pending = slices.DeleteFunc(b.pending, func(e *entry[In, Out]) bool { return taken[e] })
	return batch
}

func (b *Batcher[In, Out]) runBatch(batch []*entry[In, Out]) {
	defer b.running.Done()
	defer func() { b.slots <- struct{}{}; b.notify() }()
	in := make([]In, len(batch))
	info := BatchInfo{Size: len(batch)}
	oldest := batch[0].enqueued
	longest := 0
	for i, e := range batch {
		in[i] = e.in
		info.Tokens += e.cost
		longest = max(longest, e.cost)
		if e.enqueued.Before(oldest) {
			oldest = e.enqueued
		}
	}
	info.Padded = longest * len(batch)
	start := time.Now()
	info.Wait = start.Sub(oldest)
	// The batch serves several requests, so no one caller's context may
	// cancel it; callers that leave simply discard their outputs.
	out, err := b.run(context.Background(), in)
	info.Run = time.Since(start)
	if err == nil && len(out) != len(in) {
		err = fmt.Errorf("batcher: run returned %d outputs for %d inputs", len(out), len(in))
	}
	info.Err = err
	if b.obs != nil {
		b.obs.BatchDone(info)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, e := range batch {
		r := e.req
		if r.remaining == 0 {
			continue // already failed and released
		}
		if err != nil {
			if r.err == nil {
				r.err = err
			}
			r.remaining = 0
			close(r.done)
			continue
		}
		r.out[e.idx] = out[i]
		r.remaining--
		if r.remaining == 0 {
			close(r.done)
		}
	}
}
