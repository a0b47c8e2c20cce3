// Package server implements arxivsearch.index.v1.IndexService over the
// shards of one index instance (package collection).
//
// It validates requests and says what to fix when they are wrong, fans a
// call out to the shards it concerns (one goroutine per shard), merges the
// per-shard results exactly, and maps errors to gRPC codes:
//
//   - INVALID_ARGUMENT: malformed requests (empty batch, k out of range,
//     wrong vector dimension, NaN/Inf or zero vectors, non-unit paper
//     vectors, bad ids or categories, a search model that differs from the
//     collection's);
//   - FAILED_PRECONDITION: requests this instance cannot serve as its state
//     stands (shards it does not own, papers of such shards, an upsert
//     model that differs from the collection's, training a shard with too
//     few papers);
//   - NOT_FOUND is not used by the batch calls: GetPapers and DeletePapers
//     list unknown ids in not_found_ids instead;
//   - UNAVAILABLE while the shards are loading or after shutdown began.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var tracer = otel.Tracer("github.com/arxivsearch/arxivsearch/services/index/internal/server")

// Limits on requests, beyond those of the proto.
const (
	// DefaultMaxK is the largest k a search may ask for by default.
	DefaultMaxK = 1000
	// MaxQueries bounds the queries of one search batch.
	MaxQueries = 1024
	// MaxHits bounds k times the number of queries of one search, which
	// bounds the response (hits carry metadata).
	MaxHits = 100_000
	// MaxExcludeIDs bounds the exclude_ids of one query.
	MaxExcludeIDs = 1000
	// MaxIDs bounds the ids of one GetPapers or DeletePapers call and the
	// papers of one UpsertPapers call.
	MaxIDs = 10_000
	// DefaultRRFK is the reciprocal rank fusion constant of hybrid search.
	DefaultRRFK = 60
	// UnitTolerance is how far from 1 the norm of a stored vector may be.
	// Scores are inner products, which are cosine similarities only for
	// unit vectors.
	UnitTolerance = 0.01
)

// Options configures a Server.
type Options struct {
	TotalShards int
	Owned       []int
	// MaxK is the largest k a search may ask for; 0 means DefaultMaxK.
	MaxK    int
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Server answers IndexService calls for the shards this instance owns.
// It answers UNAVAILABLE until SetCollection hands it the loaded shards.
type Server struct {
	indexv1.UnimplementedIndexServiceServer
	opts Options
	log  *slog.Logger
	m    *metrics.Metrics
	coll atomic.Pointer[collection.Collection]
	cats categoryCache
}

// New returns a Server; call SetCollection once the shards are loaded.
func New(opts Options) *Server {
	if opts.MaxK <= 0 {
		opts.MaxK = DefaultMaxK
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(nil)
	}
	return &Server{opts: opts, log: opts.Logger, m: opts.Metrics}
}

// SetCollection makes the server answer from c.
func (s *Server) SetCollection(c *collection.Collection) { s.coll.Store(c) }

// collection returns the loaded collection or an UNAVAILABLE error.
func (s *Server) collection() (*collection.Collection, error) {
	c := s.coll.Load()
	if c == nil {
		return nil, status.Error(codes.Unavailable, "the index is loading its shards; retry shortly")
	}
	return c, nil
}

// shardList validates requested shard numbers (empty: all owned) and
// returns them sorted without duplicates.
func (s *Server) shardList(c *collection.Collection, field string, req []int32) ([]int, error) {
	if len(req) == 0 {
		return c.Owned(), nil
	}
	seen := make(map[int]bool, len(req))
	var out []int
	for i, r := range req {
		n := int(r)
		if n < 0 || n >= c.TotalShards() {
			return nil, status.Errorf(codes.InvalidArgument, "%s[%d] = %d: shards are numbered 0..%d", field, i, n, c.TotalShards()-1)
		}
		if !c.Owns(n) {
			return nil, status.Errorf(codes.FailedPrecondition, "%s[%d] = %d: this instance does not own shard %d; it owns %s (ask GetStats of each instance which shards it owns)",
				field, i, n, n, shardset.Format(c.Owned()))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// toStatus maps an error to a gRPC status error, keeping one that already
// is.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, store.ErrInvalidPaper), errors.Is(err, store.ErrInvalidArgument),
		errors.Is(err, store.ErrDimensionMismatch):
		code = codes.InvalidArgument
	case errors.Is(err, store.ErrModelMismatch), errors.Is(err, collection.ErrNotOwned),
		errors.Is(err, shard.ErrTooFewPapers), errors.Is(err, store.ErrNotConfigured):
		code = codes.FailedPrecondition
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, shard.ErrClosed), errors.Is(err, store.ErrClosed):
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}

// invalid returns an INVALID_ARGUMENT error.
func invalid(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, args...))
}
