package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/arxivsearch/arxivsearch/gateway/internal/fanout"
	"github.com/arxivsearch/arxivsearch/gateway/internal/testbackend"
	"github.com/arxivsearch/arxivsearch/platform/paper"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// embedder is an Embedder that records its batches; models names the
// model each call reports, in turn.
type embedder struct {
	mu      sync.Mutex
	batches [][]string
	models  []string
	err     error
}

func (e *embedder) Embed(_ context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return nil, e.err
	}
	e.batches = append(e.batches, req.GetTexts())
	model := "m"
	if len(e.models) > 0 {
		model = e.models[(len(e.batches)-1)%len(e.models)]
	}
	resp := &embedderv1.EmbedResponse{Model: model, Dimension: 8}
	for _, t := range req.GetTexts() {
		resp.Embeddings = append(resp.Embeddings, &embedderv1.Embedding{Vector: testbackend.Vector(t, 8), TokenCount: int32(len(t))})
	}
	return resp, nil
}

func (e *embedder) ModelInfo(context.Context) (*embedderv1.ModelInfo, error) {
	return &embedderv1.ModelInfo{Name: "m", Dimension: 8}, nil
}

// index is an Index that records what it is asked.
type index struct {
	mu          sync.Mutex
	writableErr error
	upserted    []*indexv1.Paper
	model       string
	searches    []*indexv1.SearchRequest
	hits        []*indexv1.Hit
	stored      map[string]*indexv1.Paper
	fetched     [][]string // ids of each GetPapers call
}

func (x *index) Search(_ context.Context, req *indexv1.SearchRequest, _ bool) (*fanout.SearchResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.searches = append(x.searches, req)
	return &fanout.SearchResult{Hits: [][]*indexv1.Hit{x.hits}}, nil
}

func (x *index) GetPaper(_ context.Context, id string, _ bool) (*indexv1.Paper, error) {
	if p, ok := x.stored[id]; ok {
		return p, nil
	}
	return nil, status.Errorf(codes.NotFound, "paper %s is not in the index", id)
}

func (x *index) GetPapers(_ context.Context, ids []string, _ bool) (map[string]*indexv1.Paper, []int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.fetched = append(x.fetched, ids)
	out := map[string]*indexv1.Paper{}
	for _, id := range ids {
		if p, ok := x.stored[id]; ok {
			out[id] = p
		}
	}
	return out, nil, nil
}

func (x *index) CheckWritable(context.Context, []string) error { return x.writableErr }

func (x *index) Upsert(_ context.Context, model string, papers []*indexv1.Paper) (fanout.UpsertResult, error) {
	x.model, x.upserted = model, papers
	return fanout.UpsertResult{Inserted: len(papers)}, nil
}

func (x *index) Delete(context.Context, string) (bool, error) { return false, nil }

func (x *index) Categories(context.Context) ([]*indexv1.CategoryCount, error) { return nil, nil }

func (x *index) FreshTopology(context.Context) fanout.Topology { return fanout.Topology{} }

func TestIngestEmbedsTheRuleTextInBatchesInOrder(t *testing.T) {
	e, x := &embedder{}, &index{}
	s := New(e, x, Options{EmbedBatch: 4})
	var in []*searchv1.PaperInput
	for i := range 10 {
		in = append(in, &searchv1.PaperInput{Id: fmt.Sprintf("2503.%05dv2", i), Title: fmt.Sprintf("Title %d", i),
			Abstract: fmt.Sprintf("Abstract\nof &quot;paper&quot; %d.", i), Categories: []string{"cs.CL", "cs.LG"}, Authors: []string{" A. Author "}})
	}
	resp, err := s.IngestPapers(context.Background(), &searchv1.IngestPapersRequest{Papers: in})
	if err != nil || resp.GetInserted() != 10 {
		t.Fatalf("IngestPapers = %v, %v", resp, err)
	}
	if len(e.batches) != 3 {
		t.Errorf("%d embedder calls for 10 texts in batches of 4, want 3", len(e.batches))
	}
	for i, p := range x.upserted {
		text := paper.EmbeddingText(paper.CleanText(in[i].GetTitle()), paper.CleanText(in[i].GetAbstract()))
		if p.GetId() != fmt.Sprintf("2503.%05d", i) || p.GetPrimaryCategory() != "cs.CL" || p.GetAuthors()[0] != "A. Author" ||
			p.GetAbstract() != fmt.Sprintf(`Abstract of "paper" %d.`, i) {
			t.Errorf("paper %d = %v", i, p)
		}
		vec := testbackend.Vector(text, 8)
		for j := range vec {
			if p.GetVector()[j] != vec[j] {
				t.Fatalf("paper %d has the vector of another text than EmbeddingText", i)
			}
		}
	}
	if x.model != "m" {
		t.Errorf("upserted with model %q", x.model)
	}
}

func TestHybridRanksWithoutMetadataThenFetchesTheKept(t *testing.T) {
	x := &index{
		hits: []*indexv1.Hit{{Id: "2503.00001", Score: 0.9}, {Id: "2503.00002", Score: 0.8}, {Id: "2503.00003", Score: 0.7}},
		stored: map[string]*indexv1.Paper{
			"2503.00001": {Id: "2503.00001", Title: "one"},
			"2503.00003": {Id: "2503.00003", Title: "three"},
		},
	}
	s := New(&embedder{}, x, Options{HybridDepth: 50})
	resp, err := s.Search(context.Background(), &searchv1.SearchRequest{Query: "q", K: 2, Mode: searchv1.SearchMode_SEARCH_MODE_HYBRID})
	if err != nil {
		t.Fatal(err)
	}
	if len(x.searches) != 2 {
		t.Fatalf("%d index searches, want a dense and a lexical one", len(x.searches))
	}
	for _, r := range x.searches {
		if !r.GetOmitPapers() || r.GetK() != 50 {
			t.Errorf("%v ranking: k %d, omit_papers %v; want 50 deep without metadata", r.GetMode(), r.GetK(), r.GetOmitPapers())
		}
	}
	// Only the k fused are fetched; 2503.00002 was deleted after ranking.
	if len(x.fetched) != 1 || !slices.Equal(x.fetched[0], []string{"2503.00001", "2503.00002"}) {
		t.Errorf("fetched %v, want the 2 kept once", x.fetched)
	}
	var got []string
	for _, r := range resp.GetResults() {
		got = append(got, r.GetId()+"="+r.GetTitle())
	}
	if !slices.Equal(got, []string{"2503.00001=one"}) {
		t.Errorf("results %v, want the kept paper that still exists, with its metadata", got)
	}
}

func TestIngestRefusedBeforeEmbedding(t *testing.T) {
	e := &embedder{}
	x := &index{writableErr: status.Error(codes.Unavailable, "nothing was written: index a:1 (shard 3) is down")}
	s := New(e, x, Options{})
	_, err := s.IngestPapers(context.Background(), &searchv1.IngestPapersRequest{Papers: []*searchv1.PaperInput{{Id: "2503.00001", Title: "t"}}})
	if status.Code(err) != codes.Unavailable || len(e.batches) != 0 {
		t.Errorf("err %v after %d embedder calls; want UNAVAILABLE before any", err, len(e.batches))
	}
}

func TestEmbedRefusesMixedModels(t *testing.T) {
	s := New(&embedder{models: []string{"a", "b"}}, &index{}, Options{EmbedBatch: 2})
	_, err := s.Embed(context.Background(), &searchv1.EmbedRequest{Texts: []string{"1", "2", "3", "4"}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "different models") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorsKeepTheirCode(t *testing.T) {
	s := New(&embedder{err: status.Error(codes.ResourceExhausted, "queue full")}, &index{}, Options{})
	_, err := s.Search(context.Background(), &searchv1.SearchRequest{Query: "x"})
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != "embedding the query: queue full" {
		t.Errorf("err = %v", err)
	}
}

func TestSimilarDropsThePaperItself(t *testing.T) {
	x := &index{
		stored: map[string]*indexv1.Paper{"2503.00001": {Id: "2503.00001", Vector: []float32{1, 0}}},
		hits:   []*indexv1.Hit{{Id: "2503.00002", Score: 0.9}, {Id: "2503.00001", Score: 0.8}, {Id: "2503.00003", Score: 0.7}},
	}
	s := New(&embedder{}, x, Options{})
	resp, err := s.SearchSimilar(context.Background(), &searchv1.SearchSimilarRequest{Id: "2503.00001v4", K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != 2 || resp.GetResults()[1].GetId() != "2503.00003" || resp.GetResults()[1].GetRank() != 2 {
		t.Errorf("results = %v", resp.GetResults())
	}
	q := x.searches[0].GetQueries()[0]
	if len(q.GetExcludeIds()) != 1 || q.GetExcludeIds()[0] != "2503.00001" || x.searches[0].GetK() != 3 {
		t.Errorf("index asked %v", x.searches[0])
	}
	if _, err := s.SearchSimilar(context.Background(), &searchv1.SearchSimilarRequest{Id: "2503.00009"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown paper: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]searchv1.SearchMode{"dense": searchv1.SearchMode_SEARCH_MODE_DENSE, " Hybrid ": searchv1.SearchMode_SEARCH_MODE_HYBRID, "lexical": searchv1.SearchMode_SEARCH_MODE_LEXICAL} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("bm25"); err == nil {
		t.Error("ParseMode(bm25) succeeded")
	}
}
