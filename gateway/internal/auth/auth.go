// Package auth guards the write methods of the public API. Writes are
// refused unless the gateway is given a bearer token (then callers must
// present it) or is explicitly opened to anonymous writes: a deployment
// that forgot to configure auth is read-only, not open.
package auth

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// WriteGuard decides whether a call may write.
type WriteGuard struct {
	token string
	open  bool
	// writes holds the full gRPC method names that change data.
	writes map[string]bool
}

// NewWriteGuard guards the given methods (full names such as
// "/arxivsearch.search.v1.SearchService/IngestPapers"). With a token,
// callers must send "authorization: Bearer <token>"; without one, writes
// are refused unless open is true.
func NewWriteGuard(token string, open bool, writeMethods ...string) *WriteGuard {
	g := &WriteGuard{token: token, open: open, writes: map[string]bool{}}
	for _, m := range writeMethods {
		g.writes[m] = true
	}
	return g
}

// Check returns nil when the call may proceed.
func (g *WriteGuard) Check(ctx context.Context, fullMethod string) error {
	if !g.writes[fullMethod] {
		return nil
	}
	if g.token == "" {
		if g.open {
			return nil
		}
		return status.Error(codes.PermissionDenied,
			"writes are disabled on this server: start the gateway with -write-token (or GATEWAY_WRITE_TOKEN) and send it as \"Authorization: Bearer <token>\"")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var got string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			got = strings.TrimSpace(t)
		}
	}
	if got == "" {
		return status.Error(codes.Unauthenticated, "this call writes data: send \"Authorization: Bearer <token>\" with the server's write token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) != 1 {
		return status.Error(codes.PermissionDenied, "the bearer token is not the server's write token")
	}
	return nil
}

// UnaryInterceptor applies Check to every unary call.
func (g *WriteGuard) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := g.Check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}
