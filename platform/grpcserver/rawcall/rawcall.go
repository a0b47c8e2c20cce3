// Package rawcall sends hand-made protobuf wire bytes over gRPC, for tests
// of requests a generated client refuses to send (invalid UTF-8 in a
// string field, malformed messages).
package rawcall

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// Invoke calls the unary method (e.g. "/pkg.Service/Method") on conn with
// req as the request message's wire bytes and returns the response's.
func Invoke(ctx context.Context, conn grpc.ClientConnInterface, method string, req []byte) ([]byte, error) {
	var resp []byte
	err := conn.Invoke(ctx, method, req, &resp, grpc.ForceCodecV2(Codec{}))
	return resp, err
}

// Codec passes messages through as bytes: it marshals a []byte and
// unmarshals into a *[]byte.
type Codec struct{}

func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawcall: cannot send %T, only []byte", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawcall: cannot receive into %T, only *[]byte", v)
	}
	*p = data.Materialize()
	return nil
}

// Name is "proto": the server decodes the bytes as the protobuf they are.
func (Codec) Name() string { return "proto" }
