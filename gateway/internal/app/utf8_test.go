package app_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/gateway/internal/gatewaytest"
	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestInvalidUTF8OverGRPC sends SearchService requests whose strings hold
// invalid UTF-8, which a Go client refuses to send, so they are made by
// hand: each "~~" of a marshalled request becomes the bytes 0xff 0xfe.
// The gateway must answer INVALID_ARGUMENT naming the field (with a
// google.rpc.BadRequest, like its other validation errors), not grpc-go's
// INTERNAL decoding error, and reach no backend; a write without a token
// is still UNAUTHENTICATED.
func TestInvalidUTF8OverGRPC(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	conn, err := grpc.NewClient(g.App.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	withToken := metadata.Pairs("authorization", "Bearer "+gatewaytest.Token)

	tests := []struct {
		name   string
		method string
		req    proto.Message
		md     metadata.MD
		code   codes.Code
		fields []string
		want   string // the message, when INVALID_ARGUMENT
	}{
		{"search query", searchv1.SearchService_Search_FullMethodName,
			&searchv1.SearchRequest{Query: "graph ~~ networks", Mode: searchv1.SearchMode_SEARCH_MODE_HYBRID}, nil,
			codes.InvalidArgument, []string{"query"}, "query is not valid UTF-8; encode strings as UTF-8"},
		{"search categories", searchv1.SearchService_Search_FullMethodName,
			&searchv1.SearchRequest{Query: "graph", Categories: []string{"cs.LG", "~~"}}, nil,
			codes.InvalidArgument, []string{"categories[1]"}, "categories[1] is not valid UTF-8; encode strings as UTF-8"},
		{"similar id", searchv1.SearchService_SearchSimilar_FullMethodName,
			&searchv1.SearchSimilarRequest{Id: "2503.~~"}, nil,
			codes.InvalidArgument, []string{"id"}, "id is not valid UTF-8; encode strings as UTF-8"},
		{"ingest", searchv1.SearchService_IngestPapers_FullMethodName,
			&searchv1.IngestPapersRequest{Papers: []*searchv1.PaperInput{{Id: "2503.00001", Title: "t"}, {Id: "2503.00002", Title: "t", Authors: []string{"A", "B ~~"}}}}, withToken,
			codes.InvalidArgument, []string{"papers[1].authors[1]"}, "papers[1].authors[1] is not valid UTF-8; encode strings as UTF-8"},
		{"ingest without a token", searchv1.SearchService_IngestPapers_FullMethodName,
			&searchv1.IngestPapersRequest{Papers: []*searchv1.PaperInput{{Id: "2503.00001", Title: "~~"}}}, nil,
			codes.Unauthenticated, nil, ""},
		{"embed", searchv1.SearchService_Embed_FullMethodName,
			&searchv1.EmbedRequest{Texts: []string{"ok", "~~"}}, nil,
			codes.InvalidArgument, []string{"texts[1]"}, "texts[1] is not valid UTF-8; encode strings as UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), tc.md), 10*time.Second)
			defer cancel()
			_, err = rawcall.Invoke(ctx, conn, tc.method, bytes.ReplaceAll(b, []byte("~~"), []byte{0xff, 0xfe}))
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("%v, want %v", err, tc.code)
			}
			if tc.code != codes.InvalidArgument {
				return
			}
			if st.Message() != tc.want {
				t.Errorf("message %q, want %q", st.Message(), tc.want)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("field violations %q, want %q", fields, tc.fields)
			}
		})
	}
	for _, e := range g.Embedders {
		if n := e.Calls("Embed"); n != 0 {
			t.Errorf("an embedder got %d Embed calls", n)
		}
	}
	for i, x := range g.Indexes {
		for _, m := range []string{"Search", "UpsertPapers", "GetPapers"} {
			if n := x.Calls(m); n != 0 {
				t.Errorf("index %d got %d %s calls", i, n, m)
			}
		}
	}
}
