// Package server implements arxivsearch.search.v1.SearchService, the public
// API, on top of the embedder and the index instances: it checks requests,
// embeds texts, and hands searches and writes to the index fan-out.
package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/fanout"
	"github.com/arxivsearch/arxivsearch/gateway/internal/fusion"
	"github.com/arxivsearch/arxivsearch/platform/paper"
	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Embedder turns texts into vectors.
type Embedder interface {
	Embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error)
	ModelInfo(ctx context.Context) (*embedderv1.ModelInfo, error)
}

// Index is the collection spread over the index instances.
type Index interface {
	Search(ctx context.Context, req *indexv1.SearchRequest, allowPartial bool) (*fanout.SearchResult, error)
	GetPaper(ctx context.Context, id string, withVector bool) (*indexv1.Paper, error)
	// GetPapers returns the stored papers among ids, without vectors; with
	// allowPartial, shards without a live replica are listed in missing.
	GetPapers(ctx context.Context, ids []string, allowPartial bool) (map[string]*indexv1.Paper, []int, error)
	CheckWritable(ctx context.Context, ids []string) error
	Upsert(ctx context.Context, model string, papers []*indexv1.Paper) (fanout.UpsertResult, error)
	Delete(ctx context.Context, id string) (bool, error)
	Categories(ctx context.Context) ([]*indexv1.CategoryCount, error)
	// FreshTopology says where shards live and how many papers they hold,
	// refreshed when stale.
	FreshTopology(ctx context.Context) fanout.Topology
}

// Limits of the public API. Requests beyond them are refused with
// INVALID_ARGUMENT saying which limit.
const (
	DefaultK        = 10
	MaxK            = 100
	MaxNprobe       = 1024
	MaxQueryBytes   = 32 << 10
	MaxCategories   = 32
	MaxEmbedTexts   = 128
	MaxIngestPapers = 256
	maxTitleBytes   = 4 << 10
	maxAbstractSize = 32 << 10
	maxAuthors      = 2000
	maxFieldBytes   = 4 << 10
	maxCategorySize = 64
)

// Options configures a Server.
type Options struct {
	// DefaultMode is the search mode of requests that name none.
	DefaultMode searchv1.SearchMode
	// Fusion weighs the rankings of hybrid searches; zero means
	// fusion.Defaults.
	Fusion fusion.Params
	// HybridDepth is how deep the dense and the lexical ranking of a hybrid
	// search go before fusion (at least k); 0 means 100. Fusion can only
	// promote what a ranking returned, and a hit at rank 100 of one ranking
	// still outranks one found by neither.
	HybridDepth int
	// EmbedBatch is the most texts sent to the embedder in one call; 0
	// means 32. Larger requests are split and the parts sent in parallel.
	EmbedBatch int
	// Version is the build version GetInfo reports.
	Version string
	Logger  *slog.Logger
}

// Server answers SearchService calls.
type Server struct {
	searchv1.UnimplementedSearchServiceServer
	embedder Embedder
	index    Index
	opts     Options
}

// New returns a Server.
func New(embedder Embedder, index Index, opts Options) *Server {
	if opts.DefaultMode == searchv1.SearchMode_SEARCH_MODE_UNSPECIFIED {
		opts.DefaultMode = searchv1.SearchMode_SEARCH_MODE_DENSE
	}
	if opts.EmbedBatch <= 0 {
		opts.EmbedBatch = 32
	}
	if opts.Fusion == (fusion.Params{}) {
		opts.Fusion = fusion.Defaults
	}
	if opts.HybridDepth <= 0 {
		opts.HybridDepth = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{embedder: embedder, index: index, opts: opts}
}

// ParseMode reads a search mode as the -default-mode flag writes it:
// dense, lexical or hybrid.
func ParseMode(s string) (searchv1.SearchMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "dense":
		return searchv1.SearchMode_SEARCH_MODE_DENSE, nil
	case "lexical":
		return searchv1.SearchMode_SEARCH_MODE_LEXICAL, nil
	case "hybrid":
		return searchv1.SearchMode_SEARCH_MODE_HYBRID, nil
	}
	return 0, fmt.Errorf("search mode %q: want dense, lexical or hybrid", s)
}

func indexMode(m searchv1.SearchMode) indexv1.SearchMode {
	switch m {
	case searchv1.SearchMode_SEARCH_MODE_LEXICAL:
		return indexv1.SearchMode_SEARCH_MODE_LEXICAL
	case searchv1.SearchMode_SEARCH_MODE_HYBRID:
		return indexv1.SearchMode_SEARCH_MODE_HYBRID
	}
	return indexv1.SearchMode_SEARCH_MODE_DENSE
}

// searchParams are the checked parameters shared by Search and
// SearchSimilar.
type searchParams struct {
	k          int32
	nprobe     int32
	categories []string
}

func checkSearchParams(v *violations, k, nprobe int32, categories []string) searchParams {
	p := searchParams{k: k, nprobe: nprobe}
	switch {
	case k == 0:
		p.k = DefaultK
	case k < 1 || k > MaxK:
		v.add("k", "%d is out of range: use 1..%d (0 means %d)", k, MaxK, DefaultK)
	}
	if nprobe < 0 || nprobe > MaxNprobe {
		v.add("nprobe", "%d is out of range: use 1..%d (0 means the server's default)", nprobe, MaxNprobe)
	}
	if len(categories) > MaxCategories {
		v.add("categories", "%d categories: give at most %d", len(categories), MaxCategories)
	}
	for i, c := range categories {
		if msg := categoryProblem(c); msg != "" {
			v.add(fmt.Sprintf("categories[%d]", i), "%s", msg)
		}
		p.categories = append(p.categories, strings.TrimSpace(c))
	}
	return p
}

func categoryProblem(c string) string {
	c = strings.TrimSpace(c)
	switch {
	case c == "":
		return "is empty: give an arXiv category such as cs.CL"
	case len(c) > maxCategorySize:
		return fmt.Sprintf("is %d bytes long; arXiv categories are short, such as cs.CL", len(c))
	case strings.ContainsFunc(c, isSpaceOrControl):
		return fmt.Sprintf("%q contains white space: give one category per entry, such as cs.CL", c)
	}
	return ""
}

// Search finds papers similar to a free-text query or an abstract.
func (s *Server) Search(ctx context.Context, req *searchv1.SearchRequest) (*searchv1.SearchResponse, error) {
	start := time.Now()
	var v violations
	query := strings.TrimSpace(req.GetQuery())
	switch {
	case query == "":
		v.add("query", "is empty: send free text or an abstract")
	case len(query) > MaxQueryBytes:
		v.add("query", "is %d bytes: send at most %d (an abstract is about 1,500)", len(query), MaxQueryBytes)
	}
	p := checkSearchParams(&v, req.GetK(), req.GetNprobe(), req.GetCategories())
	mode := req.GetMode()
	switch mode {
	case searchv1.SearchMode_SEARCH_MODE_UNSPECIFIED:
		mode = s.opts.DefaultMode
	case searchv1.SearchMode_SEARCH_MODE_DENSE, searchv1.SearchMode_SEARCH_MODE_LEXICAL, searchv1.SearchMode_SEARCH_MODE_HYBRID:
	default:
		v.add("mode", "%d is not a search mode: use SEARCH_MODE_DENSE, SEARCH_MODE_LEXICAL or SEARCH_MODE_HYBRID", int32(mode))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	q := &indexv1.Query{}
	ireq := &indexv1.SearchRequest{Queries: []*indexv1.Query{q}, K: p.k, Nprobe: p.nprobe, Categories: p.categories, Mode: indexMode(mode)}
	if mode != searchv1.SearchMode_SEARCH_MODE_LEXICAL {
		resp, err := s.embedder.Embed(ctx, &embedderv1.EmbedRequest{Texts: []string{query}})
		if err != nil {
			return nil, annotate(err, "embedding the query")
		}
		q.Vector = resp.GetEmbeddings()[0].GetVector()
		// The index refuses a query from another model than its vectors'.
		ireq.Model = resp.GetModel()
	}
	if mode != searchv1.SearchMode_SEARCH_MODE_DENSE {
		q.Text = query
	}
	var res *fanout.SearchResult
	var err error
	if mode == searchv1.SearchMode_SEARCH_MODE_HYBRID {
		res, err = s.hybrid(ctx, ireq, req.GetAllowPartial())
	} else {
		res, err = s.index.Search(ctx, ireq, req.GetAllowPartial())
	}
	if err != nil {
		return nil, annotate(err, "searching the index")
	}
	return &searchv1.SearchResponse{
		Results: results(res.Hits[0]), TookMs: ms(time.Since(start)), Mode: mode,
		Partial: len(res.Missing) > 0, MissingShards: int32s(res.Missing),
	}, nil
}

// hybrid runs the dense and the lexical ranking of req's one query over the
// whole collection, in parallel, and fuses them (package fusion). Each
// ranking is merged across shards and instances before fusion, so the ranks
// fused, and reported in MatchInfo, are the collection's. The rankings go
// HybridDepth deep without metadata; only the k papers kept are fetched,
// since metadata made a 100-deep ranking cost 1.5x a 10-deep one.
func (s *Server) hybrid(ctx context.Context, req *indexv1.SearchRequest, allowPartial bool) (*fanout.SearchResult, error) {
	q := req.GetQueries()[0]
	depth := max(req.GetK(), int32(s.opts.HybridDepth))
	dreq := &indexv1.SearchRequest{Queries: []*indexv1.Query{{Vector: q.GetVector(), ExcludeIds: q.GetExcludeIds()}},
		K: depth, Nprobe: req.GetNprobe(), Categories: req.GetCategories(), Model: req.GetModel(), Mode: indexv1.SearchMode_SEARCH_MODE_DENSE,
		OmitPapers: true}
	lreq := &indexv1.SearchRequest{Queries: []*indexv1.Query{{Text: q.GetText(), ExcludeIds: q.GetExcludeIds()}},
		K: depth, Categories: req.GetCategories(), Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL, OmitPapers: true}
	var lres *fanout.SearchResult
	var lerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		lres, lerr = s.index.Search(ctx, lreq, allowPartial)
	}()
	dres, derr := s.index.Search(ctx, dreq, allowPartial)
	<-done
	if err := cmp.Or(derr, lerr); err != nil {
		return nil, err
	}
	fused := fusion.Fuse(dres.Hits[0], lres.Hits[0], s.opts.Fusion, int(req.GetK()))
	ids := make([]string, len(fused))
	for i, h := range fused {
		ids[i] = h.GetId()
	}
	papers, gone, err := s.index.GetPapers(ctx, ids, allowPartial)
	if err != nil {
		return nil, err
	}
	// A shard lost between ranking and fetching is missing like one lost
	// before: its hits are dropped and the answer says it is partial.
	missing := slices.Sorted(maps.Keys(setOf(dres.Missing, lres.Missing, gone)))
	hits := make([]*indexv1.Hit, 0, len(fused))
	for _, h := range fused {
		// A paper deleted since it was ranked is dropped, as the index
		// drops one deleted between its search and its metadata read.
		if p, ok := papers[h.GetId()]; ok {
			h.Paper = p
			hits = append(hits, h)
		}
	}
	return &fanout.SearchResult{Hits: [][]*indexv1.Hit{hits}, Missing: missing, Nprobe: dres.Nprobe}, nil
}

func setOf(lists ...[]int) map[int]bool {
	m := make(map[int]bool)
	for _, l := range lists {
		for _, x := range l {
			m[x] = true
		}
	}
	return m
}

// SearchSimilar finds papers similar to a stored paper, by its stored
// vector; the paper itself is excluded.
func (s *Server) SearchSimilar(ctx context.Context, req *searchv1.SearchSimilarRequest) (*searchv1.SearchSimilarResponse, error) {
	start := time.Now()
	var v violations
	id := v.id("id", req.GetId())
	p := checkSearchParams(&v, req.GetK(), req.GetNprobe(), req.GetCategories())
	if err := v.err(); err != nil {
		return nil, err
	}
	src, err := s.index.GetPaper(ctx, id, true)
	if err != nil {
		return nil, annotate(err, "fetching the paper")
	}
	if len(src.GetVector()) == 0 {
		return nil, status.Errorf(codes.Internal, "the index returned paper %s without its vector", id)
	}
	res, err := s.index.Search(ctx, &indexv1.SearchRequest{
		Queries: []*indexv1.Query{{Vector: src.GetVector(), ExcludeIds: []string{id}}},
		K:       p.k, Nprobe: p.nprobe, Categories: p.categories, Mode: indexv1.SearchMode_SEARCH_MODE_DENSE,
	}, req.GetAllowPartial())
	if err != nil {
		return nil, annotate(err, "searching the index")
	}
	hits := res.Hits[0]
	// The index excludes the paper; never return it even if it did not.
	for i, h := range hits {
		if h.GetId() == id {
			hits = append(hits[:i:i], hits[i+1:]...)
			break
		}
	}
	return &searchv1.SearchSimilarResponse{
		Results: results(hits), TookMs: ms(time.Since(start)),
		Partial: len(res.Missing) > 0, MissingShards: int32s(res.Missing),
	}, nil
}

// GetPaper returns one stored paper.
func (s *Server) GetPaper(ctx context.Context, req *searchv1.GetPaperRequest) (*searchv1.GetPaperResponse, error) {
	var v violations
	id := v.id("id", req.GetId())
	if err := v.err(); err != nil {
		return nil, err
	}
	p, err := s.index.GetPaper(ctx, id, false)
	if err != nil {
		return nil, annotate(err, "fetching the paper")
	}
	return &searchv1.GetPaperResponse{Paper: &searchv1.Paper{
		Id: p.GetId(), Title: p.GetTitle(), Abstract: p.GetAbstract(), Authors: p.GetAuthors(),
		Categories: p.GetCategories(), PrimaryCategory: primary(p), UpdateDate: p.GetUpdateDate(),
		Comments: p.GetComments(), AbsUrl: paper.AbsURL(p.GetId()), PdfUrl: paper.PDFURL(p.GetId()),
	}}, nil
}

// IngestPapers cleans papers (paper.CleanText), embeds them
// (paper.EmbeddingText of the cleaned title and abstract) and writes them
// to every replica of their shards.
func (s *Server) IngestPapers(ctx context.Context, req *searchv1.IngestPapersRequest) (*searchv1.IngestPapersResponse, error) {
	start := time.Now()
	papers, err := checkPapers(req.GetPapers())
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(papers))
	texts := make([]string, len(papers))
	for i, p := range papers {
		ids[i] = p.GetId()
		texts[i] = paper.EmbeddingText(p.GetTitle(), p.GetAbstract())
	}
	// Refuse before embedding when a replica is down: the write would fail.
	if err := s.index.CheckWritable(ctx, ids); err != nil {
		return nil, err
	}
	embs, model, err := s.embed(ctx, texts)
	if err != nil {
		return nil, annotate(err, "embedding the papers")
	}
	for i, p := range papers {
		p.Vector = embs[i].GetVector()
	}
	res, err := s.index.Upsert(ctx, model, papers)
	if err != nil {
		return nil, annotate(err, "storing the papers")
	}
	s.opts.Logger.InfoContext(ctx, "papers ingested", "papers", len(papers), "inserted", res.Inserted, "replaced", res.Replaced)
	return &searchv1.IngestPapersResponse{Inserted: int32(res.Inserted), Replaced: int32(res.Replaced), TookMs: ms(time.Since(start))}, nil
}

// checkPapers validates an ingest batch and converts it to index papers.
func checkPapers(in []*searchv1.PaperInput) ([]*indexv1.Paper, error) {
	var v violations
	switch {
	case len(in) == 0:
		v.add("papers", "is empty: send at least one paper")
	case len(in) > MaxIngestPapers:
		v.add("papers", "%d papers: send at most %d per request", len(in), MaxIngestPapers)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	out := make([]*indexv1.Paper, 0, len(in))
	for i, p := range in {
		f := func(name string) string { return fmt.Sprintf("papers[%d].%s", i, name) }
		id := v.id(f("id"), p.GetId())
		if j, dup := seen[id]; dup && id != "" {
			v.add(f("id"), "%s is also papers[%d]: send each paper once", id, j)
		}
		seen[id] = i
		// Stored as the pipeline stores its split files (paper.CleanText).
		title, abstract := paper.CleanText(p.GetTitle()), paper.CleanText(p.GetAbstract())
		if title == "" && abstract == "" {
			v.add(f("title"), "title and abstract are both empty: give at least one, they are what is embedded")
		}
		if len(title) > maxTitleBytes {
			v.add(f("title"), "is %d bytes: at most %d", len(title), maxTitleBytes)
		}
		if len(abstract) > maxAbstractSize {
			v.add(f("abstract"), "is %d bytes: at most %d", len(abstract), maxAbstractSize)
		}
		if len(p.GetComments()) > maxFieldBytes {
			v.add(f("comments"), "is %d bytes: at most %d", len(p.GetComments()), maxFieldBytes)
		}
		if len(p.GetAuthors()) > maxAuthors {
			v.add(f("authors"), "%d authors: at most %d", len(p.GetAuthors()), maxAuthors)
		}
		var authors []string
		for j, a := range p.GetAuthors() {
			a = strings.Join(strings.Fields(a), " ")
			switch {
			case a == "":
				v.add(fmt.Sprintf("papers[%d].authors[%d]", i, j), "is empty")
			case len(a) > maxFieldBytes:
				v.add(fmt.Sprintf("papers[%d].authors[%d]", i, j), "is %d bytes: at most %d", len(a), maxFieldBytes)
			}
			authors = append(authors, a)
		}
		if len(p.GetCategories()) > MaxCategories {
			v.add(f("categories"), "%d categories: at most %d", len(p.GetCategories()), MaxCategories)
		}
		var cats []string
		for j, c := range p.GetCategories() {
			if msg := categoryProblem(c); msg != "" {
				v.add(fmt.Sprintf("papers[%d].categories[%d]", i, j), "%s", msg)
			}
			cats = append(cats, strings.TrimSpace(c))
		}
		if d := p.GetUpdateDate(); d != "" {
			if t, err := time.Parse(time.DateOnly, d); err != nil || t.Format(time.DateOnly) != d {
				v.add(f("update_date"), "%q is not a date: write it YYYY-MM-DD or leave it empty", d)
			}
		}
		ip := &indexv1.Paper{Id: id, Title: title, Abstract: abstract, Authors: authors, Categories: cats,
			UpdateDate: p.GetUpdateDate(), Comments: strings.Join(strings.Fields(p.GetComments()), " ")}
		if len(cats) > 0 {
			ip.PrimaryCategory = cats[0]
		}
		out = append(out, ip)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// DeletePaper removes a paper from every replica of its shard.
func (s *Server) DeletePaper(ctx context.Context, req *searchv1.DeletePaperRequest) (*searchv1.DeletePaperResponse, error) {
	var v violations
	id := v.id("id", req.GetId())
	if err := v.err(); err != nil {
		return nil, err
	}
	deleted, err := s.index.Delete(ctx, id)
	if err != nil {
		return nil, annotate(err, "deleting the paper")
	}
	if !deleted {
		return nil, status.Errorf(codes.NotFound, "paper %s is not in the index", id)
	}
	s.opts.Logger.InfoContext(ctx, "paper deleted", "id", id)
	return &searchv1.DeletePaperResponse{Id: id}, nil
}

// Embed returns the vectors of texts, in input order.
func (s *Server) Embed(ctx context.Context, req *searchv1.EmbedRequest) (*searchv1.EmbedResponse, error) {
	var v violations
	switch n := len(req.GetTexts()); {
	case n == 0:
		v.add("texts", "is empty: send at least one text")
	case n > MaxEmbedTexts:
		v.add("texts", "%d texts: send at most %d per request", n, MaxEmbedTexts)
	}
	for i, t := range req.GetTexts() {
		if len(t) > MaxQueryBytes {
			v.add(fmt.Sprintf("texts[%d]", i), "is %d bytes: at most %d", len(t), MaxQueryBytes)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	embs, model, err := s.embed(ctx, req.GetTexts())
	if err != nil {
		return nil, annotate(err, "embedding")
	}
	resp := &searchv1.EmbedResponse{Model: model}
	for _, e := range embs {
		resp.Embeddings = append(resp.Embeddings, &searchv1.Embedding{Vector: e.GetVector(), TokenCount: e.GetTokenCount(), Truncated: e.GetTruncated()})
		resp.Dimension = int32(len(e.GetVector()))
	}
	return resp, nil
}

// embed embeds texts in parts of EmbedBatch, two parts at a time, and
// returns the embeddings in input order with the model that made them.
func (s *Server) embed(ctx context.Context, texts []string) ([]*embedderv1.Embedding, string, error) {
	out := make([]*embedderv1.Embedding, len(texts))
	models := make([]string, 0, len(texts)/s.opts.EmbedBatch+1)
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for lo := 0; lo < len(texts); lo += s.opts.EmbedBatch {
		hi := min(lo+s.opts.EmbedBatch, len(texts))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := s.embedder.Embed(ctx, &embedderv1.EmbedRequest{Texts: texts[lo:hi]})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			copy(out[lo:hi], resp.GetEmbeddings())
			models = append(models, resp.GetModel())
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, "", firstErr
	}
	if len(models) == 0 {
		return out, "", nil
	}
	for _, m := range models[1:] {
		if m != models[0] {
			// Two embedder instances serve different models: vectors of
			// one batch would not be comparable.
			return nil, "", status.Errorf(codes.FailedPrecondition, "the embedder instances serve different models (%q and %q); give -embedder-addr instances of one model", models[0], m)
		}
	}
	return out, models[0], nil
}

// ListCategories counts indexed papers per category.
func (s *Server) ListCategories(ctx context.Context, _ *searchv1.ListCategoriesRequest) (*searchv1.ListCategoriesResponse, error) {
	cats, err := s.index.Categories(ctx)
	if err != nil {
		return nil, annotate(err, "listing categories")
	}
	resp := &searchv1.ListCategoriesResponse{}
	for _, c := range cats {
		resp.Categories = append(resp.Categories, &searchv1.CategoryCount{Category: c.GetCategory(), Primary: c.GetPrimary(), Total: c.GetTotal()})
	}
	return resp, nil
}

// GetInfo describes the model and where the shards live.
func (s *Server) GetInfo(ctx context.Context, _ *searchv1.GetInfoRequest) (*searchv1.GetInfoResponse, error) {
	info, err := s.embedder.ModelInfo(ctx)
	if err != nil {
		return nil, annotate(err, "asking the embedder for its model")
	}
	top := s.index.FreshTopology(ctx)
	resp := &searchv1.GetInfoResponse{
		Model: info.GetName(), Dimension: info.GetDimension(), MaxSeqLength: info.GetMaxSeqLength(),
		Device: info.GetDevice(), ExecutionProvider: info.GetExecutionProvider(),
		PapersIndexed: top.PapersIndexed, TotalShards: int32(top.TotalShards),
		Version: s.opts.Version, DefaultMode: s.opts.DefaultMode,
	}
	for _, sh := range top.Shards {
		si := &searchv1.ShardInfo{Shard: int32(sh.Shard)}
		for _, r := range sh.Replicas {
			si.Replicas = append(si.Replicas, &searchv1.ShardReplica{Address: r.Addr, Serving: r.Serving, Papers: r.Papers})
		}
		resp.Shards = append(resp.Shards, si)
	}
	return resp, nil
}

func results(hits []*indexv1.Hit) []*searchv1.SearchResult {
	out := make([]*searchv1.SearchResult, len(hits))
	for i, h := range hits {
		p := h.GetPaper()
		id := h.GetId()
		out[i] = &searchv1.SearchResult{
			Rank: int32(i + 1), Score: h.GetScore(), Id: id, Title: p.GetTitle(), Authors: p.GetAuthors(),
			Abstract: p.GetAbstract(), Categories: p.GetCategories(), PrimaryCategory: primary(p),
			UpdateDate: p.GetUpdateDate(), AbsUrl: paper.AbsURL(id), PdfUrl: paper.PDFURL(id),
			Match: &searchv1.MatchInfo{DenseRank: h.GetDenseRank(), DenseScore: h.GetDenseScore(), LexicalRank: h.GetLexicalRank(), LexicalScore: h.GetLexicalScore()},
		}
	}
	return out
}

func primary(p *indexv1.Paper) string {
	if p.GetPrimaryCategory() != "" {
		return p.GetPrimaryCategory()
	}
	if len(p.GetCategories()) > 0 {
		return p.GetCategories()[0]
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func int32s(in []int) []int32 {
	out := make([]int32, len(in))
	for i, x := range in {
		out[i] = int32(x)
	}
	return out
}
