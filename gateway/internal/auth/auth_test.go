package auth

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestWriteGuard(t *testing.T) {
	const ingest = "/arxivsearch.search.v1.SearchService/IngestPapers"
	const search = "/arxivsearch.search.v1.SearchService/Search"
	tests := []struct {
		name   string
		token  string
		open   bool
		method string
		auth   []string
		want   codes.Code
	}{
		{name: "reads need nothing", method: search, want: codes.OK},
		{name: "no token, closed", method: ingest, want: codes.PermissionDenied},
		{name: "no token, opened", open: true, method: ingest, want: codes.OK},
		{name: "token, none sent", token: "s3cret", method: ingest, want: codes.Unauthenticated},
		{name: "token, wrong sent", token: "s3cret", method: ingest, auth: []string{"Bearer nope"}, want: codes.PermissionDenied},
		{name: "token, right sent", token: "s3cret", method: ingest, auth: []string{"Bearer s3cret"}, want: codes.OK},
		{name: "token, other scheme", token: "s3cret", method: ingest, auth: []string{"Basic s3cret"}, want: codes.Unauthenticated},
		{name: "token beats open", token: "s3cret", open: true, method: ingest, want: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWriteGuard(tt.token, tt.open, ingest)
			ctx := context.Background()
			if tt.auth != nil {
				ctx = metadata.NewIncomingContext(ctx, metadata.MD{"authorization": tt.auth})
			}
			if got := status.Code(g.Check(ctx, tt.method)); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
		})
	}
}
