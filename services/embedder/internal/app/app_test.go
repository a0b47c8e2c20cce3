package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a loopback configuration for the model in dir.
func testConfig(t testing.TB, dir string) Config {
	return Config{
		Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second,
		ModelDir: dir, ORTLib: testmodel.Library(t), Device: "cpu", Sessions: 1, IntraOpThreads: 1,
		MaxBatch: 32, TokenBudget: 8192, QueueSize: 1024, MaxTexts: 256, MaxTextBytes: 65536,
	}
}

// running is an App being Run, with a client connection to it.
type running struct {
	app    *App
	conn   *grpc.ClientConn
	client embedderv1.EmbedderServiceClient
	health healthpb.HealthClient
	stop   func() error // cancels Run and returns its error
}

func start(t testing.TB, cfg Config, logger *slog.Logger, hook func(*App)) *running {
	t.Helper()
	a, err := Start(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	r := &running{app: a, stop: func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.conn, err = grpc.NewClient(a.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	r.client = embedderv1.NewEmbedderServiceClient(r.conn)
	r.health = healthpb.NewHealthClient(r.conn)
	return r
}

func (r *running) status(t testing.TB) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := r.health.Check(ctx, &healthpb.HealthCheckRequest{Service: embedderv1.EmbedderService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return h.GetStatus()
}

func (r *running) waitServing(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r.status(t) != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("not SERVING after 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGRPCRoundTrip starts the embedder on a tiny model on loopback: it
// must report NOT_SERVING and answer UNAVAILABLE until the model is loaded
// and warmed up, then embed for real.
func TestGRPCRoundTrip(t *testing.T) {
	spec := testmodel.Spec{}
	dir := spec.WriteDir(t, nil)
	gate, reached := make(chan struct{}), make(chan struct{})
	r := start(t, testConfig(t, dir), quiet(), func(a *App) {
		a.warmedUp = func() { close(reached); <-gate }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	<-reached // loaded and warmed up, not yet serving
	if got := r.status(t); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health before serving = %v, want NOT_SERVING", got)
	}
	_, err := r.client.Embed(ctx, &embedderv1.EmbedRequest{Texts: []string{"graph"}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "still loading") {
		t.Errorf("Embed while loading: %v, want UNAVAILABLE", err)
	}
	close(gate)
	r.waitServing(t)

	resp, err := r.client.Embed(ctx, &embedderv1.EmbedRequest{Texts: []string{"graph neural networks", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "tiny-model" || resp.GetDimension() != 4 || len(resp.GetEmbeddings()) != 2 {
		t.Fatalf("response %v", resp)
	}
	m, err := modeldir.Load(dir, modeldir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"graph neural networks", ""} {
		emb := resp.GetEmbeddings()[i]
		want := meanNormalized(spec, m, text)
		for j, x := range emb.GetVector() {
			if math.Abs(float64(x)-want[j]) > 1e-6 {
				t.Errorf("text %q: vector %v, want %v", text, emb.GetVector(), want)
				break
			}
		}
		if int(emb.GetTokenCount()) != len(m.Tokenizer.Encode(text, 16).IDs) {
			t.Errorf("text %q: token count %d", text, emb.GetTokenCount())
		}
	}

	info, err := r.client.GetModelInfo(ctx, &embedderv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sha, err := modeldir.FileSHA256(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	mi := info.GetModel()
	if mi.GetName() != "tiny-model" || mi.GetDimension() != 4 || mi.GetMaxSeqLength() != 16 || mi.GetMaxSeqLengthSource() != "sentence_bert_config.json" ||
		mi.GetPooling() != embedderv1.Pooling_POOLING_MEAN || !mi.GetNormalized() || mi.GetDevice() != "cpu" ||
		mi.GetExecutionProvider() != "CPUExecutionProvider" || mi.GetModelSha256() != sha || mi.GetVocabSize() != int32(len(testmodel.Vocab)) || !mi.GetLowercase() {
		t.Errorf("ModelInfo = %v", mi)
	}

	_, err = r.client.Embed(ctx, &embedderv1.EmbedRequest{Texts: []string{"a"}, MaxSeqLength: 17})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "max_seq_length 17 is out of range") {
		t.Errorf("max_seq_length 17: %v, want INVALID_ARGUMENT", err)
	}

	// Invalid UTF-8 over the wire gets INVALID_ARGUMENT naming the text,
	// not grpc-go's INTERNAL decoding error; a Go client would refuse to
	// send it, so the request is made by hand.
	for _, tc := range []struct {
		texts []string
		want  string
	}{
		{[]string{"o\xffk"}, "texts[0] is not valid UTF-8; encode strings as UTF-8"},
		{[]string{"fine", "bad \xc3\x28", "\xed\xa0\x80"}, "texts[1], texts[2] are not valid UTF-8; encode strings as UTF-8"},
	} {
		var req []byte
		for _, text := range tc.texts {
			req = protowire.AppendBytes(protowire.AppendTag(req, 1, protowire.BytesType), []byte(text))
		}
		_, err = rawcall.Invoke(ctx, r.conn, embedderv1.EmbedderService_Embed_FullMethodName, req)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != tc.want {
			t.Errorf("texts %q over gRPC: %v, want INVALID_ARGUMENT %q", tc.texts, err, tc.want)
		}
	}

	// The metrics port shows the model and the batches.
	body := scrape(t, r.app.MetricsAddr())
	for _, want := range []string{
		`arxivsearch_embedder_model_info{device="cpu",dimension="4",execution_provider="CPUExecutionProvider",intra_op_threads="1",model="tiny-model",sessions="1"} 1`,
		// The invalid UTF-8 never reached Embed: gRPC counts it.
		`arxivsearch_embedder_rejected_requests_total{reason="invalid"} 1`,
		`grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Embed",grpc_service="arxivsearch.embedder.v1.EmbedderService"} 3`,
		`arxivsearch_embedder_rejected_requests_total{reason="unavailable"} 1`,
		`arxivsearch_embedder_queue_depth 0`,
		`arxivsearch_embedder_batch_size_count`,
		`arxivsearch_embedder_request_duration_seconds_count{code="OK"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func meanNormalized(spec testmodel.Spec, m *modeldir.Model, text string) []float64 {
	enc := m.Tokenizer.Encode(text, m.MaxSeqLen)
	v := make([]float64, 4)
	for k, id := range enc.IDs {
		for j, x := range spec.Token(id, enc.TypeIDs[k]) {
			v[j] += float64(x) / float64(len(enc.IDs))
		}
	}
	norm := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2] + v[3]*v[3])
	for j := range v {
		v[j] /= norm
	}
	return v
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestStartRejectsSettings(t *testing.T) {
	dir := testmodel.Spec{}.WriteDir(t, nil)
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no model dir", func(c *Config) { c.ModelDir = "" }, "-model-dir is required: "},
		{"model dir and hub model", func(c *Config) { c.HFModel = "acme/x" }, "-model-dir and -hf-model both given"},
		{"no onnxruntime", func(c *Config) { c.ORTLib = "" }, "-onnxruntime-lib is required"},
		{"bad device", func(c *Config) { c.Device = "tpu" }, `-device: device "tpu": want cpu, cuda, cuda:N or auto`},
		{"no sessions", func(c *Config) { c.Sessions = 0 }, "-sessions 0: want at least 1"},
		{"queue smaller than a request", func(c *Config) { c.QueueSize = 10 }, "-queue-size 10 is smaller than -max-texts 256"},
		{"missing model dir", func(c *Config) { c.ModelDir = filepath.Join(dir, "absent") }, "absent: no such file or directory"},
		{"model dir without a model", func(c *Config) { c.ONNXFile = "onnx/other.onnx" }, "onnx/other.onnx not found"},
		{"max-seq-length beyond the model", func(c *Config) { c.MaxSeqLen = 65 }, "max_seq_length 65 (from flag -max-seq-length) exceeds config.json max_position_embeddings 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, dir)
			tc.mutate(&cfg)
			a, err := Start(cfg, quiet())
			if err == nil {
				a.Close()
				t.Fatalf("Start succeeded, want an error saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	cfg := testConfig(t, testmodel.Spec{}.WriteDir(t, nil))
	a, err := Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cfg.Listen = a.Addr()
	if _, err := Start(cfg, quiet()); err == nil || !strings.Contains(err.Error(), "gRPC listen on "+a.Addr()) {
		t.Errorf("second Start on %s: err = %v, want a listen error naming the address", a.Addr(), err)
	}
}

// TestLoadFailureStopsRun: a model that Start accepts but ONNX Runtime
// cannot load ends Run with an error naming the file.
func TestLoadFailureStopsRun(t *testing.T) {
	dir := testmodel.Spec{}.WriteDir(t, map[string]string{"model.onnx": "not an onnx model"})
	a, err := Start(testConfig(t, dir), quiet())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "loading the model") || !strings.Contains(err.Error(), "model.onnx") {
			t.Errorf("Run = %v, want a load error naming model.onnx", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after the model failed to load")
	}
}

// TestDeviceCUDAFallsBack asks for CUDA on a machine (and an ONNX Runtime
// build) without it: the embedder runs on the CPU, says so in its model
// info and metrics, and logs a warning.
func TestDeviceCUDAFallsBack(t *testing.T) {
	cfg := testConfig(t, testmodel.Spec{}.WriteDir(t, nil))
	cfg.Device = "cuda"
	var logs syncBuffer
	r := start(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	r.waitServing(t)
	info, err := r.client.GetModelInfo(context.Background(), &embedderv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetModel().GetExecutionProvider() == "CUDAExecutionProvider" {
		t.Skip("this host and ONNX Runtime run CUDA: no fallback to test")
	}
	if d, p := info.GetModel().GetDevice(), info.GetModel().GetExecutionProvider(); d != "cpu" || p != "CPUExecutionProvider" {
		t.Errorf("device %s, provider %s; want cpu, CPUExecutionProvider", d, p)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "CUDA execution provider unavailable; running on the CPU instead") {
		t.Errorf("no fallback warning in the logs:\n%s", out)
	}
	if !strings.Contains(out, "execution_provider=CPUExecutionProvider") {
		t.Errorf("logs do not say what runs:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// golden is one line of the shared reference embeddings.
type golden struct {
	Text      string    `json:"text"`
	Embedding []float32 `json:"embedding"`
}

func readGolden(t testing.TB, shared string, n int) []golden {
	t.Helper()
	f, err := os.Open(filepath.Join(shared, testmodel.SharedGolden))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var out []golden
	for len(out) < n {
		var g golden
		if err := dec.Decode(&g); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	return out
}

// TestSharedModel serves the shared MiniLM-shaped model and checks a real
// Embed round trip against the reference embeddings, then that shutting
// down lets a request in flight finish.
func TestSharedModel(t *testing.T) {
	shared := testmodel.SharedDir(t)
	dir := filepath.Join(shared, testmodel.SharedModel)
	cfg := testConfig(t, dir)
	cfg.IntraOpThreads = 2
	cfg.MaxBatch = 8
	cfg.ShutdownGrace = time.Minute
	r := start(t, cfg, quiet(), nil)
	r.waitServing(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	info, err := r.client.GetModelInfo(ctx, &embedderv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	mi := info.GetModel()
	if mi.GetName() != "minilm-l6-random" || mi.GetDimension() != 384 || mi.GetMaxSeqLength() != 256 || mi.GetVocabSize() != 30522 ||
		mi.GetPooling() != embedderv1.Pooling_POOLING_MEAN || !mi.GetNormalized() || !mi.GetLowercase() || len(mi.GetModelSha256()) != 64 {
		t.Errorf("ModelInfo = %v", mi)
	}

	lines := readGolden(t, shared, 8)
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	resp, err := r.client.Embed(ctx, &embedderv1.EmbedRequest{Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		got := resp.GetEmbeddings()[i].GetVector()
		for j := range l.Embedding {
			if d := math.Abs(float64(got[j] - l.Embedding[j])); d > 1e-5 {
				t.Errorf("text %d component %d: %v, reference %v", i, j, got[j], l.Embedding[j])
				break
			}
		}
	}

	// Shutdown with a request in flight: the request completes.
	many := make([]string, 16) // two batches
	for i := range many {
		many[i] = texts[i%len(texts)]
	}
	inflight := make(chan error, 1)
	go func() {
		resp, err := r.client.Embed(ctx, &embedderv1.EmbedRequest{Texts: many})
		if err == nil && len(resp.GetEmbeddings()) != len(many) {
			err = status.Errorf(codes.Internal, "%d embeddings for %d texts", len(resp.GetEmbeddings()), len(many))
		}
		inflight <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for d := queued(t, r); d == "" || d == "0"; d = queued(t, r) {
		if time.Now().After(deadline) {
			t.Fatal("the request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := <-inflight; err != nil {
		t.Errorf("request in flight during shutdown: %v", err)
	}
}

// queued reads the queue depth gauge.
func queued(t *testing.T, r *running) string {
	for _, line := range strings.Split(scrape(t, r.app.MetricsAddr()), "\n") {
		if v, ok := strings.CutPrefix(line, "arxivsearch_embedder_queue_depth "); ok {
			return v
		}
	}
	return ""
}

// TestHFModelFromCache serves -hf-model from a model cache in offline mode
// (HF_HUB_OFFLINE): the snapshot the hub downloader would have left.
func TestHFModelFromCache(t *testing.T) {
	cache := t.TempDir()
	commit := strings.Repeat("ab12", 10)
	src := testmodel.Spec{}.WriteDir(t, nil)
	snap := filepath.Join(cache, "acme--tiny-embedder", commit)
	if err := os.CopyFS(snap, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cache, "acme--tiny-embedder", "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "acme--tiny-embedder", "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARXIVSEARCH_MODEL_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")

	cfg := testConfig(t, "")
	cfg.HFModel, cfg.HFRevision = "acme/tiny-embedder", "main"
	r := start(t, cfg, quiet(), nil)
	r.waitServing(t)
	info, err := r.client.GetModelInfo(context.Background(), &embedderv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetModel().GetName() != "acme/tiny-embedder" || info.GetModel().GetDimension() != 4 {
		t.Errorf("ModelInfo = %v, want the cached acme/tiny-embedder", info.GetModel())
	}
	if _, err := r.client.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: []string{"graph"}}); err != nil {
		t.Error(err)
	}

	// A model the cache lacks stops Run with the hub's error.
	cfg.HFModel = "acme/absent"
	a, err := Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "acme/absent") || !strings.Contains(err.Error(), "offline") {
		t.Errorf("Run with an uncached model offline = %v, want an error naming it", err)
	}
}
