package fanout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/testbackend"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	total = 8
	dim   = 64
	model = "fake-hash-64"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// node is one fake index instance and its server.
type node struct {
	idx *testbackend.Index
	srv *testbackend.Server
}

// cluster starts one fake index instance per shard list ("0-3", "all")
// of a collection of total shards and a Cluster over them, refreshed once.
func cluster(t *testing.T, opts Options, shardLists ...string) (*Cluster, []node) {
	t.Helper()
	var idxs []*testbackend.Index
	for _, list := range shardLists {
		shards, err := shardset.Parse(strings.TrimPrefix(list, "all"), total)
		if err != nil {
			t.Fatal(err)
		}
		idxs = append(idxs, testbackend.NewIndex(total, shards...))
	}
	return clusterOf(t, opts, idxs...)
}

func clusterOf(t *testing.T, opts Options, idxs ...*testbackend.Index) (*Cluster, []node) {
	t.Helper()
	var nodes []node
	var insts []Instance
	for _, idx := range idxs {
		n := node{idx: idx, srv: testbackend.ServeIndex(t, idx)}
		nodes = append(nodes, n)
		insts = append(insts, Instance{Addr: n.srv.Addr(), Conn: dial(t, n.srv.Addr())})
	}
	opts.Logger = quiet
	c := New(insts, opts)
	c.Refresh(context.Background())
	return c, nodes
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// corpus returns n papers with fake vectors and categories.
func corpus(n int) []*indexv1.Paper {
	topics := []string{"quantum error correction codes", "transformer language models attention", "graph neural networks", "dark matter halos galaxies", "protein folding structure"}
	cats := [][]string{{"quant-ph"}, {"cs.CL", "cs.LG"}, {"cs.LG"}, {"astro-ph.CO"}, {"q-bio.BM", "cs.LG"}}
	var out []*indexv1.Paper
	for i := range n {
		title := fmt.Sprintf("%s study %d", topics[i%len(topics)], i)
		abstract := fmt.Sprintf("We study %s with method %d and variant %d.", topics[i%len(topics)], i%7, i%11)
		out = append(out, &indexv1.Paper{
			Id: fmt.Sprintf("2503.%05d", i), Title: title, Abstract: abstract, Categories: cats[i%len(cats)],
			PrimaryCategory: cats[i%len(cats)][0], Vector: testbackend.Vector(title+" "+abstract, dim),
		})
	}
	return out
}

// place stores each paper in every node that owns its shard.
func place(nodes []node, shardLists []string, papers []*indexv1.Paper) {
	for i, n := range nodes {
		owned, _ := shardset.Parse(strings.TrimPrefix(shardLists[i], "all"), total)
		for _, p := range papers {
			if slices.Contains(owned, shardset.ShardOf(p.GetId(), total)) {
				n.idx.Put(model, p)
			}
		}
	}
}

// bruteForce is the exact answer over all papers.
func bruteForce(papers []*indexv1.Paper, q []float32, k int, exclude ...string) []string {
	var hits []*indexv1.Hit
	for _, p := range papers {
		if slices.Contains(exclude, p.GetId()) {
			continue
		}
		var dot float32
		for i := range q {
			dot += q[i] * p.GetVector()[i]
		}
		hits = append(hits, &indexv1.Hit{Id: p.GetId(), Score: dot})
	}
	return ids(MergeTopK(hits, k))
}

func ids(hits []*indexv1.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.GetId()
	}
	return out
}

func searchReq(text string, k int) *indexv1.SearchRequest {
	return &indexv1.SearchRequest{K: int32(k), Model: model, Mode: indexv1.SearchMode_SEARCH_MODE_DENSE,
		Queries: []*indexv1.Query{{Vector: testbackend.Vector(text, dim), Text: text}}}
}

func TestSearchMergesExactly(t *testing.T) {
	lists := []string{"0-2", "3-5", "6-7"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(300)
	place(nodes, lists, papers)
	for _, k := range []int{1, 10, 100} {
		for _, q := range []string{"graph neural networks", "dark matter study 17", "nothing in common"} {
			res, err := c.Search(context.Background(), searchReq(q, k), false)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForce(papers, testbackend.Vector(q, dim), k)
			if got := ids(res.Hits[0]); !slices.Equal(got, want) {
				t.Errorf("k=%d %q: got %v, want %v", k, q, got, want)
			}
			if len(res.Missing) != 0 {
				t.Errorf("missing %v", res.Missing)
			}
		}
	}
	// Each instance was asked for exactly its own shards.
	for i, n := range nodes {
		owned, _ := shardset.Parse(lists[i], total)
		for _, r := range n.idx.Searches() {
			var got []int
			for _, s := range r.GetShards() {
				got = append(got, int(s))
			}
			if !slices.Equal(got, owned) {
				t.Errorf("node %d searched shards %v, want %v", i, got, owned)
			}
		}
	}
}

func TestReplicatedShardsSearchedOnceAndBalanced(t *testing.T) {
	lists := []string{"0-3", "4-7", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(120)
	place(nodes, lists, papers)
	const searches = 6
	for range searches {
		res, err := c.Search(context.Background(), searchReq("protein folding", 20), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(res.Hits[0]), bruteForce(papers, testbackend.Vector("protein folding", dim), 20); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Every shard is searched exactly once per request, and both replica
	// sets get a share of the requests.
	perShard := map[int32]int{}
	for _, n := range nodes {
		for _, r := range n.idx.Searches() {
			for _, s := range r.GetShards() {
				perShard[s]++
			}
		}
	}
	for s := range int32(total) {
		if perShard[s] != searches {
			t.Errorf("shard %d searched %d times in %d requests", s, perShard[s], searches)
		}
	}
	if len(nodes[2].idx.Searches()) == 0 || len(nodes[0].idx.Searches()) == 0 {
		t.Errorf("no load balancing: searches per node %d, %d, %d", len(nodes[0].idx.Searches()), len(nodes[1].idx.Searches()), len(nodes[2].idx.Searches()))
	}
}

func TestSearchFailsOverToReplica(t *testing.T) {
	lists := []string{"all", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(80)
	place(nodes, lists, papers)
	nodes[0].srv.Stop()
	for range 4 { // whichever replica round-robin picks first
		res, err := c.Search(context.Background(), searchReq("graph", 10), false)
		if err != nil {
			t.Fatalf("search with one replica down: %v", err)
		}
		if got, want := ids(res.Hits[0]), bruteForce(papers, testbackend.Vector("graph", dim), 10); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestSearchGivesUpOnHungReplica(t *testing.T) {
	lists := []string{"all", "all"}
	c, nodes := cluster(t, Options{CallTimeout: 200 * time.Millisecond}, lists...)
	papers := corpus(40)
	place(nodes, lists, papers)
	nodes[0].idx.SetDelay("Search", 5*time.Second)
	for range 2 {
		start := time.Now()
		res, err := c.Search(context.Background(), searchReq("graph", 5), false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits[0]) != 5 || time.Since(start) > 2*time.Second {
			t.Errorf("got %d hits after %v", len(res.Hits[0]), time.Since(start))
		}
	}
}

func TestMissingShards(t *testing.T) {
	lists := []string{"0-3", "4-7"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(100)
	place(nodes, lists, papers)
	nodes[1].srv.Stop()

	_, err := c.Search(context.Background(), searchReq("graph", 10), false)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shards 4-7 of 8 have no live replica") || !strings.Contains(st.Message(), nodes[1].srv.Addr()) {
		t.Fatalf("error = %v, want UNAVAILABLE naming shards 4-7 and the instance", err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			info = ei
		}
	}
	if info.GetReason() != ReasonShardsUnavailable || info.GetMetadata()["missing_shards"] != "4-7" {
		t.Errorf("error details = %v", st.Details())
	}

	res, err := c.Search(context.Background(), searchReq("graph", 10), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Missing, []int{4, 5, 6, 7}) {
		t.Errorf("missing = %v", res.Missing)
	}
	var live []*indexv1.Paper
	for _, p := range papers {
		if shardset.ShardOf(p.GetId(), total) < 4 {
			live = append(live, p)
		}
	}
	if got, want := ids(res.Hits[0]), bruteForce(live, testbackend.Vector("graph", dim), 10); !slices.Equal(got, want) {
		t.Errorf("partial hits %v, want %v", got, want)
	}

	// The instance comes back: a search soon finds it, without waiting for
	// a periodic refresh (this cluster runs none).
	nodes[1].srv.Restart()
	eventually(t, func() error {
		res, err := c.Search(context.Background(), searchReq("graph", 10), false)
		if err != nil {
			return err
		}
		if got, want := ids(res.Hits[0]), bruteForce(papers, testbackend.Vector("graph", dim), 10); !slices.Equal(got, want) {
			t.Errorf("after restart got %v, want %v", got, want)
		}
		return nil
	})
}

// eventually retries f for up to 5s, the time a restarted instance may
// take to be reconnected.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after 5s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSearchErrorsThatNoReplicaFixes(t *testing.T) {
	c, nodes := cluster(t, Options{}, "all", "all")
	for _, n := range nodes {
		n.idx.SetError("Search", status.Error(codes.InvalidArgument, "query vector has 3 dimensions, the collection 64"))
	}
	_, err := c.Search(context.Background(), searchReq("x", 5), false)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "3 dimensions") {
		t.Errorf("error = %v, want the index's INVALID_ARGUMENT", err)
	}
	if n := nodes[0].idx.Calls("Search") + nodes[1].idx.Calls("Search"); n != 1 {
		t.Errorf("%d search calls, want 1 (not retried)", n)
	}

	// A model that differs from the collection's is not a dead replica.
	for _, n := range nodes {
		n.idx.SetError("Search", status.Error(codes.FailedPrecondition, `model "other" differs from the collection's "fake-hash-64"`))
	}
	if _, err := c.Search(context.Background(), searchReq("x", 5), false); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("error = %v, want the index's FAILED_PRECONDITION", err)
	}
	for _, in := range c.Topology().Instances {
		if !in.Up {
			t.Errorf("instance %s marked down by a refused request", in.Addr)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for _, n := range nodes {
		n.idx.SetError("Search", nil)
		n.idx.SetDelay("Search", time.Second)
	}
	if _, err := c.Search(ctx, searchReq("x", 5), false); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("error = %v, want DEADLINE_EXCEEDED", err)
	}
}

func TestMergeTopK(t *testing.T) {
	h := func(id string, score float32) *indexv1.Hit { return &indexv1.Hit{Id: id, Score: score} }
	tests := []struct {
		name string
		in   []*indexv1.Hit
		k    int
		want []string
	}{
		{"by score", []*indexv1.Hit{h("a", 0.1), h("b", 0.9), h("c", 0.5)}, 3, []string{"b", "c", "a"}},
		{"ties by id", []*indexv1.Hit{h("z", 0.5), h("a", 0.5), h("m", 0.5)}, 2, []string{"a", "m"}},
		{"duplicates once", []*indexv1.Hit{h("a", 0.5), h("a", 0.7), h("b", 0.6)}, 3, []string{"a", "b"}},
		{"k beyond", []*indexv1.Hit{h("a", 1)}, 10, []string{"a"}},
		{"empty", nil, 10, []string{}},
		{"negative scores", []*indexv1.Hit{h("a", -0.2), h("b", -0.1)}, 1, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(MergeTopK(tt.in, tt.k)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUpsertWritesEveryReplica(t *testing.T) {
	lists := []string{"0-3", "4-7", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(60)
	res, err := c.Upsert(context.Background(), model, papers)
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpsertResult{Inserted: 60}) {
		t.Errorf("first upsert = %+v, want 60 inserted", res)
	}
	for _, p := range papers {
		s := shardset.ShardOf(p.GetId(), total)
		onA, onB, onC := nodes[0].idx.Has(p.GetId()), nodes[1].idx.Has(p.GetId()), nodes[2].idx.Has(p.GetId())
		if onA != (s < 4) || onB != (s >= 4) || !onC {
			t.Errorf("paper %s (shard %d) stored on A=%v B=%v C=%v", p.GetId(), s, onA, onB, onC)
		}
	}
	if res, err = c.Upsert(context.Background(), model, papers[:10]); err != nil || res != (UpsertResult{Replaced: 10}) {
		t.Errorf("second upsert = %+v, %v; want 10 replaced", res, err)
	}
}

func TestUpsertRefusedWhenAReplicaIsDown(t *testing.T) {
	c, nodes := cluster(t, Options{}, "0-3", "4-7", "all")
	nodes[2].srv.Stop()
	c.Refresh(context.Background())
	_, err := c.Upsert(context.Background(), model, corpus(20))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "nothing was written") || !strings.Contains(err.Error(), nodes[2].srv.Addr()) {
		t.Errorf("error = %v, want UNAVAILABLE saying nothing was written and naming the instance", err)
	}
	for _, n := range nodes[:2] {
		if n.idx.Len() != 0 {
			t.Errorf("%v holds %d papers after a refused write", n.idx, n.idx.Len())
		}
	}
}

func TestUpsertRefusedWhileAnInstanceNeverAnswered(t *testing.T) {
	idx := testbackend.NewIndex(total, 0, 1, 2, 3, 4, 5, 6, 7)
	srv := testbackend.ServeIndex(t, idx)
	c := New([]Instance{{Addr: srv.Addr(), Conn: dial(t, srv.Addr())}, {Addr: "127.0.0.1:1", Conn: dial(t, "127.0.0.1:1")}}, Options{Logger: quiet})
	c.Refresh(context.Background())
	_, err := c.Upsert(context.Background(), model, corpus(3))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "127.0.0.1:1 has not reported its shards") {
		t.Errorf("error = %v", err)
	}
	// Reads only need a live replica per shard.
	if _, err := c.Search(context.Background(), searchReq("x", 3), false); err != nil {
		t.Errorf("search: %v", err)
	}
}

func TestUpsertPartialFailureIsReported(t *testing.T) {
	c, nodes := cluster(t, Options{}, "all", "all")
	nodes[1].idx.SetError("UpsertPapers", status.Error(codes.Internal, "disk full"))
	_, err := c.Upsert(context.Background(), model, corpus(5))
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.Internal || !strings.Contains(msg, "disk full") || !strings.Contains(msg, "written: shard") ||
		!strings.Contains(msg, "retry the whole batch") {
		t.Errorf("error = %v", err)
	}
}

func TestGetPaperAndDelete(t *testing.T) {
	lists := []string{"all", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(10)
	place(nodes, lists, papers)
	id := papers[3].GetId()

	nodes[0].srv.Stop() // reads fail over
	p, err := c.GetPaper(context.Background(), id, true)
	if err != nil || p.GetTitle() != papers[3].GetTitle() || len(p.GetVector()) != dim {
		t.Fatalf("GetPaper = %v, %v", p, err)
	}
	if _, err := c.GetPaper(context.Background(), "2503.99999", false); status.Code(err) != codes.NotFound {
		t.Errorf("GetPaper of an unknown id: %v", err)
	}
	// Deletes need every replica.
	if _, err := c.Delete(context.Background(), id); status.Code(err) != codes.Unavailable {
		t.Errorf("Delete with a replica down: %v", err)
	}
	nodes[0].srv.Restart()
	eventually(t, func() error {
		ok, err := c.Delete(context.Background(), id)
		if err == nil && !ok {
			return fmt.Errorf("Delete = false, want true")
		}
		return err
	})
	if nodes[0].idx.Has(id) || nodes[1].idx.Has(id) {
		t.Error("paper still stored after delete")
	}
	if ok, err := c.Delete(context.Background(), id); ok || err != nil {
		t.Errorf("second Delete = %v, %v; want false, nil", ok, err)
	}
}

func TestGetPapersAsksEachShardOnceAndFailsOver(t *testing.T) {
	lists := []string{"0-3", "4-7", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(30)
	place(nodes, lists, papers)
	var ids []string
	for _, p := range papers[:12] {
		ids = append(ids, p.GetId())
	}
	ids = append(ids, "2503.99999") // never stored

	nodes[2].srv.Stop() // the replica of every shard: reads go to the others
	got, missing, err := c.GetPapers(context.Background(), ids, false)
	if err != nil || len(missing) != 0 {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Errorf("%d papers, want the 12 stored", len(got))
	}
	for _, p := range papers[:12] {
		g := got[p.GetId()]
		if g.GetTitle() != p.GetTitle() || len(g.GetVector()) != 0 {
			t.Errorf("paper %s = %v; want its metadata without the vector", p.GetId(), g)
		}
	}
	shards := map[int]bool{}
	for _, id := range ids {
		shards[shardset.ShardOf(id, total)] = true
	}
	if n := nodes[0].idx.Calls("GetPapers") + nodes[1].idx.Calls("GetPapers"); n != len(shards) {
		t.Errorf("%d GetPapers calls for ids of %d shards, want one per shard", n, len(shards))
	}

	nodes[0].srv.Stop() // shards 0-3 have no replica left
	_, _, err = c.GetPapers(context.Background(), ids, false)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "no live replica") {
		t.Errorf("with shards 0-3 down: %v, want UNAVAILABLE naming them", err)
	}
	got, missing, err = c.GetPapers(context.Background(), ids, true)
	if err != nil {
		t.Fatalf("allowing partial results: %v", err)
	}
	var wantMissing []int
	for s := range shards {
		if s <= 3 {
			wantMissing = append(wantMissing, s)
		}
	}
	slices.Sort(wantMissing)
	if !slices.Equal(missing, wantMissing) {
		t.Errorf("missing %v, want the asked shards among 0-3: %v", missing, wantMissing)
	}
	for id := range got {
		if s := shardset.ShardOf(id, total); s <= 3 {
			t.Errorf("paper %s of down shard %d returned", id, s)
		}
	}
	if len(got) == 0 {
		t.Error("no paper of shards 4-7 returned")
	}
}

func TestCategoriesCountEachShardOnce(t *testing.T) {
	lists := []string{"0-3", "4-7", "all"}
	c, nodes := cluster(t, Options{}, lists...)
	papers := corpus(50)
	place(nodes, lists, papers)
	want := map[string][2]int64{}
	for _, p := range papers {
		for i, cat := range p.GetCategories() {
			w := want[cat]
			w[1]++
			if i == 0 {
				w[0]++
			}
			want[cat] = w
		}
	}
	check := func(name string) {
		t.Helper()
		got, err := c.Categories(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d categories, want %d", name, len(got), len(want))
		}
		for i, cc := range got {
			if w := want[cc.GetCategory()]; cc.GetPrimary() != w[0] || cc.GetTotal() != w[1] {
				t.Errorf("%s: %s = %d/%d, want %d/%d", name, cc.GetCategory(), cc.GetPrimary(), cc.GetTotal(), w[0], w[1])
			}
			if i > 0 && got[i-1].GetTotal() < cc.GetTotal() {
				t.Errorf("%s: not sorted by total", name)
			}
		}
	}
	check("all up")
	nodes[0].srv.Stop()
	c.Refresh(context.Background())
	check("A down, C alone")
	nodes[0].srv.Restart()
	nodes[2].srv.Stop()
	eventually(t, func() error {
		c.Refresh(context.Background())
		_, err := c.Categories(context.Background())
		return err
	})
	check("C down, A and B")
}

func TestCategoriesWithoutExactCover(t *testing.T) {
	c, _ := cluster(t, Options{}, "0-4", "3-7")
	_, err := c.Categories(context.Background())
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "exactly once") {
		t.Errorf("error = %v", err)
	}
}

func TestTopology(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	c, nodes := clusterOf(t, Options{},
		testbackend.NewIndex(total, 0, 1, 2, 3), testbackend.NewIndex(total, 4, 5, 6, 7), testbackend.NewIndex(total, all...),
		testbackend.NewIndex(16, 0, 1)) // disagrees on the shard count
	place(nodes[:3], []string{"0-3", "4-7", "all"}, corpus(40))
	nodes[1].srv.Stop()
	c.Refresh(context.Background())
	top := c.Topology()
	if top.TotalShards != total || top.Model != model || top.Dimension != dim {
		t.Errorf("topology = %d shards, model %q dim %d", top.TotalShards, top.Model, top.Dimension)
	}
	if top.PapersIndexed != 40 || len(top.Missing) != 0 || len(top.Unowned) != 0 {
		t.Errorf("papers %d, missing %v, unowned %v; want 40, none, none", top.PapersIndexed, top.Missing, top.Unowned)
	}
	if r := top.Shards[5].Replicas; len(r) != 2 || r[0].Serving || !r[1].Serving || r[1].Papers == 0 {
		t.Errorf("shard 5 replicas = %+v, want B down and C serving", r)
	}
	if len(top.Shards[0].Replicas) != 2 {
		t.Errorf("shard 0 replicas = %+v, want A and C only", top.Shards[0].Replicas)
	}
	if in := top.Instances[3]; in.Up || !strings.Contains(in.Err, "16 total shards") {
		t.Errorf("instance with 16 shards = %+v", in)
	}
	// With C down too, shards 4-7 have no live replica.
	nodes[2].srv.Stop()
	c.Refresh(context.Background())
	if top := c.Topology(); !slices.Equal(top.Missing, []int{4, 5, 6, 7}) {
		t.Errorf("missing = %v", top.Missing)
	}
}
