package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/arxivsearch/arxivsearch/services/index/internal/metrics"
	"github.com/arxivsearch/arxivsearch/services/index/internal/server"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// serviceOpts are the flags of -mode service.
type serviceOpts struct {
	n, dim, nq, k, shards, batch int
	budget                       time.Duration
	dir                          string
	// papers is an arXiv metadata file whose text the papers get;
	// empty: synthetic Zipf text.
	papers string
	// reuse searches the collection already in dir instead of building
	// one.
	reuse bool
	// modes are the rows of the interleaved latency table.
	modes []string
}

// searchModes are the rows of the interleaved latency table: dense, and
// lexical and hybrid search with short phrases and with whole titles and
// abstracts.
var searchModes = []string{"dense", "lexical-short", "lexical-long", "hybrid-short", "hybrid-long"}

// benchService measures the service end to end in one process: a
// collection of shards behind the gRPC server on loopback.
func benchService(o serviceOpts) error {
	ctx := context.Background()
	dir := o.dir
	if o.reuse && dir == "" {
		return fmt.Errorf("-reuse needs -dir")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "indexbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	g := synth.New(synth.Spec{Dim: o.dim, Seed: 1}, o.n)
	cfg := shard.DefaultConfig()
	cfg.FlatThreshold = 0        // train explicitly, to time it
	cfg.SnapshotEveryChanges = 0 // snapshot explicitly, to time it
	owned, _ := shardset.Parse("", o.shards)
	logger := slog.New(slog.DiscardHandler)
	open := func() (*collection.Collection, indexv1.IndexServiceClient, func(), error) {
		m := metrics.New(nil)
		coll, err := collection.Open(ctx, collection.Options{Dir: dir, TotalShards: o.shards, Owned: owned, Shard: cfg, Logger: logger, Metrics: m})
		if err != nil {
			return nil, nil, nil, err
		}
		srv := server.New(server.Options{TotalShards: o.shards, Owned: owned, Logger: logger, Metrics: m})
		srv.SetCollection(coll)
		gs := grpc.NewServer(grpc.MaxRecvMsgSize(256 << 20))
		indexv1.RegisterIndexServiceServer(gs, srv)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		go gs.Serve(lis)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
		if err != nil {
			return nil, nil, nil, err
		}
		return coll, indexv1.NewIndexServiceClient(conn), func() { conn.Close(); gs.Stop() }, nil
	}

	var corpus []textPaper
	if o.papers != "" {
		var err error
		if corpus, err = readPapers(o.papers, o.n); err != nil {
			return err
		}
		copies := 0
		for _, p := range corpus {
			if p.Copy {
				copies++
			}
		}
		fmt.Printf("papers: %d from %s, of which %d are copies of earlier ones under new ids; vectors synthetic (%d-d)\n\n",
			len(corpus), o.papers, copies, o.dim)
	}
	// Synthetic text: titles and abstracts of words drawn from a
	// Zipf-distributed vocabulary.
	zipf := rand.NewZipf(rand.New(rand.NewSource(1)), 1.1, 10, 20_000)
	words := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "w%d", zipf.Uint64())
		}
		return b.String()
	}

	// Query vectors are drawn like the papers' but are none of them; first,
	// so that a reused collection gets the same ones.
	queries := g.Vectors(o.nq)
	var coll *collection.Collection
	var client indexv1.IndexServiceClient
	var stop func()
	var err error
	if o.reuse {
		t0 := time.Now()
		if coll, client, stop, err = open(); err != nil {
			return err
		}
		fmt.Printf("reused the collection in %s (opened in %s)\n\n", dir, secs(time.Since(t0)))
	} else {
		if coll, client, stop, err = buildCollection(ctx, o, g, queries, corpus, words, open); err != nil {
			return err
		}
	}
	defer func() { stop(); coll.Close(ctx, false) }()
	if err := warmLexical(ctx, coll, owned); err != nil {
		return err
	}

	// Short and long query texts. Synthetic short ones skip the 100 most
	// frequent words, as the store drops English function words from
	// queries (the vocabulary has no real ones); synthetic long ones are
	// generated like a title and abstract.
	short, long := make([]string, o.nq), make([]string, o.nq)
	var longPapers []*textPaper
	if corpus != nil {
		for i := range short {
			short[i] = shortQueries[i%len(shortQueries)]
		}
		for i, j := range sampleOriginals(corpus, o.nq, 2) {
			long[i] = corpus[j].queryText()
			longPapers = append(longPapers, &corpus[j])
		}
		long = long[:min(o.nq, len(corpus))]
	} else {
		for i := range short {
			var ws []string
			for len(ws) < 4 {
				if r := zipf.Uint64(); r >= 100 {
					ws = append(ws, fmt.Sprintf("w%d", r))
				}
			}
			short[i] = strings.Join(ws, " ")
			long[i] = words(160)
		}
	}
	query := func(first, per int, mode indexv1.SearchMode, texts []string) *indexv1.SearchRequest {
		req := &indexv1.SearchRequest{K: int32(o.k), Mode: mode}
		for i := first; i < first+per; i++ {
			req.Queries = append(req.Queries, &indexv1.Query{Vector: queries[i*o.dim : (i+1)*o.dim], Text: texts[i%len(texts)]})
		}
		return req
	}

	if err := checkLexical(ctx, coll, owned, o.k, short, long); err != nil {
		return err
	}
	if err := lexicalPrecision(ctx, client, o.k, longPapers); err != nil {
		return err
	}
	defer startProfile()()
	if len(o.modes) > 0 {
		if err := interleaved(ctx, client, o, query, short, long); err != nil {
			return err
		}
	}
	if !o.reuse {
		fmt.Printf("| Search over %d shards, k=%d, default nprobe | q/s | p50 | p99 |\n|---|---|---|---|\n", o.shards, o.k)
		for _, c := range []struct {
			name    string
			workers int
			per     int
			nprobe  int32
		}{
			{"dense, 1 query per call, nprobe 16", 1, 1, 16},
			{"dense, 1 query per call, 4 concurrent clients", 4, 1, 0},
			{fmt.Sprintf("dense, %d queries per call", o.batch), 1, o.batch, 0},
		} {
			tp, err := measure(o.budget, c.workers, c.per, o.nq, func(first int) error {
				req := query(first, c.per, indexv1.SearchMode_SEARCH_MODE_DENSE, short)
				req.Nprobe = c.nprobe
				_, err := client.Search(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %.0f | %s | %s |\n", c.name, tp.qps, ms(tp.p50), ms(tp.p99))
		}
		fmt.Println()
	}
	st, err := client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		return err
	}
	var storeBytes, snapBytes int64
	for _, s := range st.GetShards() {
		storeBytes += s.GetStoreBytes()
		snapBytes += s.GetSnapshotBytes()
	}
	fmt.Printf("on disk: stores %.0f MiB, snapshots %.0f MiB; process RSS %.0f MiB\n",
		float64(storeBytes)/(1<<20), float64(snapBytes)/(1<<20), float64(rssBytes())/(1<<20))
	return nil
}

// warmLexical builds the in-memory copies of the shards' lexical indexes,
// which the first lexical searches would otherwise start in the background,
// and reports their cost.
func warmLexical(ctx context.Context, coll *collection.Collection, owned []int) error {
	shards, err := coll.Shards(owned)
	if err != nil {
		return err
	}
	debug.FreeOSMemory()
	rss0, anon0 := rssBytes(), anonBytes()
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, sh := range shards {
		g.Go(func() error { return sh.Store().WarmLexical(gctx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wall := time.Since(t0)
	var docs, terms int
	var bytes int64
	var build time.Duration
	for _, sh := range shards {
		st, err := sh.Store().LexicalIndexStats(ctx)
		if err != nil {
			return err
		}
		docs, terms, bytes, build = docs+st.Docs, terms+st.Terms, bytes+st.Bytes, build+st.BuildTime
	}
	peak := anonBytes()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("in-memory lexical index of %d shards: %d documents, %d terms (per shard, summed), ~%.0f MiB estimated; "+
		"anonymous RSS +%.0f MiB after a GC (+%.0f MiB at the end of the build), Go heap in use %.0f MiB; RSS +%.0f MiB (includes the file pages read through mmap); "+
		"built in %s (%s summed over shards)\n\n",
		len(shards), docs, terms, float64(bytes)/(1<<20), float64(anonBytes()-anon0)/(1<<20), float64(peak-anon0)/(1<<20),
		float64(ms.HeapInuse)/(1<<20), float64(rssBytes()-rss0)/(1<<20), secs(wall), secs(build))
	return nil
}

// checkLexical compares, shard by shard, the lexical hits served from the
// in-memory copy with FTS5's own (a second handle on each store, opened
// with NoLexicalIndex) for up to 200 long and all short queries, and times
// both.
func checkLexical(ctx context.Context, coll *collection.Collection, owned []int, k int, short, long []string) error {
	shards, err := coll.Shards(owned)
	if err != nil {
		return err
	}
	queries := append(slices.Clone(long[:min(200, len(long))]), short[:min(len(shortQueries), len(short))]...)
	same, total := 0, 0
	var tMem, tFTS time.Duration
	for _, sh := range shards {
		fts, err := store.Open(ctx, sh.Store().Path(), store.Options{NoLexicalIndex: true})
		if err != nil {
			return err
		}
		for _, q := range queries {
			t0 := time.Now()
			mem, err := sh.Store().SearchLexical(ctx, q, k, nil)
			if err != nil {
				fts.Close()
				return err
			}
			t1 := time.Now()
			want, err := fts.SearchLexical(ctx, q, k, nil)
			if err != nil {
				fts.Close()
				return err
			}
			tMem, tFTS = tMem+t1.Sub(t0), tFTS+time.Since(t1)
			total++
			if slices.Equal(mem, want) {
				same++
			}
		}
		if err := fts.Close(); err != nil {
			return err
		}
	}
	fmt.Printf("lexical hits from memory and from FTS5 (k=%d, %d queries x %d shards): identical, scores to the bit, for %d of %d; "+
		"time per query and shard %.2f ms from memory, %.2f ms from FTS5\n\n",
		k, len(queries), len(shards), same, total, float64(tMem.Microseconds())/1000/float64(total), float64(tFTS.Microseconds())/1000/float64(total))
	return nil
}

// lexicalPrecision reports the precision@k of lexical search for "papers
// like this one" queries (title and abstract), a hit being relevant when
// its primary category is the query paper's (the seed system's protocol),
// the paper itself and its copy excluded.
func lexicalPrecision(ctx context.Context, client indexv1.IndexServiceClient, k int, papers []*textPaper) error {
	if len(papers) == 0 {
		return nil
	}
	relevant := 0
	for _, p := range papers {
		resp, err := client.Search(ctx, &indexv1.SearchRequest{K: int32(k), Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL,
			Queries: []*indexv1.Query{{Text: p.queryText(), ExcludeIds: []string{p.ID, "copy1-" + p.ID}}}})
		if err != nil {
			return err
		}
		for _, h := range resp.GetResults()[0].GetHits() {
			if h.GetPaper().GetPrimaryCategory() == p.Categories[0] {
				relevant++
			}
		}
	}
	fmt.Printf("lexical precision@%d by primary category, %d title+abstract queries, the paper and its copy excluded: %.3f\n\n",
		k, len(papers), float64(relevant)/float64(k*len(papers)))
	return nil
}

// interleaved measures the search modes of o.modes one query per call,
// taking turns (one call of each mode per round, the first mode rotating),
// so that the machine's changing load hits every mode alike and their
// ratios are meaningful.
func interleaved(ctx context.Context, client indexv1.IndexServiceClient, o serviceOpts,
	query func(first, per int, mode indexv1.SearchMode, texts []string) *indexv1.SearchRequest, short, long []string) error {
	type row struct {
		name  string
		mode  indexv1.SearchMode
		texts []string
		lat   []time.Duration
	}
	var rows []*row
	for _, m := range o.modes {
		r := &row{name: m}
		switch m {
		case "dense":
			r.mode, r.texts = indexv1.SearchMode_SEARCH_MODE_DENSE, short
		case "lexical-short":
			r.mode, r.texts = indexv1.SearchMode_SEARCH_MODE_LEXICAL, short
		case "lexical-long":
			r.mode, r.texts = indexv1.SearchMode_SEARCH_MODE_LEXICAL, long
		case "hybrid-short":
			r.mode, r.texts = indexv1.SearchMode_SEARCH_MODE_HYBRID, short
		case "hybrid-long":
			r.mode, r.texts = indexv1.SearchMode_SEARCH_MODE_HYBRID, long
		default:
			return fmt.Errorf("unknown search mode %q in -modes; want some of %s", m, strings.Join(searchModes, ","))
		}
		rows = append(rows, r)
	}
	// Warm the caches (SQLite pages, prepared statements) once per mode.
	for _, r := range rows {
		for i := range min(20, len(r.texts)) {
			if _, err := client.Search(ctx, query(i, 1, r.mode, r.texts)); err != nil {
				return err
			}
		}
	}
	start := time.Now()
	total := o.budget * time.Duration(len(rows))
	for round := 0; time.Since(start) < total; round++ {
		for j := range rows {
			r := rows[(round+j)%len(rows)]
			req := query(round%o.nq, 1, r.mode, r.texts)
			t0 := time.Now()
			if _, err := client.Search(ctx, req); err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			r.lat = append(r.lat, time.Since(t0))
		}
	}
	stat := func(lat []time.Duration) (p50, p99, mean time.Duration) {
		s := slices.Clone(lat)
		slices.Sort(s)
		var sum time.Duration
		for _, d := range s {
			sum += d
		}
		return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)], sum / time.Duration(len(s))
	}
	var dense50, dense99 time.Duration
	for _, r := range rows {
		if r.name == "dense" {
			dense50, dense99, _ = stat(r.lat)
		}
	}
	fmt.Printf("Interleaved, 1 query per call, k=%d, default nprobe, %d rounds:\n\n", o.k, len(rows[0].lat))
	fmt.Printf("| mode | calls | q/s | p50 | p99 | p50 / dense | p99 / dense |\n|---|---|---|---|---|---|---|\n")
	ratio := func(a, b time.Duration) string {
		if b == 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64)
	}
	for _, r := range rows {
		p50, p99, mean := stat(r.lat)
		fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %s |\n", r.name, len(r.lat), 1/mean.Seconds(), ms(p50), ms(p99),
			ratio(p50, dense50), ratio(p99, dense99))
	}
	fmt.Println()
	return nil
}

// buildCollection ingests o.n papers (text from corpus, or synthetic when
// corpus is nil), trains the shards, restarts and snapshots them, timing
// each step, and measures the recall of dense search for queries against
// exact search.
func buildCollection(ctx context.Context, o serviceOpts, g *synth.Generator, queries []float32, corpus []textPaper, words func(int) string,
	open func() (*collection.Collection, indexv1.IndexServiceClient, func(), error)) (*collection.Collection, indexv1.IndexServiceClient, func(), error) {
	coll, client, stop, err := open()
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*collection.Collection, indexv1.IndexServiceClient, func(), error) {
		stop()
		coll.Close(ctx, false)
		return nil, nil, nil, err
	}
	// Exact search over the same papers, for the service's recall.
	exact, err := faiss.NewFlat(o.dim)
	if err != nil {
		return fail(err)
	}
	defer exact.Close()
	var idOf []string // exact-index label -> paper id
	addExact := func(ps []*indexv1.Paper) error {
		var labels []int64
		var vecs []float32
		for _, p := range ps {
			labels = append(labels, int64(len(idOf)))
			idOf = append(idOf, p.GetId())
			vecs = append(vecs, p.GetVector()...)
		}
		return exact.Add(labels, vecs)
	}
	const upsertBatch = 1000
	t0 := time.Now()
	for i := 0; i < o.n; i += upsertBatch {
		var ps []*indexv1.Paper
		for j := i; j < min(o.n, i+upsertBatch); j++ {
			if corpus != nil {
				ps = append(ps, corpus[j].proto(g.Vector()))
				continue
			}
			ps = append(ps, &indexv1.Paper{
				Id: fmt.Sprintf("%04d.%05d", 1000+j/100000, j%100000), Title: words(10),
				Abstract: words(150), Authors: []string{"A. Author", "B. Author"}, Categories: []string{"cs.LG", "stat.ML"},
				UpdateDate: "2025-01-01", Vector: g.Vector(),
			})
		}
		if _, err := client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: "bench", Papers: ps}); err != nil {
			return fail(err)
		}
		if err := addExact(ps); err != nil {
			return fail(err)
		}
	}
	ingest := time.Since(t0)
	fmt.Printf("| step | time |\n|---|---|\n")
	fmt.Printf("| ingest %d papers (UpsertPapers, batches of %d, %d shards, durable) | %s (%.0f papers/s) |\n",
		o.n, upsertBatch, o.shards, secs(ingest), float64(o.n)/ingest.Seconds())
	t0 = time.Now()
	tr, err := client.TrainShards(ctx, &indexv1.TrainShardsRequest{})
	if err != nil {
		return fail(err)
	}
	fmt.Printf("| train %d shards of ~%d papers (nlist %d each), one after the other, incl. snapshot | %s |\n",
		o.shards, o.n/o.shards, tr.GetShards()[0].GetNlist(), secs(time.Since(t0)))
	// Searches while writes come in need nothing extra: measure restart.
	extra := min(o.n/10, 10_000)
	var ps []*indexv1.Paper
	for j := range extra {
		ps = append(ps, &indexv1.Paper{Id: fmt.Sprintf("9%03d.%05d", j/100000, j%100000), Title: "late", Vector: g.Vector()})
	}
	if _, err := client.UpsertPapers(ctx, &indexv1.UpsertPapersRequest{Model: "bench", Papers: ps}); err != nil {
		return fail(err)
	}
	if err := addExact(ps); err != nil {
		return fail(err)
	}
	stop()
	if err := coll.Close(ctx, false); err != nil {
		return nil, nil, nil, err
	}
	t0 = time.Now()
	if coll, client, stop, err = open(); err != nil {
		return nil, nil, nil, err
	}
	fmt.Printf("| restart: load %d IVF snapshots, verify, replay %d papers written after them | %s |\n", o.shards, extra, secs(time.Since(t0)))
	t0 = time.Now()
	if _, err := client.SnapshotShards(ctx, &indexv1.SnapshotShardsRequest{}); err != nil {
		return fail(err)
	}
	fmt.Printf("| snapshot all %d shards | %s |\n\n", o.shards, secs(time.Since(t0)))

	// Recall of the whole service (all shards, exact merge) against exact
	// search over the collection, with queries drawn like the papers.
	_, truth, err := exact.Search(queries, o.k, 0)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("| nprobe per shard | recall@%d over %d shards |\n|---|---|\n", o.k, o.shards)
	for _, np := range []int{4, 8, 16, 32, 64} {
		found := 0
		for first := 0; first < o.nq; first += 100 {
			req := &indexv1.SearchRequest{K: int32(o.k), Nprobe: int32(np)}
			for i := first; i < min(o.nq, first+100); i++ {
				req.Queries = append(req.Queries, &indexv1.Query{Vector: queries[i*o.dim : (i+1)*o.dim]})
			}
			resp, err := client.Search(ctx, req)
			if err != nil {
				return fail(err)
			}
			for i, r := range resp.GetResults() {
				q := first + i
				for _, h := range r.GetHits() {
					for _, l := range truth[q*o.k : (q+1)*o.k] {
						if l >= 0 && idOf[l] == h.GetId() {
							found++
						}
					}
				}
			}
		}
		label := strconv.Itoa(np)
		if np == shard.DefaultConfig().DefaultNprobe {
			label += " (default)"
		}
		fmt.Printf("| %s | %.3f |\n", label, float64(found)/float64(o.nq*o.k))
	}
	fmt.Println()
	return coll, client, stop, nil
}

// anonBytes reads the anonymous part of the resident set (heap memory, not
// file pages mapped by SQLite).
func anonBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
