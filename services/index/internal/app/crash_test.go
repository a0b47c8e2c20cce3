//go:build unix

package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/config"
	"github.com/arxivsearch/arxivsearch/platform/service"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/collection"
	"github.com/arxivsearch/arxivsearch/services/index/internal/server"
	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/snapshot"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// daemonEnv marks the helper process of the crash tests.
const daemonEnv = "INDEX_TEST_RUN_DAEMON"

// TestDaemonHelper is not a test: the crash tests run the test binary again
// with only this function selected and daemonEnv set, and it runs the real
// daemon (the same service.Main as cmd/index) with settings from the INDEX_*
// environment variables, until it is killed or signalled.
func TestDaemonHelper(t *testing.T) {
	if os.Getenv(daemonEnv) == "" {
		t.Skip("helper process of the crash tests")
	}
	os.Exit(service.Main("index", "INDEX", nil, os.Stderr, func(fs *config.FlagSet) service.Runner {
		cfg := DefineFlags(fs)
		return func(ctx context.Context, logger *slog.Logger) error {
			d, err := Start(*cfg, logger)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		}
	}))
}

// daemon is a running index process.
type daemon struct {
	cmd    *exec.Cmd
	addr   string
	conn   *grpc.ClientConn
	client indexv1.IndexServiceClient
	done   chan struct{} // closed when stderr is drained

	mu  sync.Mutex
	log strings.Builder // the daemon's stderr
}

var listeningRE = regexp.MustCompile(`msg="gRPC listening".* addr=(\S+)`)

// startDaemon runs the index on dataDir with settings that make it train
// and snapshot often, and waits until it is SERVING.
func startDaemon(t *testing.T, dataDir string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonHelper$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), daemonEnv+"=1",
		"OMP_NUM_THREADS=1",
		"INDEX_LISTEN=127.0.0.1:0",
		"INDEX_METRICS_LISTEN=",
		"INDEX_DATA_DIR="+dataDir,
		"INDEX_TOTAL_SHARDS=4",
		"INDEX_FLAT_THRESHOLD=80",
		"INDEX_TRAIN_POINTS_PER_LIST=39",
		"INDEX_SNAPSHOT_EVERY_CHANGES=60",
		"INDEX_SNAPSHOT_INTERVAL=250ms",
		"INDEX_SHUTDOWN_GRACE=5s",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
		if d.conn != nil {
			d.conn.Close()
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	select {
	case d.addr = <-addrc:
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not listen within 60s; log:\n%s", d.logText())
	}
	if d.conn, err = grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	d.client = indexv1.NewIndexServiceClient(d.conn)
	waitServing(t, d.conn)
	return d
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// kill sends SIGKILL and reaps the process.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	err := d.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("daemon ended with %v, not by SIGKILL", err)
	}
	d.conn.Close()
	d.conn = nil
}

// stop sends SIGTERM and waits for a clean exit (final snapshots).
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("daemon stopped with %v; log:\n%s", err, d.logText())
	}
	d.conn.Close()
	d.conn = nil
}

// crashPaper is paper n, version gen: a new vector for each gen.
func crashPaper(g *synth.Generator, n, gen int) *indexv1.Paper {
	return &indexv1.Paper{
		Id:         crashID(n),
		Title:      crashTitle(n, gen),
		Categories: []string{"cs.DB"},
		Vector:     g.Vector(),
	}
}

func crashID(n int) string { return fmt.Sprintf("2503.%05d", n) }

// crashTitle is the title of paper n, version gen. Every title holds
// "crash", which checkModesAgree searches.
func crashTitle(n, gen int) string {
	return fmt.Sprintf("Crash paper %d generation %d", n, gen)
}

// op is one write of the stream: an upsert or a delete.
type op struct {
	upsert []*indexv1.Paper
	delete []string
}

// writeStream writes until ctx is done or a write fails (the daemon died):
// each step upserts 10 new papers, replaces the vector of an older one and
// retitles another (same vector: the index keeps its key and only the
// metadata and the FTS entry change); every third step deletes an older
// paper. acked receives the state after every acknowledged write; the op
// in flight when the stream stops is returned, since it may or may not
// have been applied.
func writeStream(ctx context.Context, client indexv1.IndexServiceClient, g *synth.Generator, acked func(op)) (inflight op) {
	written := map[string]*indexv1.Paper{} // by this stream
	for step := 0; ctx.Err() == nil; step++ {
		var o op
		if step%3 == 2 {
			o.delete = []string{crashID((step-2)*10 + 1)}
		} else {
			for j := range 10 {
				o.upsert = append(o.upsert, crashPaper(g, step*10+j, 0))
			}
			if step >= 3 {
				o.upsert = append(o.upsert, crashPaper(g, (step-3)*10+2, step))
			}
			if old := written[crashID((step-4)*10+3)]; old != nil {
				o.upsert = append(o.upsert, &indexv1.Paper{Id: old.GetId(), Title: crashTitle((step-4)*10+3, step),
					Categories: old.GetCategories(), Vector: old.GetVector()})
			}
		}
		for _, p := range o.upsert {
			written[p.GetId()] = p
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if o.upsert != nil {
			_, err = client.UpsertPapers(cctx, &indexv1.UpsertPapersRequest{Model: "crash-model", Papers: o.upsert})
		} else {
			_, err = client.DeletePapers(cctx, &indexv1.DeletePapersRequest{Ids: o.delete})
		}
		cancel()
		if err != nil {
			return o
		}
		acked(o)
	}
	return op{}
}

// TestKillDuringWrites kills the daemon with SIGKILL in the middle of a
// stream of upserts, replacements and deletes (while it snapshots and
// trains in the background), restarts it, and checks that every
// acknowledged write is there and searchable and every shard loaded.
// Then it damages two snapshots of a cleanly stopped daemon and checks
// that both shards are rebuilt from their stores.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon as a subprocess")
	}
	dir := t.TempDir()
	g := synth.New(synth.Spec{Dim: 32, Seed: 7}, 2000)

	state := map[string]*indexv1.Paper{}
	h := newHistory()
	for round, killAfter := range []int{40, 90} {
		d := startDaemon(t, dir)
		if round > 0 {
			checkState(t, d, state, op{}, h)
		}
		ctx, cancel := context.WithCancel(context.Background())
		acks := 0
		var mu sync.Mutex
		var inflight op
		stream := make(chan struct{})
		roundState := map[string]*indexv1.Paper{}
		go func() {
			defer close(stream)
			inflight = writeStream(ctx, d.client, g, func(o op) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range o.upsert {
					roundState[p.GetId()] = p
				}
				for _, id := range o.delete {
					roundState[id] = nil
				}
				h.sent(o)
				acks++
			})
		}()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			mu.Lock()
			n := acks
			mu.Unlock()
			if n >= killAfter {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged in 2 minutes", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		d.kill(t) // while the stream writes
		<-stream
		cancel()
		h.sent(inflight)
		checkStores(t, dir)
		// The kill must have hit a daemon that snapshots and trains, so
		// the restart replays onto flat and IVF snapshots.
		killedLog := d.logText()
		for _, what := range []string{"snapshot written", "trained IVF index"} {
			if round == 1 && !strings.Contains(killedLog, what) {
				t.Errorf("the killed daemon's log never says %q: the test does not exercise it", what)
			}
		}
		// The stream restarts from step 0 each round: ids repeat, with new
		// vectors, so later rounds replace what earlier ones wrote.
		for id, p := range roundState {
			if p == nil {
				delete(state, id)
			} else {
				state[id] = p
			}
		}
		t.Logf("round %d: killed after %d acknowledged writes; %d papers expected", round, acks, len(state))

		d = startDaemon(t, dir)
		checkState(t, d, state, inflight, h)
		if round == 1 && !regexp.MustCompile(`loaded snapshot.* kind=ivf_flat`).MatchString(d.logText()) {
			t.Errorf("no shard restarted from an IVF snapshot; log:\n%s", d.logText())
		}
		// Settle the in-flight write one way or the other for the next
		// round: apply it again, now acknowledged.
		if inflight.upsert != nil {
			if _, err := d.client.UpsertPapers(context.Background(), &indexv1.UpsertPapersRequest{Model: "crash-model", Papers: inflight.upsert}); err != nil {
				t.Fatal(err)
			}
			for _, p := range inflight.upsert {
				state[p.GetId()] = p
			}
		} else if inflight.delete != nil {
			if _, err := d.client.DeletePapers(context.Background(), &indexv1.DeletePapersRequest{Ids: inflight.delete}); err != nil {
				t.Fatal(err)
			}
			for _, id := range inflight.delete {
				delete(state, id)
			}
		}
		d.stop(t)
	}

	// A cleanly stopped daemon left a snapshot per shard. Flip a byte in
	// one payload and truncate another.
	var damaged []int
	for sh := range 4 {
		sdir := collection.ShardDir(dir, sh)
		m, err := snapshot.ReadManifest(sdir)
		if err != nil {
			t.Fatalf("shard %d has no snapshot after a clean stop: %v", sh, err)
		}
		path := filepath.Join(sdir, m.Payload)
		switch len(damaged) {
		case 0:
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)*2/3] ^= 0x40
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := os.Truncate(path, m.PayloadBytes/2); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		damaged = append(damaged, sh)
	}
	d := startDaemon(t, dir)
	checkState(t, d, state, op{}, h)
	log := d.logText()
	if n := strings.Count(log, "snapshot is corrupt; rebuilding the index from the store"); n != 2 {
		t.Errorf("daemon log reports %d corrupt snapshots, want 2 (shards %v)", n, damaged)
	}
}

// checkState checks that the daemon holds exactly state, except for the
// papers of the in-flight op, which may be in either state; that every
// paper is found by its own vector; that every shard's index holds its
// store's papers; and that dense and lexical search agree with the store
// on every paper ever sent (see checkModesAgree).
func checkState(t *testing.T, d *daemon, state map[string]*indexv1.Paper, inflight op, h *history) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	maybe := map[string]bool{}
	for _, p := range inflight.upsert {
		maybe[p.GetId()] = true
	}
	for _, id := range inflight.delete {
		maybe[id] = true
	}
	var ids []string
	for id := range state {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	got, err := d.client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: ids, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]*indexv1.Paper{}
	for _, p := range got.GetPapers() {
		stored[p.GetId()] = p
	}
	for _, id := range ids {
		p, ok := stored[id]
		switch {
		case maybe[id]:
		case !ok:
			t.Errorf("acknowledged paper %s is missing after the restart", id)
		case !slices.Equal(p.GetVector(), state[id].GetVector()):
			t.Errorf("paper %s has a stale vector after the restart", id)
		case p.GetTitle() != state[id].GetTitle():
			t.Errorf("paper %s has the stale title %q after the restart, want %q", id, p.GetTitle(), state[id].GetTitle())
		}
	}
	stats, err := d.client.GetStats(ctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	extra := int64(0)
	for id := range maybe {
		if _, ok := state[id]; !ok {
			extra++ // an in-flight upsert of a new paper may have landed
		}
	}
	if n := stats.GetPapers(); n < int64(len(state))-int64(len(maybe)) || n > int64(len(state))+extra {
		t.Errorf("%d papers stored, want %d (give or take the %d of the write in flight)", n, len(state), len(maybe))
	}
	for _, s := range stats.GetShards() {
		if s.GetIndexedVectors() != s.GetPapers() {
			t.Errorf("shard %d: %d vectors indexed for %d papers", s.GetShard(), s.GetIndexedVectors(), s.GetPapers())
		}
	}
	// Every acknowledged paper is found by its own vector.
	var queries []*indexv1.Query
	var want []string
	for _, id := range ids {
		if !maybe[id] {
			queries = append(queries, &indexv1.Query{Vector: state[id].GetVector()})
			want = append(want, id)
		}
	}
	for len(queries) > 0 {
		n := min(len(queries), 500)
		resp, err := d.client.Search(ctx, &indexv1.SearchRequest{K: 1, Queries: queries[:n]})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.GetResults() {
			if h := r.GetHits(); len(h) != 1 || h[0].GetId() != want[i] {
				t.Errorf("paper %s (shard %d) not found by its own vector: %v", want[i], shardset.ShardOf(want[i], 4), h)
			}
		}
		queries, want = queries[n:], want[n:]
	}
	checkModesAgree(t, d, h)
}

// history is the last version sent of every paper the test sent,
// acknowledged or not, deleted since or not.
type history struct {
	last map[string]*indexv1.Paper
}

func newHistory() *history { return &history{last: map[string]*indexv1.Paper{}} }

func (h *history) sent(o op) {
	for _, p := range o.upsert {
		h.last[p.GetId()] = p
	}
}

// checkModesAgree checks, over every paper ever sent (deleted ones and
// those of a write in flight at a kill included), that a paper is found by
// dense search (its stored vector, or the last one sent when it is not
// stored, finds it first) iff lexical search finds it (a word of every
// title, searched shard by shard with k above the shard's size, lists
// every paper the FTS index holds) iff GetPapers returns it. The sets are
// compared whole; checkState has already compared the stored papers with
// the acknowledged writes. (A query per paper would be more direct, but
// under the race detector it costs seconds per hundred papers. That the
// FTS index holds each paper's current text, retitles included, is what
// checkStores checks after a kill.)
func checkModesAgree(t *testing.T, d *daemon, h *history) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := slices.Sorted(maps.Keys(h.last))
	got, err := d.client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: ids, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]*indexv1.Paper{}
	for _, p := range got.GetPapers() {
		stored[p.GetId()] = p
	}

	dense := map[string]bool{}
	for lo := 0; lo < len(ids); lo += 500 {
		batch := ids[lo:min(lo+500, len(ids))]
		var queries []*indexv1.Query
		for _, id := range batch {
			v := h.last[id].GetVector()
			if p := stored[id]; p != nil {
				v = p.GetVector()
			}
			queries = append(queries, &indexv1.Query{Vector: v})
		}
		resp, err := d.client.Search(ctx, &indexv1.SearchRequest{K: 1, Queries: queries})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.GetResults() {
			if hits := r.GetHits(); len(hits) == 1 && hits[0].GetId() == batch[i] {
				dense[batch[i]] = true
			}
		}
	}

	lexical := map[string]bool{}
	for sh := range 4 {
		resp, err := d.client.Search(ctx, &indexv1.SearchRequest{K: server.DefaultMaxK, Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL,
			Shards: []int32{int32(sh)}, Queries: []*indexv1.Query{{Text: "crash"}}})
		if err != nil {
			t.Fatal(err)
		}
		hits := resp.GetResults()[0].GetHits()
		if len(hits) == server.DefaultMaxK {
			t.Fatalf("shard %d: %d lexical hits, the most one search returns: the test needs fewer papers per shard", sh, len(hits))
		}
		for _, hit := range hits {
			if lexical[hit.GetId()] || h.last[hit.GetId()] == nil {
				t.Errorf("shard %d: unexpected lexical hit %s", sh, hit.GetId())
			}
			lexical[hit.GetId()] = true
		}
	}
	for _, id := range ids {
		if isStored := stored[id] != nil; dense[id] != isStored || lexical[id] != isStored {
			t.Errorf("paper %s (shard %d): stored %v, found by its vector %v, lexically %v",
				id, shardset.ShardOf(id, 4), isStored, dense[id], lexical[id])
		}
	}
}

// checkStores opens the store of every shard of a killed daemon, as it
// was left, and runs store.Check, whose FTS integrity check compares the
// whole lexical index with the papers table.
func checkStores(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	for sh := range 4 {
		path := filepath.Join(collection.ShardDir(dir, sh), shard.StoreFile)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("shard %d: %v", sh, err)
		}
		st, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatalf("shard %d: %v", sh, err)
		}
		if err := st.Check(ctx); err != nil {
			t.Errorf("shard %d after the kill: %v", sh, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
