package embed

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/onnx"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/testmodel"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Benchmarks on the shared MiniLM-shaped model (random weights, real
// compute). Each op is one text; texts/s is the throughput. Run with e.g.
//
//	go test ./internal/embed -run '^$' -bench . -benchtime 96x -count 3

// layouts are the session layouts compared on a machine: one session using
// every core, or one single-threaded session per core.
var layouts = []struct {
	name              string
	sessions, threads int
}{
	{"1x2", 1, 2},
	{"2x1", 2, 1},
}

// bulkTexts returns the golden texts (arXiv title + abstract) in file
// order, so that every run of a benchmark sees the same mix.
func bulkTexts(lines []goldenLine) []string {
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	return texts
}

// BenchmarkRawORT is ONNX Runtime alone on pre-tokenized, pre-batched
// input in batches of 8 (the default token budget's worth of abstracts):
// the ceiling for end-to-end throughput. Sorted batches hold texts of
// similar length (least padding); unsorted ones hold texts in file order.
func BenchmarkRawORT(b *testing.B) {
	for _, lay := range layouts {
		for _, sorted := range []bool{true, false} {
			b.Run(fmt.Sprintf("sessions=%s/sorted=%v", lay.name, sorted), func(b *testing.B) {
				cfg := sharedConfig()
				cfg.Sessions, cfg.IntraOpThreads = lay.sessions, lay.threads
				e, lines := loadShared(b, cfg)
				batches := preBatch(e, bulkTexts(lines), 8, b.N, sorted)
				b.ResetTimer()
				cpu := testmodel.CPUTime(b)
				var wg sync.WaitGroup
				next := make(chan *tokenizer.Batch)
				for range lay.sessions {
					w := <-e.workers
					wg.Go(func() {
						defer func() { e.workers <- w }()
						for tb := range next {
							if _, err := w.sess.Run(onnx.Input{Size: tb.Size, SeqLen: tb.SeqLen, IDs: tb.IDs, AttentionMask: tb.AttentionMask, TypeIDs: tb.TypeIDs}); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for _, tb := range batches {
					next <- tb
				}
				close(next)
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "texts/s")
				testmodel.ReportCPU(b, b.N, cpu)
			})
		}
	}
}

// preBatch tokenizes n texts (cycling through texts), sorts them by length
// if asked, and cuts them into padded batches of size.
func preBatch(e *Embedder, texts []string, size, n int, sorted bool) []*tokenizer.Batch {
	all := make([]string, n)
	for i := range all {
		all[i] = texts[i%len(texts)]
	}
	lens := make(map[string]int, len(texts))
	for _, t := range texts {
		lens[t] = len(e.tok.Encode(t, e.info.MaxSeqLen).IDs)
	}
	if sorted {
		sort.SliceStable(all, func(i, j int) bool { return lens[all[i]] < lens[all[j]] })
	}
	var out []*tokenizer.Batch
	for start := 0; start < n; start += size {
		out = append(out, e.tok.EncodeBatch(nil, all[start:min(start+size, n)], e.info.MaxSeqLen))
	}
	return out
}

// BenchmarkEmbedBulk is the end-to-end path (tokenize, batch, run, pool,
// normalize) on abstracts sent as requests of 32 texts by 4 concurrent
// clients, for several batch sizes, with the default layout of two
// single-threaded sessions.
func BenchmarkEmbedBulk(b *testing.B) {
	for _, size := range []int{4, 8, 16, 32} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			cfg := sharedConfig()
			cfg.Sessions, cfg.IntraOpThreads = 2, 1
			cfg.MaxBatch, cfg.TokenBudget = size, size*256
			e, lines := loadShared(b, cfg)
			texts := bulkTexts(lines)
			b.ResetTimer()
			cpu := testmodel.CPUTime(b)
			embedAll(b, e, texts, b.N, 32, 4)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "texts/s")
			testmodel.ReportCPU(b, b.N, cpu)
		})
	}
}

// embedAll embeds n texts (cycling through texts) in requests of perReq
// from clients goroutines.
func embedAll(b *testing.B, e *Embedder, texts []string, n, perReq, clients int) {
	reqs := make(chan []string)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for req := range reqs {
				if _, err := e.Embed(context.Background(), req, 0); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for start := 0; start < n; start += perReq {
		req := make([]string, 0, perReq)
		for i := start; i < min(start+perReq, n); i++ {
			req = append(req, texts[i%len(texts)])
		}
		reqs <- req
	}
	close(reqs)
	wg.Wait()
}
