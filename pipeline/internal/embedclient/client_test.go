package embedclient

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// fakeEmbedder embeds a text as [len(text), 1], refuses the first
// busyFirst calls with RESOURCE_EXHAUSTED and records batch sizes.
type fakeEmbedder struct {
	embedderv1.UnimplementedEmbedderServiceServer
	mu        sync.Mutex
	busyFirst int
	calls     int
	sizes     []int
	maxLens   []int32
}

func (f *fakeEmbedder) Embed(_ context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.busyFirst {
		return nil, status.Error(codes.ResourceExhausted, "queue full")
	}
	if len(req.Texts) == 0 {
		return nil, status.Error(codes.InvalidArgument, "empty batch")
	}
	f.sizes = append(f.sizes, len(req.Texts))
	f.maxLens = append(f.maxLens, req.MaxSeqLength)
	resp := &embedderv1.EmbedResponse{Model: "fake", Dimension: 2}
	for _, t := range req.Texts {
		if t == "poison" {
			return nil, status.Error(codes.InvalidArgument, "bad text")
		}
		resp.Embeddings = append(resp.Embeddings, &embedderv1.Embedding{Vector: []float32{float32(len(t)), 1}})
	}
	return resp, nil
}

func (f *fakeEmbedder) GetModelInfo(context.Context, *embedderv1.GetModelInfoRequest) (*embedderv1.GetModelInfoResponse, error) {
	return &embedderv1.GetModelInfoResponse{Model: &embedderv1.ModelInfo{Name: "fake", Dimension: 2}}, nil
}

func serve(t *testing.T, f *fakeEmbedder) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	embedderv1.RegisterEmbedderServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return New(embedderv1.NewEmbedderServiceClient(conn))
}

func TestEmbedBatchesInOrder(t *testing.T) {
	f := &fakeEmbedder{busyFirst: 2}
	c := serve(t, f)
	c.Batch, c.Parallel, c.MaxSeqLen = 4, 3, 128
	var texts []string
	for i := range 10 {
		texts = append(texts, strings.Repeat("x", i))
	}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if len(v) != 2 || v[0] != float32(i) {
			t.Fatalf("vector %d = %v", i, v)
		}
	}
	total := 0
	for i, n := range f.sizes {
		total += n
		if n > 4 || f.maxLens[i] != 128 {
			t.Errorf("call %d: %d texts, max_seq_length %d", i, n, f.maxLens[i])
		}
	}
	if total != 10 || len(f.sizes) != 3 {
		t.Errorf("batch sizes %v", f.sizes)
	}
	name, dim, err := c.ModelName(context.Background())
	if name != "fake" || dim != 2 || err != nil {
		t.Errorf("ModelName = %q, %d, %v", name, dim, err)
	}
}

func TestEmbedErrors(t *testing.T) {
	c := serve(t, &fakeEmbedder{})
	c.Batch = 2
	_, err := c.Embed(context.Background(), []string{"a", "b", "poison", "d"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "texts 2..3") {
		t.Errorf("Embed = %v, want INVALID_ARGUMENT naming texts 2..3", err)
	}
	busy := serve(t, &fakeEmbedder{busyFirst: 100})
	if _, err := busy.Embed(context.Background(), []string{"a"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("always busy: %v", err)
	}
}
