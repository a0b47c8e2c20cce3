package app

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestInvalidUTF8 sends requests whose strings hold invalid UTF-8, which a
// Go client refuses to send, so they are made by hand: each "~~" of a
// marshalled request becomes the bytes 0xff 0xfe. The index must answer
// INVALID_ARGUMENT naming the field, not grpc-go's INTERNAL decoding
// error, and change nothing.
func TestInvalidUTF8(t *testing.T) {
	conn := serve(t, testConfig(t.TempDir())).conn
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()

	g := synth.New(synth.Spec{Dim: 8, Seed: 1}, 10)
	var papers []*indexv1.Paper
	for _, id := range []string{"2501.00001", "2501.00002", "2501.00003", "2501.00004", "2501.00005", "2501.00006", "2501.00007"} {
		if shardOwned(id) {
			papers = append(papers, &indexv1.Paper{Id: id, Title: "t", Authors: []string{"A", "B", "C"}, Vector: g.Vector()})
		}
	}
	if len(papers) < 2 {
		t.Fatalf("%d test papers fall on shards 4-7, want 2", len(papers))
	}
	invalidPapers := []*indexv1.Paper{proto.CloneOf(papers[0]), proto.CloneOf(papers[1])}
	invalidPapers[0].Title = "a ~~ title"
	invalidPapers[1].Authors[2] = "~~"

	tests := []struct {
		name   string
		method string
		req    proto.Message
		want   string
	}{
		{"search query text", indexv1.IndexService_Search_FullMethodName,
			&indexv1.SearchRequest{K: 1, Queries: []*indexv1.Query{{Text: "neural ~~"}}, Mode: indexv1.SearchMode_SEARCH_MODE_LEXICAL},
			"queries[0].text is not valid UTF-8; encode strings as UTF-8"},
		{"search filters", indexv1.IndexService_Search_FullMethodName,
			&indexv1.SearchRequest{K: 1, Queries: []*indexv1.Query{{Vector: papers[0].GetVector()}, {Vector: papers[0].GetVector(), ExcludeIds: []string{"2501.00001", "~~"}}},
				Categories: []string{"cs.LG", "cs~~"}},
			"queries[1].exclude_ids[1], categories[1] are not valid UTF-8; encode strings as UTF-8"},
		{"upsert papers", indexv1.IndexService_UpsertPapers_FullMethodName,
			&indexv1.UpsertPapersRequest{Model: "m", Papers: invalidPapers},
			"papers[0].title, papers[1].authors[2] are not valid UTF-8; encode strings as UTF-8"},
		{"delete papers", indexv1.IndexService_DeletePapers_FullMethodName,
			&indexv1.DeletePapersRequest{Ids: []string{"~~"}},
			"ids[0] is not valid UTF-8; encode strings as UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rawcall.Invoke(cctx, conn, tc.method, bytes.ReplaceAll(b, []byte("~~"), []byte{0xff, 0xfe}))
			if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != tc.want {
				t.Errorf("%v, want INVALID_ARGUMENT %q", err, tc.want)
			}
		})
	}

	client := indexv1.NewIndexServiceClient(conn)
	stats, err := client.GetStats(cctx, &indexv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetPapers() != 0 {
		t.Errorf("%d papers stored after refused upserts", stats.GetPapers())
	}
	// The same papers, valid, are stored.
	if _, err := client.UpsertPapers(cctx, &indexv1.UpsertPapersRequest{Model: "m", Papers: papers}); err != nil {
		t.Fatal(err)
	}
}
