package store

import (
	"context"
	"fmt"
	"testing"
)

const benchDim = 384

func benchPaper(n int) Paper {
	p := testPaper(n, 0)
	p.Abstract = "We propose a method for learning sparse attention patterns in transformers " +
		"that scales linearly with sequence length, and evaluate it on language modelling, " +
		"long-document classification and protein structure benchmarks. " + p.Abstract
	p.Vector = testVector(benchDim, n, 0)
	return p
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), testPath(b), Options{Model: testModel, Dim: benchDim})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkUpsert measures ingestion: batches of 256 new papers with 384-d
// vectors, one durable (fsynced) transaction each.
func BenchmarkUpsert(b *testing.B) {
	const batchSize = 256
	ctx := context.Background()
	s := openBench(b)
	batch := make([]Paper, batchSize)
	next := 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = benchPaper(next)
			next++
		}
		b.StartTimer()
		if _, err := s.Upsert(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "papers/s")
}

// BenchmarkGetByKeys measures the per-shard metadata fetch of a search
// result page, one query per call, from a shard of 10,000 papers.
func BenchmarkGetByKeys(b *testing.B) {
	const papers = 10_000
	ctx := context.Background()
	s := openBench(b)
	var all []int64
	for start := 0; start < papers; start += 500 {
		batch := make([]Paper, 500)
		for i := range batch {
			batch[i] = benchPaper(start + i)
		}
		res, err := s.Upsert(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, it := range res.Items {
			all = append(all, it.Key)
		}
	}
	for _, n := range []int{10, 100} {
		for _, withVector := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/vectors=%v", n, withVector), func(b *testing.B) {
				off := 0
				for b.Loop() {
					// Spread the keys over the shard, as ANN hits are.
					keys := make([]int64, n)
					for i := range keys {
						keys[i] = all[(off+i*97)%len(all)]
					}
					off += 13
					got, err := s.GetByKeys(ctx, keys, withVector)
					if err != nil {
						b.Fatal(err)
					}
					if len(got) != n {
						b.Fatalf("got %d papers, want %d", len(got), n)
					}
				}
			})
		}
	}
}
