package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/embedclient"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/indexbuild"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func runBuildIndex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "build-index", "-input FILE [-embedder HOST:PORT] [-index HOST:PORT,...] [flags]", `
Embeds the papers of an input file through a running embedder (gRPC) and
stores them, with their vectors, in the running index instances: each
paper goes to every instance that owns its shard. Papers already stored are
skipped before they are embedded, so an interrupted build resumes where it
stopped and a repeated build does nothing. Input is any format prepare
reads (a split file, the arXiv snapshot JSON lines, parquet, CSV); records
are cleaned the same way. Writes a manifest (model, dataset hash, counts,
shard placement, time) when -manifest is set.`)
	input := fs.String("input", "", "papers to index (required)")
	in := addInputFlags(fs)
	embedAddr := fs.String("embedder", "127.0.0.1:50051", "embedder gRPC address")
	indexAddrs := fs.String("index", "127.0.0.1:50061", "index instance gRPC addresses, comma-separated")
	batch := fs.Int("batch", 256, "papers embedded and stored per round")
	parallel := fs.Int("parallel", 4, "embedder calls in flight")
	force := fs.Bool("force", false, "re-embed and store papers that are already stored")
	manifest := fs.String("manifest", "", "write the build manifest (JSON) to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "input"); err != nil {
		return err
	}
	logger, err := lf.logger()
	if err != nil {
		return err
	}
	dopts, err := in.options()
	if err != nil {
		return err
	}
	papers, dropped, err := readCleanPapers(*input, dopts)
	if err != nil {
		return err
	}
	logger.Info("papers read", "input", *input, "papers", len(papers), "dropped", dropped)

	emb, err := embedclient.Dial(*embedAddr)
	if err != nil {
		return err
	}
	defer emb.Close()
	emb.Batch, emb.Parallel = 64, *parallel
	var instances []*indexbuild.Instance
	for addr := range strings.SplitSeq(*indexAddrs, ",") {
		if addr = strings.TrimSpace(addr); addr == "" {
			continue
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			return fmt.Errorf("index %s: %w", addr, err)
		}
		defer conn.Close()
		instances = append(instances, &indexbuild.Instance{Addr: addr, Client: indexv1.NewIndexServiceClient(conn)})
	}

	bar := progress.New("build-index", int64(len(papers)), progress.WithUnit("papers"), progress.WithWriter(stderr), progress.WithLogger(logger))
	var last int
	res, err := indexbuild.Build(ctx, papers, emb, instances, indexbuild.Options{
		Batch: *batch, Force: *force,
		Progress: func(done int) { bar.Add(int64(done - last)); last = done },
	})
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indexed %d papers with %s: %d new, %d replaced, %d already stored, in %.1fs\n",
		res.Papers, res.Model, res.Inserted, res.Replaced, res.Skipped, res.Seconds)
	if *manifest == "" {
		return nil
	}
	sum, err := fileSHA256(*input)
	if err != nil {
		return err
	}
	info, err := modelInfo(ctx, *embedAddr)
	if err != nil {
		return err
	}
	shards := map[string]any{}
	for _, in := range instances {
		st, err := in.Client.GetStats(ctx, &indexv1.GetStatsRequest{})
		if err != nil {
			return fmt.Errorf("index %s: stats: %w", in.Addr, err)
		}
		for _, s := range st.GetShards() {
			shards[fmt.Sprintf("%s/%d", in.Addr, s.GetShard())] = map[string]any{
				"papers": s.GetPapers(), "kind": s.GetKind().String(), "nlist": s.GetNlist(), "default_nprobe": s.GetDefaultNprobe(),
			}
		}
	}
	return writeJSONFile(*manifest, map[string]any{
		"model": res.Model, "model_sha256": info.GetModelSha256(), "dimension": res.Dimension,
		"dataset": *input, "dataset_sha256": sum, "papers": res.Papers, "dropped": dropped,
		"inserted": res.Inserted, "replaced": res.Replaced, "skipped_existing": res.Skipped,
		"total_shards": res.TotalShards, "owners": res.Owners, "shards": shards,
		"seconds": res.Seconds, "finished": time.Now().UTC().Format(time.RFC3339),
	})
}

// readCleanPapers reads every record of an input file and cleans it as
// prepare does; malformed records fail the build with their position.
func readCleanPapers(path string, opts dataset.Options) ([]dataset.Paper, map[string]int, error) {
	src, err := dataset.Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	cleaner := dataset.NewCleaner()
	var out []dataset.Paper
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		p := rec.Paper
		if _, keep := cleaner.Clean(&p); keep {
			out = append(out, p)
		}
	}
	return out, cleaner.Dropped, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func modelInfo(ctx context.Context, addr string) (*embedderv1.ModelInfo, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := embedderv1.NewEmbedderServiceClient(conn).GetModelInfo(ctx, &embedderv1.GetModelInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("embedder %s: model info: %w", addr, err)
	}
	return resp.GetModel(), nil
}
