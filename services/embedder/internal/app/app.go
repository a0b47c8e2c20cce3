// Package app wires the embedder daemon: settings, model directory, ONNX
// Runtime, gRPC server, health and metrics.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"log/slog"
	"runtime"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/embed"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/hub"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/modeldir"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/onnx"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/server"
)

// Config is the embedder's settings.
type Config struct {
	Listen        string
	MetricsListen string
	ShutdownGrace time.Duration

	ModelDir   string
	HFModel    string
	HFRevision string
	ModelName  string
	ONNXFile   string
	MaxSeqLen  int
	ORTLib     string

	Device         string
	Sessions       int
	IntraOpThreads int

	MaxBatch    int
	TokenBudget int
	MaxWait     time.Duration
	QueueSize   int

	MaxTexts     int
	MaxTextBytes int
}

// DefineFlags defines the embedder's settings on fs.
func DefineFlags(fs *config.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Listen, "listen", ":50051", "gRPC listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", ":9101", "HTTP listen address of /metrics; empty disables it")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight calls get to finish on shutdown")

	fs.StringVar(&c.ModelDir, "model-dir", "", "model directory (ONNX model, tokenizer and sentence-transformers config); this or -hf-model is required")
	fs.StringVar(&c.HFModel, "hf-model", "", "Hugging Face repository id (org/name) of a sentence-transformers model with an ONNX export, downloaded into the model cache (ARXIVSEARCH_MODEL_CACHE; HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply) instead of -model-dir")
	fs.StringVar(&c.HFRevision, "hf-revision", "main", "branch, tag or commit of -hf-model")
	fs.StringVar(&c.ModelName, "model-name", "", "model name reported to clients; empty means the directory's name (org/name for a Hugging Face cache snapshot)")
	fs.StringVar(&c.ONNXFile, "onnx-file", "", "ONNX model path relative to -model-dir; empty means onnx/model.onnx, else model.onnx")
	fs.IntVar(&c.MaxSeqLen, "max-seq-length", 0, "most tokens per text, special tokens included; 0 means the model's max_seq_length (sentence_bert_config.json)")
	fs.StringVar(&c.ORTLib, "onnxruntime-lib", "", "absolute path of libonnxruntime.so (make setup puts one under third_party/onnxruntime)")

	fs.StringVar(&c.Device, "device", "cpu", "where inference runs: cpu, cuda, cuda:N or auto; cuda and auto fall back to cpu with a warning when CUDA is unavailable")
	fs.IntVar(&c.Sessions, "sessions", 2, "ONNX Runtime sessions, each running one batch at a time")
	fs.IntVar(&c.IntraOpThreads, "intra-op-threads", 0, "threads per session; 0 means the available cores (GOMAXPROCS) divided among the sessions")

	fs.IntVar(&c.MaxBatch, "max-batch", 32, "most texts in one inference batch")
	fs.IntVar(&c.TokenBudget, "token-budget", 2048, "most padded tokens (texts times the longest) in one batch")
	fs.DurationVar(&c.MaxWait, "max-wait", 0, "how long a queued text waits for company before its batch runs anyway; 0 batches only what queues while the sessions are busy")
	fs.IntVar(&c.QueueSize, "queue-size", 1024, "most texts waiting for a batch; beyond it requests get RESOURCE_EXHAUSTED")

	fs.IntVar(&c.MaxTexts, "max-texts", 256, "most texts in one Embed request")
	fs.IntVar(&c.MaxTextBytes, "max-text-bytes", 65536, "most bytes in one text")
	return c
}

func (c Config) validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ModelDir == "" && c.HFModel == "", "-model-dir is required: the embedder serves one model directory (ONNX model, tokenizer, sentence-transformers config), e.g. -model-dir ../shared/models/minilm-l6-random or EMBEDDER_MODEL_DIR; or name a Hugging Face repository with -hf-model")
	check(c.ModelDir != "" && c.HFModel != "", "-model-dir and -hf-model both given: serve either a local directory or a downloaded model")
	check(c.ORTLib == "", "-onnxruntime-lib is required: the path of libonnxruntime.so (make setup installs third_party/onnxruntime/1.24.1/libonnxruntime.so.1; make run passes it)")
	check(c.MaxSeqLen < 0, "-max-seq-length %d: want 0 (the model's) or more", c.MaxSeqLen)
	check(c.Sessions < 1, "-sessions %d: want at least 1", c.Sessions)
	check(c.IntraOpThreads < 0, "-intra-op-threads %d: want 0 (automatic) or more", c.IntraOpThreads)
	check(c.MaxBatch < 1, "-max-batch %d: want at least 1", c.MaxBatch)
	check(c.TokenBudget < 1, "-token-budget %d: want at least 1", c.TokenBudget)
	check(c.MaxWait < 0, "-max-wait %v: want 0 or more", c.MaxWait)
	check(c.MaxTexts < 1, "-max-texts %d: want at least 1", c.MaxTexts)
	check(c.MaxTextBytes < 1, "-max-text-bytes %d: want at least 1", c.MaxTextBytes)
	check(c.QueueSize < c.MaxTexts, "-queue-size %d is smaller than -max-texts %d: a full request could never be queued", c.QueueSize, c.MaxTexts)
	if _, err := onnx.ParseDevice(c.Device); err != nil {
		errs = append(errs, fmt.Errorf("-device: %w", err))
	}
	return errors.Join(errs...)
}

// App is a started embedder: its ports are open and it answers UNAVAILABLE
// until Run has loaded the model.
type App struct {
	d   *grpcserver.Daemon
	cfg Config
	// model is read by Start from -model-dir; with -hf-model, Run
	// downloads it first.
	model   *modeldir.Model
	srv     *server.Server
	metrics *metrics.Metrics
	logger  *slog.Logger
	// warmedUp, when set (by tests), runs after the model is loaded and
	// warmed up, before the service reports SERVING.
	warmedUp func()
}

// Start checks the settings, reads the model directory (-model-dir), loads
// ONNX Runtime and opens the ports. It fails fast on a bad setting, a model
// directory that does not fit, or a port in use. Run then fetches the model
// (-hf-model), loads it and serves.
func Start(cfg Config, logger *slog.Logger) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var model *modeldir.Model
	if cfg.HFModel == "" {
		var err error
		if model, err = loadDir(cfg, cfg.ModelDir, cfg.ONNXFile, cfg.ModelName); err != nil {
			return nil, err
		}
	}
	if err := onnx.Init(cfg.ORTLib); err != nil {
		return nil, fmt.Errorf("-onnxruntime-lib: %w", err)
	}
	d, err := grpcserver.Listen(grpcserver.DaemonConfig{
		Service: "embedder", Listen: cfg.Listen, MetricsListen: cfg.MetricsListen,
		Grace: cfg.ShutdownGrace, Logger: logger,
		// Room for the largest valid request, so that the limits below
		// answer with their own messages.
		MaxRecvBytes: cfg.MaxTexts*(cfg.MaxTextBytes+16) + 4096,
		// Invalid UTF-8 in texts gets INVALID_ARGUMENT naming the text from
		// grpcserver (package utf8codec), before Embed runs.
		Extra: []grpc.ServerOption{
			// Clients balance over the replicas their resolver knew when
			// they connected; ending connections now and then makes them
			// resolve again, so replicas added by an autoscaler get work.
			// Embed calls last milliseconds, well inside the grace.
			grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 2 * time.Minute, MaxConnectionAgeGrace: 30 * time.Second}),
		},
	})
	if err != nil {
		return nil, err
	}
	a := &App{d: d, cfg: cfg, model: model, logger: logger, metrics: metrics.New(d.Registry())}
	a.srv = server.New(server.Limits{MaxTexts: cfg.MaxTexts, MaxTextBytes: cfg.MaxTextBytes}, a.metrics)
	embedderv1.RegisterEmbedderServiceServer(d.GRPC, a.srv)
	d.Register(embedderv1.EmbedderService_ServiceDesc.ServiceName)
	return a, nil
}

// Addr is the gRPC listen address.
func (a *App) Addr() string { return a.d.Addr() }

// MetricsAddr is the metrics listen address, or "" when disabled.
func (a *App) MetricsAddr() string { return a.d.MetricsAddr() }

// Close releases the ports of an App that will not Run.
func (a *App) Close() { a.d.Close() }

// Run serves until ctx is done. The model is fetched (-hf-model) and loaded
// in the background while gRPC already answers (UNAVAILABLE, health
// NOT_SERVING); once it is loaded and a warm-up batch has run, health turns
// SERVING. On shutdown, calls in flight finish (up to -shutdown-grace),
// then the batcher drains and the sessions close. A model that fails to
// load stops Run with the error.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		e   *embed.Embedder
		err error
	}
	loaded := make(chan result, 1)
	go func() {
		e, err := a.load(ctx)
		if err != nil {
			cancel() // stop serving: without a model there is nothing to serve
		}
		loaded <- result{e, err}
	}()
	runErr := a.d.Run(ctx)
	cancel()
	r := <-loaded
	if r.err != nil {
		if errors.Is(r.err, context.Canceled) {
			r.err = nil // stopped while loading
		} else {
			r.err = fmt.Errorf("loading the model: %w", r.err)
		}
	}
	if r.e != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
		defer ccancel()
		if err := r.e.Close(cctx); err != nil {
			a.logger.Warn("batches still running at exit", "err", err)
		}
	}
	return errors.Join(runErr, r.err)
}

func loadDir(cfg Config, dir, onnxFile, name string) (*modeldir.Model, error) {
	return modeldir.Load(dir, modeldir.Options{
		ONNXFile: onnxFile, Name: name, MaxSeqLen: cfg.MaxSeqLen, MaxSeqLenSource: "flag -max-seq-length",
	})
}

// download fetches -hf-model into the model cache (or finds it there) and
// reads the snapshot directory.
func (a *App) download(ctx context.Context) (*modeldir.Model, error) {
	start := time.Now()
	a.logger.Info("fetching model from the Hugging Face hub", "repo", a.cfg.HFModel, "revision", a.cfg.HFRevision)
	var lastLog time.Time
	snap, err := hub.Download(ctx, a.cfg.HFModel, hub.Options{
		Revision: a.cfg.HFRevision, ONNXFile: a.cfg.ONNXFile,
		Progress: func(file string, done, total int64) {
			if done == total || time.Since(lastLog) > 5*time.Second {
				lastLog = time.Now()
				a.logger.Info("downloading", "file", file, "bytes", done, "of", total)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if snap.HubErr != nil {
		a.logger.Warn("the hub could not be reached; serving the cached snapshot", "repo", a.cfg.HFModel, "commit", snap.Commit, "err", snap.HubErr)
	}
	a.logger.Info("model fetched", "repo", a.cfg.HFModel, "commit", snap.Commit, "dir", snap.Dir, "took", time.Since(start).Round(time.Millisecond))
	return loadDir(a.cfg, snap.Dir, snap.ONNXFile, cmp.Or(a.cfg.ModelName, a.cfg.HFModel))
}

func (a *App) load(ctx context.Context) (*embed.Embedder, error) {
	if a.model == nil {
		m, err := a.download(ctx)
		if err != nil {
			return nil, err
		}
		a.model = m
	}
	device, _ := onnx.ParseDevice(a.cfg.Device) // validated by Start
	threads := a.cfg.IntraOpThreads
	if threads == 0 {
		// GOMAXPROCS follows the container's CPU limit, NumCPU does not.
		threads = max(1, runtime.GOMAXPROCS(0)/a.cfg.Sessions)
	}
	e, err := embed.Load(ctx, a.model, embed.Config{
		Sessions: a.cfg.Sessions, IntraOpThreads: threads, InterOpThreads: 1, Device: device,
		MaxBatch: a.cfg.MaxBatch, TokenBudget: a.cfg.TokenBudget, MaxWait: a.cfg.MaxWait, QueueSize: a.cfg.QueueSize,
	}, a.metrics, a.logger)
	if err != nil {
		return nil, err
	}
	info := e.Info()
	a.metrics.SetModel(metrics.Model{Name: info.Name, Dimension: info.Dimension, Device: info.Device, Provider: info.Provider,
		Sessions: info.Sessions, IntraOpThreads: info.IntraOpThreads})
	if a.warmedUp != nil {
		a.warmedUp()
	}
	a.srv.SetEmbedder(e)
	a.d.SetServing(true)
	a.logger.Info("serving", "model", info.Name, "device", info.Device, "execution_provider", info.Provider)
	return e, nil
}
