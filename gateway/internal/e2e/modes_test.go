package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	"github.com/arxivsearch/arxivsearch/platform/paper"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// The tests of this file run inside TestEndToEnd, against its real
// embedder, index instances and gateway, over the real papers it ingested.

// match is a result's MatchInfo as REST writes it.
type match struct {
	DenseRank    int     `json:"dense_rank"`
	DenseScore   float32 `json:"dense_score"`
	LexicalRank  int     `json:"lexical_rank"`
	LexicalScore float32 `json:"lexical_score"`
}

// hit is a search result as REST writes it.
type hit struct {
	ID         string   `json:"id"`
	Score      float32  `json:"score"`
	Categories []string `json:"categories"`
	Match      match    `json:"match"`
}

type searchResponse struct {
	Results []hit
	Mode    string
}

var restModes = []string{"SEARCH_MODE_DENSE", "SEARCH_MODE_LEXICAL", "SEARCH_MODE_HYBRID"}

// search posts a /v1/search request and decodes a 200 answer.
func search(t *testing.T, gw string, req map[string]any) searchResponse {
	t.Helper()
	var sr searchResponse
	if code, body := call(t, "POST", gw+"/v1/search", req, &sr); code != 200 {
		t.Fatalf("search %v = %d %s", req, code, body)
	}
	return sr
}

func ids(hits []hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// words are the lower-cased words of text, split as the lexical query
// parser splits them.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// rareTitleWord returns a word of a paper's title that no other paper of
// the corpus uses, nor any word sharing its first six letters (so that
// stemming cannot make it common), and that paper.
func rareTitleWord(t *testing.T, papers []ingestPaper) (string, ingestPaper) {
	t.Helper()
	prefixUse := map[string]map[string]bool{} // 6-letter prefix -> ids of papers using it
	for _, p := range papers {
		for _, w := range words(p.Title + " " + p.Abstract) {
			if len(w) < 6 {
				continue
			}
			if prefixUse[w[:6]] == nil {
				prefixUse[w[:6]] = map[string]bool{}
			}
			prefixUse[w[:6]][p.ID] = true
		}
	}
	for _, p := range papers {
		for _, w := range strings.Fields(p.Title) {
			if len(w) < 8 || strings.ContainsFunc(w, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) }) {
				continue
			}
			if len(prefixUse[strings.ToLower(w)[:6]]) == 1 {
				return w, p
			}
		}
	}
	t.Fatal("no paper has a title word of its own")
	return "", ingestPaper{}
}

// What a query must give, besides never a 5xx.
type want int

const (
	wantResults want = iota // 200; dense and hybrid give k results, lexical any number
	wantMatch               // as wantResults, and lexical finds the paper of the rare title word
	wantLexHits             // as wantResults, and lexical finds something
	wantNoWords             // as wantResults, and lexical finds nothing: the text has no words
	wantInvalid             // 400 (INVALID_ARGUMENT) whose message names the problem
)

type queryCase struct {
	name  string
	query string
	raw   string // the JSON string literal as sent over REST, escapes and bad bytes included
	wire  string // with raw: the query's bytes as sent over gRPC
	want  want
	says  string // wantInvalid: a fragment of the (non-empty) message
}

// adversarialCases are user strings that must never break a search: query
// language syntax the lexical search must treat as text, odd scripts,
// control characters and sizes. w is a title word only one paper uses.
func adversarialCases(w string, corpus []ingestPaper) []queryCase {
	var abstracts strings.Builder
	for _, p := range corpus {
		if abstracts.Len() >= 30<<10 {
			break
		}
		abstracts.WriteString(p.Abstract + " ")
	}
	long := abstracts.String()
	for len(long) > 30<<10 { // cut at a character boundary
		_, size := utf8.DecodeLastRuneInString(long)
		long = long[:len(long)-size]
	}
	return []queryCase{
		{name: "AND", query: "AND"},
		{name: "OR", query: "OR"},
		{name: "NOT x", query: "NOT " + w},
		{name: "operators only around the word", query: w + " AND OR NOT", want: wantMatch},
		{name: "a NEAR b", query: w + " NEAR method", want: wantMatch},
		{name: "NEAR(a b, 2)", query: "NEAR(" + w + " method, 2)", want: wantMatch},
		{name: "NEAR(", query: "NEAR("},
		{name: "column filter title", query: "title:" + w, want: wantMatch},
		{name: "column filter abstract", query: "abstract:" + w, want: wantMatch},
		{name: "column set", query: "{title abstract}: " + w, want: wantMatch},
		{name: "caret", query: "^" + w, want: wantMatch},
		{name: "prefix star", query: strings.ToLower(w[:4]) + "*"},
		{name: "star", query: "*", want: wantNoWords},
		{name: "unbalanced double quote", query: `"` + w, want: wantMatch},
		{name: "quote pair", query: `""`, want: wantNoWords},
		{name: "single quote", query: "'" + w, want: wantMatch},
		{name: "unclosed parenthesis", query: "(" + w + " OR zzqx", want: wantMatch},
		{name: "unopened parenthesis", query: w + ")", want: wantMatch},
		{name: "minus", query: "-" + w, want: wantMatch},
		{name: "plus", query: "+" + w, want: wantMatch},
		{name: "colons", query: w + ":b:c", want: wantMatch},
		{name: "backslashes", query: `\\`, want: wantNoWords},
		{name: "SQL LIKE wildcards", query: "%_", want: wantNoWords},
		{name: "SQL LIKE around the word", query: "%" + w + "_", want: wantMatch},
		{name: "SQL injection", query: "'; DROP TABLE papers; --"},
		{name: "NUL", query: w + "\x00\x00", want: wantMatch},
		{name: "NUL only", query: "\x00", want: wantNoWords},
		{name: "control characters", query: "\x01\x07\x1b[31m " + w + "\x7f\b", want: wantMatch},
		{name: "invalid UTF-8", raw: `"` + w + " \xff\xfe\xc3\x28\"", wire: w + " \xff\xfe\xc3\x28", want: wantInvalid, says: "UTF-8"},
		// The JSON decoder's message varies; over gRPC, a surrogate
		// encoded as if it were a character is invalid UTF-8.
		{name: "lone surrogate escape", raw: `"` + w + ` \ud800"`, wire: w + " \xed\xa0\x80", want: wantInvalid},
		{name: "only punctuation", query: "?!.,;:()[]{}<>-–—…", want: wantNoWords},
		{name: "only stop words", query: "the of and"},
		{name: "30 KiB of abstracts", query: long, want: wantLexHits},
		{name: "10,000 words", query: w + strings.Repeat(" a", 9999), want: wantMatch},
		{name: "10,000 words over the size limit", query: strings.Repeat(w+" ", 10000), want: wantInvalid, says: "bytes"},
		{name: "just over the size limit", query: strings.Repeat("x", 32<<10+1), want: wantInvalid, says: "bytes"},
		{name: "one long word", query: strings.Repeat("x", 32<<10)},
		{name: "empty", query: "", want: wantInvalid, says: "query"},
		{name: "blank", query: " \t\n\u00a0 ", want: wantInvalid, says: "query"},
		{name: "emoji", query: "🚀🔥 " + w + " 🧠", want: wantMatch},
		{name: "emoji only", query: "🚀🔥🧠", want: wantNoWords},
		{name: "CJK", query: "一种新的神经网络"},
		{name: "Japanese", query: "機械学習と深層学習"},
		{name: "Arabic", query: "الشبكات العصبية العميقة"},
		{name: "Hebrew", query: "רשתות עצביות עמוקות"},
		{name: "bidi override", query: "\u202e" + w, want: wantMatch},
		{name: "Cyrillic", query: "нейронные сети"},
		{name: "Greek", query: "α-stable Ωμέγα λ"},
		{name: "LaTeX", query: `$\alpha$-stable \mathcal{L}^2 \frac{1}{2}`},
		{name: "combining diacritics", query: "Erdo\u030bs Schro\u0308dinger"},
		{name: "combining marks only", query: "\u0301\u0308", want: wantNoWords},
		{name: "zero-width joiner", query: "👩\u200d🔬 " + w + "\u200d", want: wantMatch},
		{name: "zero-width only", query: "\u200b\u200d\ufeff", want: wantNoWords},
		{name: "URL", query: "https://arxiv.org/abs/2101.00001?x=1&y=" + w + "#frag", want: wantMatch},
		{name: "arXiv id", query: "2101.00001v2"},
		{name: "old-style arXiv id", query: "hep-th/9901001"},
		{name: "numbers", query: "42 3.14159 1e-10 -7 0x1F"},
		{name: "HTML", query: "<script>alert(1)</script> " + w, want: wantMatch},
		{name: "JSON", query: `{"query": "` + w + `", "mode": 2}`, want: wantMatch},
	}
}

// testAdversarialQueries sends every case in every mode over REST and over
// gRPC (SearchService on the gateway's gRPC port) and checks the answer.
func testAdversarialQueries(t *testing.T, gw, grpcAddr string, papers []ingestPaper) {
	w, owner := rareTitleWord(t, papers)
	cases := adversarialCases(w, papers)
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	t.Logf("the rare title word is %q, of %s", w, owner.ID)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := searchv1.NewSearchServiceClient(conn)

	// check applies the case's expectation to one answer in mode m.
	check := func(t *testing.T, tc queryCase, m string, got []string) {
		t.Helper()
		switch {
		case m != "SEARCH_MODE_LEXICAL" && len(got) != 10:
			t.Errorf("%s: %d results, want 10", m, len(got))
		case m != "SEARCH_MODE_LEXICAL":
		case tc.want == wantMatch && !slices.Contains(got, owner.ID):
			t.Errorf("lexical: %v does not hold %s, whose title has %q", got, owner.ID, w)
		case tc.want == wantLexHits && len(got) == 0:
			t.Errorf("lexical: no results")
		case tc.want == wantNoWords && len(got) != 0:
			t.Errorf("lexical: %v for a text without words", got)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range restModes {
				var body []byte
				if tc.raw != "" {
					body = []byte(`{"query": ` + tc.raw + `, "mode": "` + m + `"}`)
				} else {
					var err error
					if body, err = json.Marshal(map[string]any{"query": tc.query, "mode": m}); err != nil {
						t.Fatal(err)
					}
				}
				code, resp := post(t, gw+"/v1/search", body)
				if code >= 500 {
					t.Fatalf("%s: %d %s", m, code, resp)
				}
				if tc.want == wantInvalid {
					var e struct {
						Code    int
						Message string
					}
					if err := json.Unmarshal(resp, &e); code != 400 || err != nil || e.Code != int(codes.InvalidArgument) || e.Message == "" || !strings.Contains(e.Message, tc.says) {
						t.Errorf("%s: %d %s, want 400 INVALID_ARGUMENT saying %q", m, code, resp, tc.says)
					}
					continue
				}
				var sr searchResponse
				if err := json.Unmarshal(resp, &sr); code != 200 || err != nil || sr.Mode != m {
					t.Fatalf("%s: %d %s", m, code, resp)
				}
				check(t, tc, m, ids(sr.Results))
			}
			if tc.raw != "" {
				testInvalidQueryOverGRPC(t, conn, tc.wire)
				return
			}
			for m := searchv1.SearchMode_SEARCH_MODE_DENSE; m <= searchv1.SearchMode_SEARCH_MODE_HYBRID; m++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				resp, err := client.Search(ctx, &searchv1.SearchRequest{Query: tc.query, Mode: m})
				cancel()
				if tc.want == wantInvalid {
					if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.says) {
						t.Errorf("gRPC %v: %v, want INVALID_ARGUMENT saying %q", m, err, tc.says)
					}
					continue
				}
				if err != nil {
					t.Fatalf("gRPC %v: %v", m, err)
				}
				var got []string
				for _, r := range resp.GetResults() {
					got = append(got, r.GetId())
				}
				check(t, tc, m.String(), got)
			}
		})
	}
	// The injection attempt changed nothing.
	var info struct {
		PapersIndexed string `json:"papers_indexed"`
	}
	if code, body := call(t, "GET", gw+"/v1/info", nil, &info); code != 200 || info.PapersIndexed != fmt.Sprint(len(papers)) {
		t.Errorf("/v1/info after the adversarial queries = %d %s, want %d papers", code, body, len(papers))
	}
}

// testInvalidQueryOverGRPC sends a Search whose query is the bytes q, not
// valid UTF-8, in every mode. A generated client refuses to send it, so
// the request is made by hand.
func testInvalidQueryOverGRPC(t *testing.T, conn *grpc.ClientConn, q string) {
	t.Helper()
	fields := (&searchv1.SearchRequest{}).ProtoReflect().Descriptor().Fields()
	for m := searchv1.SearchMode_SEARCH_MODE_DENSE; m <= searchv1.SearchMode_SEARCH_MODE_HYBRID; m++ {
		req := protowire.AppendBytes(protowire.AppendTag(nil, fields.ByName("query").Number(), protowire.BytesType), []byte(q))
		req = protowire.AppendVarint(protowire.AppendTag(req, fields.ByName("mode").Number(), protowire.VarintType), uint64(m))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := rawcall.Invoke(ctx, conn, searchv1.SearchService_Search_FullMethodName, req)
		cancel()
		if want := "query is not valid UTF-8; encode strings as UTF-8"; status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
			t.Errorf("gRPC %v: %v, want INVALID_ARGUMENT %q", m, err, want)
		}
	}
}

// post sends body as is.
func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

// testCategoriesInEveryMode checks that a category filter applies to every
// mode: a word used by papers in and out of a category finds, filtered,
// only those in it; dense and hybrid, whose per-shard lists reach every
// paper of the category when k is the maximum, return exactly the
// category's papers.
func testCategoriesInEveryMode(t *testing.T, gw string, papers []ingestPaper) {
	byCat := map[string][]string{}
	for _, p := range papers {
		for _, c := range p.Categories {
			byCat[c] = append(byCat[c], p.ID)
		}
	}
	// A title word of a paper in category c also used by a paper outside c,
	// with c holding 2..100 papers.
	var word, cat string
	var in, out ingestPaper
	users := map[string][]ingestPaper{}
	for _, p := range papers {
		seen := map[string]bool{}
		for _, w := range words(p.Title + " " + p.Abstract) {
			if len(w) >= 9 && !seen[w] {
				seen[w] = true
				users[w] = append(users[w], p)
			}
		}
	}
find:
	for _, p := range papers {
		for _, w := range words(p.Title) {
			if len(w) < 9 || len(users[w]) < 2 || len(users[w]) > 5 {
				continue
			}
			for _, c := range p.Categories {
				if n := len(byCat[c]); n < 2 || n > 100 {
					continue
				}
				for _, o := range users[w] {
					if !slices.Contains(o.Categories, c) {
						word, cat, in, out = w, c, p, o
						break find
					}
				}
			}
		}
	}
	if word == "" {
		t.Fatal("no title word is used in and out of a category")
	}
	t.Logf("%q is used by %s in %s and by %s, not in it", word, in.ID, cat, out.ID)
	inCat := func(h hit) bool { return slices.Contains(h.Categories, cat) }

	all := search(t, gw, map[string]any{"query": word, "mode": "SEARCH_MODE_LEXICAL", "k": 100})
	if got := ids(all.Results); !slices.Contains(got, in.ID) || !slices.Contains(got, out.ID) {
		t.Fatalf("lexical %q unfiltered = %v, want %s and %s among them", word, got, in.ID, out.ID)
	}
	for _, m := range restModes {
		sr := search(t, gw, map[string]any{"query": word, "mode": m, "k": 100, "categories": []string{cat}})
		got := ids(sr.Results)
		if i := slices.IndexFunc(sr.Results, func(h hit) bool { return !inCat(h) }); i >= 0 {
			t.Errorf("%s in %s: result %s is in %v", m, cat, got[i], sr.Results[i].Categories)
		}
		if slices.Contains(got, out.ID) {
			t.Errorf("%s in %s: %s, outside it, is among %v", m, cat, out.ID, got)
		}
		if m != "SEARCH_MODE_DENSE" && !slices.Contains(got, in.ID) {
			t.Errorf("%s in %s: %s, which has %q, is not among %v", m, cat, in.ID, word, got)
		}
		if m != "SEARCH_MODE_LEXICAL" {
			want := slices.Sorted(slices.Values(byCat[cat]))
			if slices.Sort(got); !slices.Equal(got, want) {
				t.Errorf("%s in %s with k = 100: %v, want the category's %d papers %v", m, cat, got, len(want), want)
			}
		}
	}
}

// testMatchInfo checks that hybrid results say which lists they came from
// and their ranks and scores there, against the dense and lexical lists of
// the same query, and that dense and lexical results name only their list.
func testMatchInfo(t *testing.T, gw string, target ingestPaper) {
	query := paper.CleanText(target.Title)
	dense := search(t, gw, map[string]any{"query": query, "mode": "SEARCH_MODE_DENSE", "k": 100})
	lexical := search(t, gw, map[string]any{"query": query, "mode": "SEARCH_MODE_LEXICAL", "k": 100})
	hybrid := search(t, gw, map[string]any{"query": query, "mode": "SEARCH_MODE_HYBRID", "k": 10})
	for _, h := range dense.Results {
		if h.Match.DenseRank < 1 || h.Match.DenseScore != h.Score || h.Match.LexicalRank != 0 {
			t.Errorf("dense result %s: %+v", h.ID, h.Match)
		}
	}
	for _, h := range lexical.Results {
		if h.Match.LexicalRank < 1 || h.Match.LexicalScore != h.Score || h.Match.DenseRank != 0 {
			t.Errorf("lexical result %s: %+v", h.ID, h.Match)
		}
	}
	if len(lexical.Results) == 0 || len(hybrid.Results) != 10 {
		t.Fatalf("%d lexical and %d hybrid results for the title of %s", len(lexical.Results), len(hybrid.Results), target.ID)
	}
	// Hybrid fuses the collection's dense and lexical rankings (merged
	// over shards and instances first), so its ranks are those of the
	// dense and lexical searches of the same query.
	// at checks that id is at rank (1-based) of list with score, or tied
	// with the hit there.
	at := func(list []hit, id string, rank int, score float32) bool {
		i := slices.IndexFunc(list, func(h hit) bool { return h.ID == id })
		return i >= 0 && list[i].Score == score && rank <= len(list) && list[rank-1].Score == score
	}
	both := 0
	for _, h := range hybrid.Results {
		m := h.Match
		var want float64
		if m.DenseRank > 0 {
			want += 1 / float64(60+m.DenseRank)
			if !at(dense.Results, h.ID, m.DenseRank, m.DenseScore) {
				t.Errorf("hybrid result %s: dense rank %d, score %v disagree with the dense search", h.ID, m.DenseRank, m.DenseScore)
			}
		}
		if m.LexicalRank > 0 {
			// The gateway's default -hybrid-lexical-weight.
			want += 0.3 / float64(60+m.LexicalRank)
			if !at(lexical.Results, h.ID, m.LexicalRank, m.LexicalScore) {
				t.Errorf("hybrid result %s: lexical rank %d, score %v disagree with the lexical search", h.ID, m.LexicalRank, m.LexicalScore)
			}
		}
		if m.DenseRank > 0 && m.LexicalRank > 0 {
			both++
		}
		if want == 0 || abs(float64(h.Score)-want) > 1e-6 {
			t.Errorf("hybrid result %s: score %v, match %+v", h.ID, h.Score, m)
		}
	}
	if hybrid.Results[0].ID != target.ID || both == 0 {
		t.Errorf("hybrid search for the title of %s: %+v, want it first, found by both lists", target.ID, hybrid.Results)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// testCompatStaysDense checks, on a gateway whose default mode is hybrid,
// that the seed-compatible POST /search still searches densely (scores are
// cosines, about 1 for a paper's own text, where hybrid scores are
// reciprocal ranks, at most 2/61), while /v1/search without a mode is
// hybrid and with one obeys it.
func testCompatStaysDense(t *testing.T, gw string, target ingestPaper) {
	var info struct {
		DefaultMode string `json:"default_mode"`
	}
	if code, body := call(t, "GET", gw+"/v1/info", nil, &info); code != 200 || info.DefaultMode != "SEARCH_MODE_HYBRID" {
		t.Fatalf("/v1/info = %d %s, want default mode hybrid", code, body)
	}
	text := paper.EmbeddingText(paper.CleanText(target.Title), paper.CleanText(target.Abstract))
	var old struct {
		Results []struct {
			Score   float64
			ArxivID string `json:"arxiv_id"`
		}
	}
	if code, body := call(t, "POST", gw+"/search", map[string]any{"abstract": text, "k": 3}, &old); code != 200 ||
		len(old.Results) != 3 || old.Results[0].ArxivID != target.ID || old.Results[0].Score < 0.99 {
		t.Errorf("/search = %d %s, want %s first with a cosine of about 1", code, body, target.ID)
	}
	sr := search(t, gw, map[string]any{"query": text, "k": 3})
	if sr.Mode != "SEARCH_MODE_HYBRID" || len(sr.Results) != 3 || sr.Results[0].ID != target.ID || sr.Results[0].Score > 2.0/61+1e-6 {
		t.Errorf("/v1/search without a mode: %+v, want hybrid", sr)
	}
	sr = search(t, gw, map[string]any{"query": text, "k": 3, "mode": "SEARCH_MODE_DENSE"})
	if sr.Mode != "SEARCH_MODE_DENSE" || len(sr.Results) != 3 || sr.Results[0].ID != target.ID || sr.Results[0].Score < 0.99 {
		t.Errorf("/v1/search in dense mode: %+v", sr)
	}
}
