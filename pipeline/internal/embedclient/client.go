// Package embedclient embeds texts with a running embedder over gRPC
// (arxivsearch.embedder.v1), in batches and with a few calls in flight.
package embedclient

import (
	"context"
	"fmt"
	"math"
	"time"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client embeds texts through an EmbedderService.
type Client struct {
	api embedderv1.EmbedderServiceClient
	// Batch is the number of texts per call (default 64).
	Batch int
	// Parallel is the number of calls in flight (default 4).
	Parallel int
	// MaxSeqLen is sent with every call; 0 means the model's own.
	MaxSeqLen int
	conn      *grpc.ClientConn
}

// New wraps an existing connection or stub.
func New(api embedderv1.EmbedderServiceClient) *Client {
	return &Client{api: api, Batch: 64, Parallel: 4}
}

// Dial connects to an embedder at addr (host:port, plaintext, as inside
// the deployment).
func Dial(addr string) (*Client, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, fmt.Errorf("embedder %s: %w", addr, err)
	}
	c := New(embedderv1.NewEmbedderServiceClient(conn))
	c.conn = conn
	return c, nil
}

// Close closes a connection made by Dial.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// ModelName asks the embedder which model it serves.
func (c *Client) ModelName(ctx context.Context) (string, int, error) {
	resp, err := c.api.GetModelInfo(ctx, &embedderv1.GetModelInfoRequest{})
	if err != nil {
		return "", 0, fmt.Errorf("embedder model info: %w", err)
	}
	info := resp.GetModel()
	return info.GetName(), int(info.GetDimension()), nil
}

// Embed returns one vector per text, in order. A call refused with
// RESOURCE_EXHAUSTED or UNAVAILABLE is retried with backoff.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	batch := max(c.Batch, 1)
	out := make([][]float32, len(texts))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Parallel, 1))
	for lo := 0; lo < len(texts); lo += batch {
		hi := min(lo+batch, len(texts))
		g.Go(func() error {
			resp, err := c.call(ctx, &embedderv1.EmbedRequest{Texts: texts[lo:hi], MaxSeqLength: int32(c.MaxSeqLen)})
			if err != nil {
				return fmt.Errorf("embed texts %d..%d: %w", lo, hi-1, err)
			}
			if got := len(resp.GetEmbeddings()); got != hi-lo {
				return fmt.Errorf("embedder returned %d vectors for %d texts", got, hi-lo)
			}
			for i, e := range resp.GetEmbeddings() {
				out[lo+i] = e.GetVector()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) call(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	const attempts = 6
	for i := 0; ; i++ {
		resp, err := c.api.Embed(ctx, req)
		code := status.Code(err)
		if err == nil || i == attempts-1 || (code != codes.ResourceExhausted && code != codes.Unavailable) {
			return resp, err
		}
		wait := time.Duration(50*math.Pow(2, float64(i))) * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
