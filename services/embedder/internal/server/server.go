// Package server implements arxivsearch.embedder.v1.EmbedderService on top
// of an Embedder: request limits, error codes that tell callers what to do,
// and the loading state.
package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"unicode/utf8"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/embed"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Embedder embeds texts with a loaded model.
type Embedder interface {
	Embed(ctx context.Context, texts []string, maxSeqLen int) ([]embed.Embedding, error)
	Info() embed.Info
}

// Observer receives every answered Embed request (for metrics).
type Observer interface {
	Request(code codes.Code, texts int, d time.Duration)
}

// Limits bound a request. Flags set them; messages name the flags.
type Limits struct {
	// MaxTexts is the most texts in one Embed request (-max-texts).
	MaxTexts int
	// MaxTextBytes is the most bytes in one text (-max-text-bytes).
	MaxTextBytes int
}

// Server answers EmbedderService calls. Until SetEmbedder is called (the
// model is loading) it answers UNAVAILABLE.
type Server struct {
	embedderv1.UnimplementedEmbedderServiceServer
	limits Limits
	obs    Observer
	ready  atomic.Pointer[loaded]
}

type loaded struct{ e Embedder }

// New returns a Server with no model yet. obs may be nil.
func New(limits Limits, obs Observer) *Server {
	return &Server{limits: limits, obs: obs}
}

// SetEmbedder makes the server answer with e.
func (s *Server) SetEmbedder(e Embedder) { s.ready.Store(&loaded{e}) }

func (s *Server) embedder() (Embedder, error) {
	l := s.ready.Load()
	if l == nil {
		return nil, status.Error(codes.Unavailable, "the model is still loading; retry when the gRPC health check reports SERVING")
	}
	return l.e, nil
}

// Embed embeds texts.
func (s *Server) Embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	start := time.Now()
	resp, err := s.embed(ctx, req)
	if s.obs != nil {
		s.obs.Request(status.Code(err), len(req.GetTexts()), time.Since(start))
	}
	return resp, err
}

func (s *Server) embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	e, err := s.embedder()
	if err != nil {
		return nil, err
	}
	info := e.Info()
	texts := req.GetTexts()
	if err := s.validate(texts, req.GetMaxSeqLength(), info.MaxSeqLen); err != nil {
		return nil, err
	}
	embs, err := e.Embed(ctx, texts, int(req.GetMaxSeqLength()))
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &embedderv1.EmbedResponse{
		Embeddings: make([]*embedderv1.Embedding, len(embs)),
		Model:      info.Name,
		Dimension:  int32(info.Dimension),
	}
	for i, emb := range embs {
		resp.Embeddings[i] = &embedderv1.Embedding{Vector: emb.Vector, TokenCount: int32(emb.Tokens), Truncated: emb.Truncated}
	}
	return resp, nil
}

func (s *Server) validate(texts []string, maxSeqLen int32, modelMax int) error {
	switch {
	case len(texts) == 0:
		return status.Error(codes.InvalidArgument, "texts is empty: send at least one text (an empty string is a valid text)")
	case len(texts) > s.limits.MaxTexts:
		return status.Errorf(codes.InvalidArgument, "%d texts in one request: at most %d are allowed (-max-texts); split the request", len(texts), s.limits.MaxTexts)
	case maxSeqLen < 0 || maxSeqLen == 1 || int(maxSeqLen) > modelMax:
		return status.Errorf(codes.InvalidArgument, "max_seq_length %d is out of range: send 0 for the model's %d, or a value from 2 to %d", maxSeqLen, modelMax, modelMax)
	}
	for i, t := range texts {
		if len(t) > s.limits.MaxTextBytes {
			return status.Errorf(codes.InvalidArgument, "texts[%d] is %d bytes: at most %d are allowed (-max-text-bytes); the model reads only the first %d tokens, so send a prefix",
				i, len(t), s.limits.MaxTextBytes, modelMax)
		}
		if !utf8.ValidString(t) {
			return status.Errorf(codes.InvalidArgument, "texts[%d] is not valid UTF-8; encode texts as UTF-8", i)
		}
	}
	return nil
}

// statusOf maps the embedder's errors to gRPC codes.
func statusOf(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, embed.ErrOverloaded):
		return status.Errorf(codes.ResourceExhausted, "the embedder is overloaded (%v); retry with backoff", err)
	case errors.Is(err, embed.ErrClosed):
		return status.Error(codes.Unavailable, "the embedder is shutting down; retry on another instance")
	case errors.Is(err, embed.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Errorf(codes.Internal, "embedding failed: %v", err)
}

// GetModelInfo describes the served model.
func (s *Server) GetModelInfo(ctx context.Context, req *embedderv1.GetModelInfoRequest) (*embedderv1.GetModelInfoResponse, error) {
	e, err := s.embedder()
	if err != nil {
		return nil, err
	}
	return &embedderv1.GetModelInfoResponse{Model: ModelInfo(e.Info())}, nil
}

// ModelInfo converts an embed.Info to its API form.
func ModelInfo(info embed.Info) *embedderv1.ModelInfo {
	return &embedderv1.ModelInfo{
		Name:               info.Name,
		Dimension:          int32(info.Dimension),
		MaxSeqLength:       int32(info.MaxSeqLen),
		MaxSeqLengthSource: info.MaxSeqLenSource,
		Pooling:            poolingOf(info),
		Normalized:         info.Normalized,
		Device:             info.Device,
		ExecutionProvider:  info.Provider,
		ModelSha256:        info.SHA256,
		VocabSize:          int32(info.VocabSize),
		Lowercase:          info.Lowercase,
	}
}

func poolingOf(info embed.Info) embedderv1.Pooling {
	if info.GraphPools {
		return embedderv1.Pooling_POOLING_MODEL
	}
	switch info.Pooling {
	case pooling.Mean:
		return embedderv1.Pooling_POOLING_MEAN
	case pooling.CLS:
		return embedderv1.Pooling_POOLING_CLS
	case pooling.Max:
		return embedderv1.Pooling_POOLING_MAX
	}
	return embedderv1.Pooling_POOLING_UNSPECIFIED
}
