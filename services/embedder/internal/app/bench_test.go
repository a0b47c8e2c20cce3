package app

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
)

// End-to-end benchmarks through gRPC on loopback, on the shared
// MiniLM-shaped model (random weights, real compute). Each op is one text.
// Run with e.g.
//
//	go test ./internal/app -run '^$' -bench . -benchtime 200x -count 3

// layouts compares one session using both cores with one single-threaded
// session per core.
var layouts = []struct {
	name              string
	sessions, threads int
}{
	{"1x2", 1, 2},
	{"2x1", 2, 1},
}

var queries = []string{
	"graph neural networks for molecule property prediction",
	"contrastive learning of sentence embeddings",
	"dark matter halo mass function",
	"quantum error correction with surface codes",
	"large language model alignment with human feedback",
	"diffusion models for image synthesis",
	"sparse attention for long context transformers",
	"black hole merger gravitational waves",
}

// startShared starts the embedder on the shared model, with settings
// changed by mutate, and waits until it serves.
func startShared(b *testing.B, mutate func(*Config)) *running {
	b.Helper()
	dir := filepath.Join(testmodel.SharedDir(b), testmodel.SharedModel)
	cfg := Config{
		Listen: "127.0.0.1:0", ShutdownGrace: 30 * time.Second,
		ModelDir: dir, ORTLib: testmodel.Library(b), Device: "cpu", Sessions: 1, IntraOpThreads: 2,
		MaxBatch: 32, TokenBudget: 2048, QueueSize: 4096, MaxTexts: 256, MaxTextBytes: 65536,
	}
	mutate(&cfg)
	r := start(b, cfg, quiet(), nil)
	r.waitServing(b)
	return r
}

// BenchmarkQueries sends one short query per request from concurrent
// clients: the search path. "naive" runs every request as its own
// inference (no batching), the design the batcher replaces.
func BenchmarkQueries(b *testing.B) {
	for _, lay := range layouts {
		for _, design := range []string{"batched", "naive"} {
			for _, conc := range []int{1, 8, 64} {
				if design == "naive" && conc != 64 {
					continue
				}
				b.Run(fmt.Sprintf("sessions=%s/%s/concurrency=%d", lay.name, design, conc), func(b *testing.B) {
					r := startShared(b, func(c *Config) {
						c.Sessions, c.IntraOpThreads = lay.sessions, lay.threads
						if design == "naive" {
							c.MaxBatch = 1
						}
					})
					lat := runConcurrently(b, b.N, conc, func(i int) error {
						_, err := r.client.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: []string{queries[i%len(queries)]}})
						return err
					})
					reportLatency(b, lat)
				})
			}
		}
	}
}

// BenchmarkBulk embeds arXiv titles + abstracts (the golden texts) sent as
// requests of 32 texts by 4 concurrent clients, as an indexing pipeline
// would, with the default batching (token budget 2048: 8 abstracts), the
// best batch size found by embed's BenchmarkEmbedBulk.
func BenchmarkBulk(b *testing.B) {
	texts := goldenTexts(b)
	for _, lay := range layouts {
		b.Run("sessions="+lay.name, func(b *testing.B) {
			r := startShared(b, func(c *Config) { c.Sessions, c.IntraOpThreads = lay.sessions, lay.threads })
			const perReq = 32
			reqs := (b.N + perReq - 1) / perReq
			var sent atomic.Int64
			runConcurrently(b, reqs, 4, func(i int) error {
				req := make([]string, 0, perReq)
				for k := i * perReq; k < min((i+1)*perReq, b.N); k++ {
					req = append(req, texts[k%len(texts)])
				}
				sent.Add(int64(len(req)))
				_, err := r.client.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: req})
				return err
			})
			b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "texts/s")
		})
	}
}

func goldenTexts(b *testing.B) []string {
	lines := readGolden(b, testmodel.SharedDir(b), 300)
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	return texts
}

// runConcurrently calls do(0..n-1) from conc goroutines, resetting the
// benchmark timer first, and returns each call's latency.
func runConcurrently(b *testing.B, n, conc int, do func(i int) error) []time.Duration {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	b.ResetTimer()
	cpu := testmodel.CPUTime(b)
	defer func() { testmodel.ReportCPU(b, b.N, cpu) }()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				start := time.Now()
				if err := do(k); err != nil {
					b.Error(err)
					return
				}
				lat[k] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	return lat
}

// reportLatency reports texts/s (one text per call) and the calls' p50
// and p99 latency.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "texts/s")
	s := slices.Clone(lat)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(s[min(len(s)-1, len(s)*99/100)].Microseconds())/1000, "p99-ms")
}
