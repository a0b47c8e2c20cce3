// Package utf8codec makes a gRPC server answer INVALID_ARGUMENT, naming the
// field, to a request whose string field holds invalid UTF-8.
//
// protobuf refuses such a message while decoding it, and grpc-go turns every
// decoding error into INTERNAL ("grpc: failed to unmarshal the received
// message") before any interceptor or handler sees the request: the caller
// is told the server is broken when its own input is. Guard's codec decodes
// such a request anyway, its strings sanitized, and records which fields
// were invalid; Guard's interceptors then refuse the request before its
// handler runs.
package utf8codec

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// Guard connects the codec that finds invalid UTF-8 to the interceptors
// that refuse it. Use one Guard per server, through ServerOptions.
type Guard struct {
	// pending holds the findings of each request message decoded from
	// invalid UTF-8, keyed by the message pointer (the codec sees nothing
	// else of the call), from decoding until an interceptor or the end of
	// the call takes them.
	pending sync.Map // any (message) -> *findings
}

// New returns a Guard.
func New() *Guard { return &Guard{} }

// ServerOptions are the codec, interceptors and stats handler of g. The
// interceptors refuse a request where they come in the chain; findings
// they never see, because an interceptor before them answered the call,
// are dropped when the call ends.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec{CodecV2: encoding.GetCodecV2("proto"), g: g}),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
		grpc.StatsHandler(endHandler{g}),
	}
}

// codec is the standard proto codec, except for messages with invalid
// UTF-8.
type codec struct {
	encoding.CodecV2
	g *Guard
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	// Rather than trusting the error's text, look for invalid UTF-8
	// itself; a message that is broken in another way is left to the
	// standard error. Only failed requests pay for this.
	var m proto.Message
	switch v := v.(type) {
	case protoadapt.MessageV2:
		m = v
	case protoadapt.MessageV1:
		m = protoadapt.MessageV2Of(v)
	default:
		return err
	}
	buf := data.Materialize() // a copy: sanitize writes to it
	f, werr := sanitize(buf, m.ProtoReflect().Descriptor())
	if werr != nil || f.total == 0 {
		return err
	}
	if err := c.CodecV2.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, v); err != nil {
		return err
	}
	c.g.pending.Store(v, f)
	return nil
}

// take removes and returns the findings of message m, if any.
func (g *Guard) take(m any) (*findings, bool) {
	f, ok := g.pending.LoadAndDelete(m)
	if !ok {
		return nil, false
	}
	return f.(*findings), true
}

func (g *Guard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if f, ok := g.take(req); ok {
		return nil, f.err()
	}
	return handler(ctx, req)
}

func (g *Guard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, guardedStream{ss, g})
}

// guardedStream refuses each received message that had invalid UTF-8.
type guardedStream struct {
	grpc.ServerStream
	g *Guard
}

func (s guardedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	// Taken even when RecvMsg fails after decoding, so nothing stays
	// behind.
	if f, ok := s.g.take(m); ok && err == nil {
		return f.err()
	}
	return err
}

// endHandler removes, when a call ends, findings no interceptor took:
// when an interceptor earlier in the chain answered a unary call, or when
// its client sent a second message, which grpc-go decodes into the same
// request before failing the call without running the interceptors. Left
// there, each would pin its request in memory for good.
type endHandler struct{ g *Guard }

type callKey struct{}

// call remembers the last message a call received.
type call struct {
	mu  sync.Mutex
	msg any
}

func (h endHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, callKey{}, &call{})
}

func (h endHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return
	}
	switch s := s.(type) {
	case *stats.InPayload:
		c.mu.Lock()
		c.msg = s.Payload
		c.mu.Unlock()
	case *stats.End:
		c.mu.Lock()
		if c.msg != nil {
			h.g.pending.Delete(c.msg)
		}
		c.mu.Unlock()
	}
}

func (endHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (endHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// description is what a field violation says of a string that is not
// valid UTF-8.
const description = "is not valid UTF-8; encode strings as UTF-8"

// err is INVALID_ARGUMENT naming the invalid fields, in the message and in
// a google.rpc.BadRequest detail, as the services' own validation does.
func (f *findings) err() error {
	var msg strings.Builder
	msg.WriteString(strings.Join(f.paths, ", "))
	if more := f.total - len(f.paths); more > 0 {
		msg.WriteString(" and " + strconv.Itoa(more) + " more strings")
	}
	if f.total == 1 {
		msg.WriteString(" is not valid UTF-8")
	} else {
		msg.WriteString(" are not valid UTF-8")
	}
	msg.WriteString("; encode strings as UTF-8")
	st := status.New(codes.InvalidArgument, msg.String())
	br := &errdetails.BadRequest{}
	for _, p := range f.paths {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: p, Description: description})
	}
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}
