// Package embedpool spreads embedding calls over one or more embedder
// instances: round-robin, and on to the next instance when one is down or
// its queue is full, so a single embedder failing costs no request.
package embedpool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Endpoint is one embedder instance.
type Endpoint struct {
	Addr string
	Conn grpc.ClientConnInterface
}

// Pool calls embedders in turn. It is safe for concurrent use.
type Pool struct {
	eps     []*endpoint
	next    atomic.Uint64
	cooloff time.Duration
	now     func() time.Time
}

type endpoint struct {
	addr   string
	client embedderv1.EmbedderServiceClient
	mu     sync.Mutex
	// downUntil is when an instance that failed is tried first again;
	// until then it is tried only after every other instance.
	downUntil time.Time
}

// DefaultCooloff is how long an instance that failed is tried last.
const DefaultCooloff = 2 * time.Second

// New returns a pool over endpoints, at least one.
func New(endpoints []Endpoint) (*Pool, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("embedpool: no embedder address")
	}
	p := &Pool{cooloff: DefaultCooloff, now: time.Now}
	for _, e := range endpoints {
		p.eps = append(p.eps, &endpoint{addr: e.Addr, client: embedderv1.NewEmbedderServiceClient(e.Conn)})
	}
	return p, nil
}

// Addrs lists the instances' addresses in configuration order.
func (p *Pool) Addrs() []string {
	out := make([]string, len(p.eps))
	for i, e := range p.eps {
		out[i] = e.addr
	}
	return out
}

// Embed embeds a batch on one instance, moving on to the next one when an
// instance is unreachable (UNAVAILABLE) or overloaded (RESOURCE_EXHAUSTED).
// Other errors are the caller's (INVALID_ARGUMENT) or final, and come back
// at once.
func (p *Pool) Embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	var resp *embedderv1.EmbedResponse
	err := p.try(ctx, func(ctx context.Context, c embedderv1.EmbedderServiceClient) error {
		var err error
		resp, err = c.Embed(ctx, req)
		if err == nil && len(resp.GetEmbeddings()) != len(req.GetTexts()) {
			return status.Errorf(codes.Internal, "embedder returned %d embeddings for %d texts", len(resp.GetEmbeddings()), len(req.GetTexts()))
		}
		return err
	})
	return resp, err
}

// ModelInfo describes the served model, asking instances in turn.
func (p *Pool) ModelInfo(ctx context.Context) (*embedderv1.ModelInfo, error) {
	var info *embedderv1.ModelInfo
	err := p.try(ctx, func(ctx context.Context, c embedderv1.EmbedderServiceClient) error {
		resp, err := c.GetModelInfo(ctx, &embedderv1.GetModelInfoRequest{})
		info = resp.GetModel()
		return err
	})
	return info, err
}

// retryable reports whether another instance may succeed where one failed.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted:
		return true
	}
	return false
}

// order returns the instances to try: round-robin from the next one, with
// those that failed recently moved to the end.
func (p *Pool) order() []*endpoint {
	n := len(p.eps)
	start := int(p.next.Add(1)-1) % n
	now := p.now()
	up := make([]*endpoint, 0, n)
	var down []*endpoint
	for i := range n {
		e := p.eps[(start+i)%n]
		e.mu.Lock()
		cooling := now.Before(e.downUntil)
		e.mu.Unlock()
		if cooling {
			down = append(down, e)
		} else {
			up = append(up, e)
		}
	}
	return append(up, down...)
}

func (p *Pool) try(ctx context.Context, call func(context.Context, embedderv1.EmbedderServiceClient) error) error {
	var msgs []string
	var lastCode codes.Code
	for _, e := range p.order() {
		err := call(ctx, e.client)
		if err == nil {
			e.mu.Lock()
			e.downUntil = time.Time{}
			e.mu.Unlock()
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		e.mu.Lock()
		e.downUntil = p.now().Add(p.cooloff)
		e.mu.Unlock()
		lastCode = status.Code(err)
		msgs = append(msgs, fmt.Sprintf("embedder %s: %s", e.addr, status.Convert(err).Message()))
	}
	// Every instance failed: keep the last code (UNAVAILABLE or
	// RESOURCE_EXHAUSTED) so callers map it to 503 or 429.
	return status.Errorf(lastCode, "no embedder could answer: %s", strings.Join(msgs, "; "))
}
