// Command indexbench measures the index on synthetic data shaped like real
// embeddings (package synth) and prints Markdown tables for
// docs/benchmarks.md, section Index. It is not part of the service.
//
// Two modes:
//
//   - -mode faiss measures the FAISS indexes as the shards configure them
//     (automatic nlist, training sample, default nprobe) against exact flat
//     search on the same data: recall@k against nprobe, queries per second
//     one query per call and batched, p50/p99 latency, memory per million
//     vectors, build, snapshot and load times.
//   - -mode service measures the whole service in-process over gRPC
//     loopback: ingest through UpsertPapers into SQLite stores, training,
//     snapshots, restart (load and replay), and Search latency. With
//     -papers FILE the papers get the titles and abstracts of real arXiv
//     papers (../shared/data/arxiv-metadata.jsonl.gz), topped up to -n
//     with copies under new ids, and lexical and hybrid search are timed
//     with the loadtest's short search phrases and with whole titles and
//     abstracts; the vectors stay synthetic, as dense cost does not depend
//     on their content. The modes are timed taking turns (-modes), so that
//     their ratios survive a noisy machine. -dir D keeps the collection and
//     -reuse searches it again without rebuilding.
//
// Run it with OMP_NUM_THREADS=1, the service's setting (see cmd/index).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
)

func main() {
	mode := flag.String("mode", "faiss", "faiss or service")
	n := flag.Int("n", 100_000, "vectors")
	dim := flag.Int("dim", 384, "dimension")
	nq := flag.Int("queries", 1000, "queries for recall")
	k := flag.Int("k", 10, "results per query")
	nprobes := flag.String("nprobes", "1,4,8,16,32,48,64,96,128", "nprobe values of the recall curve")
	batch := flag.Int("batch", 64, "queries per call in batched runs")
	budget := flag.Duration("budget", 5*time.Second, "time spent measuring each throughput number")
	shards := flag.Int("shards", 8, "shards (service mode)")
	dir := flag.String("dir", "", "data directory (service mode; default a temporary one)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the search measurements here")
	papers := flag.String("papers", "", "service mode: arXiv metadata JSONL(.gz) file whose papers' text to index (default synthetic Zipf text); topped up to -n with copies under new ids")
	reuse := flag.Bool("reuse", false, "service mode: search the collection already in -dir instead of building one")
	modes := flag.String("modes", strings.Join(searchModes, ","), "service mode: rows of the interleaved latency table (empty: none)")
	flag.Parse()
	profilePath = *cpuprofile
	fmt.Printf("indexbench -mode %s -n %d -dim %d, OMP_NUM_THREADS=%q, GOMAXPROCS=%d, %s\n\n",
		*mode, *n, *dim, os.Getenv("OMP_NUM_THREADS"), runtime.GOMAXPROCS(0), cpuModel())
	var err error
	switch *mode {
	case "faiss":
		err = benchFAISS(*n, *dim, *nq, *k, parseInts(*nprobes), *batch, *budget)
	case "service":
		var ms []string
		if *modes != "" {
			ms = strings.Split(*modes, ",")
		}
		err = benchService(serviceOpts{n: *n, dim: *dim, nq: *nq, k: *k, shards: *shards, batch: *batch, budget: *budget,
			dir: *dir, papers: *papers, reuse: *reuse, modes: ms})
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
}

// profilePath, when set, receives a CPU profile of the search
// measurements (-cpuprofile).
var profilePath string

func startProfile() func() {
	if profilePath == "" {
		return func() {}
	}
	f, err := os.Create(profilePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func parseInts(s string) []int {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "indexbench: bad number %q\n", f)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// rssBytes reads the resident set size; FAISS allocates on the C++ heap,
// which only RSS sees.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func recallAt(got, truth []int64, k int) float64 {
	found, total := 0, 0
	for row := 0; row < len(truth); row += k {
		for _, id := range truth[row : row+k] {
			if id < 0 {
				continue
			}
			total++
			if slices.Contains(got[row:row+k], id) {
				found++
			}
		}
	}
	return float64(found) / float64(total)
}

// throughput is queries/s and per-call latency percentiles of calls of
// per queries each, run for about budget by workers goroutines.
type throughput struct {
	qps      float64
	p50, p99 time.Duration
}

func measure(budget time.Duration, workers, per, nq int, call func(first int) error) (throughput, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var calls int
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	for w := range workers {
		wg.Go(func() {
			first := (w * 7919 * per) % nq
			for time.Since(start) < budget {
				t0 := time.Now()
				if err := call(first); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				calls++
				mu.Unlock()
				first = (first + per) % (nq - per + 1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return throughput{}, firstErr
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return throughput{qps: float64(calls*per) / elapsed.Seconds(), p50: pct(0.5), p99: pct(0.99)}, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// benchFAISS measures flat and IVF indexes built as the shards build them.
func benchFAISS(n, dim, nq, k int, nprobes []int, batch int, budget time.Duration) error {
	cfg := shard.DefaultConfig()
	t0 := time.Now()
	g := synth.New(synth.Spec{Dim: dim, Seed: 1}, n)
	data := g.Vectors(n)
	queries := g.Vectors(nq)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	fmt.Printf("generated %d + %d vectors in %s\n\n", n, nq, secs(time.Since(t0)))
	runtime.GC()
	debug.FreeOSMemory()

	rss0 := rssBytes()
	t0 = time.Now()
	flat, err := faiss.NewFlat(dim)
	if err != nil {
		return err
	}
	if err := flat.Add(ids, data); err != nil {
		return err
	}
	flatBuild := time.Since(t0)
	flatMem := rssBytes() - rss0
	t0 = time.Now()
	_, truth, err := flat.Search(queries, k, 0)
	if err != nil {
		return err
	}
	fmt.Printf("exact ground truth for %d queries in %s\n\n", nq, secs(time.Since(t0)))

	nlist := shard.AutoNlist(int64(n))
	sample := min(n, nlist*cfg.TrainPointsPerList)
	rss0 = rssBytes()
	t0 = time.Now()
	ivf, err := faiss.NewIVFFlat(dim, nlist)
	if err != nil {
		return err
	}
	// The shards train on a uniform sample; the generator's order is
	// random, so a prefix is one.
	if err := ivf.Train(data[:sample*dim]); err != nil {
		return err
	}
	ivfTrain := time.Since(t0)
	t0 = time.Now()
	if err := ivf.Add(ids, data); err != nil {
		return err
	}
	ivfAdd := time.Since(t0)
	ivfMem := rssBytes() - rss0

	fmt.Printf("| index | build | RSS growth while building | per million vectors |\n|---|---|---|---|\n")
	perM := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)*1e6/float64(n)) }
	fmt.Printf("| flat | add %s | %.0f MiB | %s |\n", secs(flatBuild), float64(flatMem)/(1<<20), perM(flatMem))
	fmt.Printf("| IVF nlist %d | train %s on %d vectors + add %s | %.0f MiB | %s |\n\n",
		nlist, secs(ivfTrain), sample, secs(ivfAdd), float64(ivfMem)/(1<<20), perM(ivfMem))
	fmt.Printf("raw vectors: %.0f MiB per million (%d x 4 bytes + 8-byte id)\n\n", float64(1e6*(4*dim+8))/(1<<20), dim)

	// Snapshot write and load, as the shards do them.
	for _, x := range []struct {
		name string
		idx  *faiss.Index
	}{{"flat", flat}, {"IVF", ivf}} {
		dir, err := os.MkdirTemp("", "indexbench-snap-")
		if err != nil {
			return err
		}
		t0 = time.Now()
		m, err := snapshot.Write(dir, nil, func(w io.Writer) (snapshot.Info, error) {
			_, err := x.idx.WriteTo(w)
			return snapshot.Info{Model: "bench", Dim: dim, Kind: x.idx.Kind(), Nlist: x.idx.Nlist(), Ntotal: x.idx.Ntotal()}, err
		})
		if err != nil {
			return err
		}
		write := time.Since(t0)
		rss := rssBytes()
		t0 = time.Now()
		loaded, _, err := snapshot.Load(dir)
		if err != nil {
			return err
		}
		load := time.Since(t0)
		mem := rssBytes() - rss
		loaded.Close()
		os.RemoveAll(dir)
		fmt.Printf("snapshot %s: %.0f MiB, write (hash, fsync, rename) %s, load (verify SHA-256, read) %s; loaded index RSS %.0f MiB (%.0f MiB per million)\n",
			x.name, float64(m.PayloadBytes)/(1<<20), secs(write), secs(load), float64(mem)/(1<<20), float64(mem)/(1<<20)*1e6/float64(n))
	}
	fmt.Println()

	search := func(x *faiss.Index, nprobe, per int) func(int) error {
		return func(first int) error {
			_, _, err := x.Search(queries[first*dim:(first+per)*dim], k, nprobe)
			return err
		}
	}
	fmt.Printf("| index | nprobe | recall@%d | 1 query/call: q/s | p50 | p99 | 2 goroutines: q/s | batch %d: q/s | p50 per batch |\n", k, batch)
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, x *faiss.Index, nprobe int, recall float64) error {
		single, err := measure(budget, 1, 1, nq, search(x, nprobe, 1))
		if err != nil {
			return err
		}
		two, err := measure(budget, 2, 1, nq, search(x, nprobe, 1))
		if err != nil {
			return err
		}
		batched, err := measure(budget, 1, batch, nq, search(x, nprobe, batch))
		if err != nil {
			return err
		}
		np := "-"
		if nprobe > 0 {
			np = strconv.Itoa(nprobe)
			if nprobe == cfg.DefaultNprobe {
				np += " (default)"
			}
		}
		fmt.Printf("| %s | %s | %.3f | %.0f | %s | %s | %.0f | %.0f | %s |\n", name, np, recall,
			single.qps, ms(single.p50), ms(single.p99), two.qps, batched.qps, ms(batched.p50))
		return nil
	}
	if err := row("flat (exact)", flat, 0, 1); err != nil {
		return err
	}
	for _, np := range nprobes {
		if np > nlist {
			continue
		}
		_, labels, err := ivf.Search(queries, k, np)
		if err != nil {
			return err
		}
		if err := row(fmt.Sprintf("IVF %d", nlist), ivf, np, recallAt(labels, truth, k)); err != nil {
			return err
		}
	}
	return nil
}
