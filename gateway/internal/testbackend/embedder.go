package testbackend

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Embedder is an in-memory EmbedderService.
type Embedder struct {
	embedderv1.UnimplementedEmbedderServiceServer
	Model  string
	Dim    int
	MaxSeq int
	Device string
	in     injector
}

// NewEmbedder returns an embedder of model "fake-hash-64": 64 dimensions,
// at most 256 tokens, on "cpu".
func NewEmbedder() *Embedder {
	return &Embedder{Model: "fake-hash-64", Dim: 64, MaxSeq: 256, Device: "cpu"}
}

// ServeEmbedder serves e on loopback.
func ServeEmbedder(t testing.TB, e *Embedder) *Server {
	return Serve(t, func(g *grpc.Server) { embedderv1.RegisterEmbedderServiceServer(g, e) },
		embedderv1.EmbedderService_ServiceDesc.ServiceName)
}

// SetError makes method ("Embed", "GetModelInfo") fail with err; nil heals.
func (e *Embedder) SetError(method string, err error) { e.in.set(method, err) }

// SetDelay makes method take at least d.
func (e *Embedder) SetDelay(method string, d time.Duration) { e.in.setDelay(method, d) }

// Calls counts the calls of method.
func (e *Embedder) Calls(method string) int { return e.in.count(method) }

// Words splits text into lower-case words, as the fake tokenizer does.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// Vector is the fake embedding of text: words hashed into dim buckets with
// a hashed sign, L2-normalized. A text without words embeds as the first
// unit vector, as a real model gives "[CLS] [SEP]" some vector.
func Vector(text string, dim int) []float32 {
	v := make([]float32, dim)
	for _, w := range Words(text) {
		h := fnv.New64a()
		h.Write([]byte(w))
		x := h.Sum64()
		sign := float32(1)
		if x&(1<<63) != 0 {
			sign = -1
		}
		v[x%uint64(dim)] += sign
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		v[0] = 1
		return v
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// Embed embeds texts.
func (e *Embedder) Embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	if err := e.in.enter(ctx, "Embed"); err != nil {
		return nil, err
	}
	if len(req.GetTexts()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "texts: give at least one text")
	}
	if len(req.GetTexts()) > 64 {
		return nil, status.Errorf(codes.InvalidArgument, "texts: %d texts, at most 64 per call", len(req.GetTexts()))
	}
	resp := &embedderv1.EmbedResponse{Model: e.Model, Dimension: int32(e.Dim)}
	for _, t := range req.GetTexts() {
		tokens := len(Words(t)) + 2
		emb := &embedderv1.Embedding{Vector: Vector(t, e.Dim), TokenCount: int32(min(tokens, e.MaxSeq))}
		emb.Truncated = tokens > e.MaxSeq
		resp.Embeddings = append(resp.Embeddings, emb)
	}
	return resp, nil
}

// GetModelInfo describes the fake model.
func (e *Embedder) GetModelInfo(ctx context.Context, _ *embedderv1.GetModelInfoRequest) (*embedderv1.GetModelInfoResponse, error) {
	if err := e.in.enter(ctx, "GetModelInfo"); err != nil {
		return nil, err
	}
	return &embedderv1.GetModelInfoResponse{Model: &embedderv1.ModelInfo{
		Name: e.Model, Dimension: int32(e.Dim), MaxSeqLength: int32(e.MaxSeq), MaxSeqLengthSource: "fake",
		Pooling: embedderv1.Pooling_POOLING_MEAN, Normalized: true, Device: e.Device,
		ExecutionProvider: "CPUExecutionProvider", VocabSize: 30522, Lowercase: true,
	}}, nil
}
