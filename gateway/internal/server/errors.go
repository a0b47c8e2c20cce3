package server

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/arxivsearch/arxivsearch/platform/paper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// violations collects what is wrong with a request, field by field, so one
// answer tells the caller everything to fix.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// id normalizes an arXiv id, recording a violation for an invalid one.
func (v *violations) id(field, raw string) string {
	id, err := paper.NormalizeID(raw)
	if err != nil {
		if strings.TrimSpace(raw) == "" {
			v.add(field, "is empty: give an arXiv id such as 2503.01234 or hep-th/9901001")
		} else {
			v.add(field, "%q is not an arXiv id: give a new-style id such as 2503.01234 or an old-style one such as hep-th/9901001, optionally with a version (v2)", raw)
		}
	}
	return id
}

// err is INVALID_ARGUMENT with a google.rpc.BadRequest detail listing
// every violation, or nil when there is none.
func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, fv := range v {
		parts[i] = fv.GetField() + ": " + fv.GetDescription()
	}
	st := status.New(codes.InvalidArgument, strings.Join(parts, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = d
	}
	return st.Err()
}

// annotate prefixes the message of a gRPC error with what was being done,
// keeping its code and details, so "connection refused" becomes
// "embedding the query: no embedder could answer: ...: connection refused"
// with its UNAVAILABLE code. (Wrapping with %w would also keep the code,
// but put "rpc error: code = ... desc =" into the message users read.)
func annotate(err error, doing string) error {
	st := status.Convert(err)
	p := st.Proto()
	p.Message = doing + ": " + p.GetMessage()
	return status.FromProto(p).Err()
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
