package utf8codec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/platform/grpcserver/rawcall"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/typepb"
)

// echoService answers each unary method with its request, so a test sees
// what the handler received; Structs echoes a stream.
type echoService struct{ calls atomic.Int32 }

func echoMethod[T any, P interface {
	*T
	proto.Message
}](name string) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := P(new(T))
		if err := dec(in); err != nil {
			return nil, err
		}
		handler := func(_ context.Context, req any) (any, error) {
			srv.(*echoService).calls.Add(1)
			return req, nil
		}
		return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.v1.Echo/" + name}, handler)
	}}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		echoMethod[structpb.Struct]("Struct"),
		echoMethod[apipb.Api]("Api"),
		echoMethod[descriptorpb.FileDescriptorProto]("File"),
	},
	Streams: []grpc.StreamDesc{{StreamName: "Structs", ServerStreams: true, ClientStreams: true,
		Handler: func(srv any, ss grpc.ServerStream) error {
			for {
				var m structpb.Struct
				if err := ss.RecvMsg(&m); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				srv.(*echoService).calls.Add(1)
				if err := ss.SendMsg(&m); err != nil {
					return err
				}
			}
		}}},
}

type fixture struct {
	g    *Guard
	echo *echoService
	conn *grpc.ClientConn
}

// start serves the echo and health services with a Guard, after the
// options before.
func start(t *testing.T, before ...grpc.ServerOption) *fixture {
	t.Helper()
	f := &fixture{g: New(), echo: &echoService{}}
	s := grpc.NewServer(append(before, f.g.ServerOptions()...)...)
	s.RegisterService(&echoDesc, f.echo)
	healthpb.RegisterHealthServer(s, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	if f.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close() })
	return f
}

// pending counts the findings no one took yet.
func (f *fixture) pending() int {
	n := 0
	f.g.pending.Range(func(any, any) bool { n++; return true })
	return n
}

// waitNoPending fails unless every finding is gone within a few seconds:
// the end of a call is handled after its client has the answer.
func (f *fixture) waitNoPending(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.pending() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d findings left behind", f.pending())
		}
	}
}

// wire marshals m and turns each "~~" in it into the invalid bytes
// 0xff 0xfe; the length stays, so the wire format stays well-formed.
func wire(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("~~"), []byte{0xff, 0xfe})
}

func str(s string) *structpb.Value { return structpb.NewStringValue(s) }

func list(vs ...*structpb.Value) *structpb.Value {
	return structpb.NewListValue(&structpb.ListValue{Values: vs})
}

func fields(violations []*errdetails.BadRequest_FieldViolation) []string {
	var out []string
	for _, v := range violations {
		out = append(out, v.GetField())
	}
	return out
}

func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	f := start(t)
	nested := str("deep ~~")
	for range 40 {
		nested = list(nested)
	}
	manyMethods := &apipb.Api{}
	for range 15 {
		manyMethods.Methods = append(manyMethods.Methods, &apipb.Method{Name: "~~"})
	}
	tests := []struct {
		name    string
		method  string
		req     []byte
		fields  []string // the violations named, in order
		message string   // the status message
	}{
		{"health service", healthpb.Health_Check_FullMethodName, wire(t, &healthpb.HealthCheckRequest{Service: "svc~~"}),
			[]string{"service"}, "service is not valid UTF-8; encode strings as UTF-8"},
		{"map value", "/test.v1.Echo/Struct", wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"ok": str("fine"), "q": str("a~~b")}}),
			[]string{`fields["q"].string_value`}, `fields["q"].string_value is not valid UTF-8; encode strings as UTF-8`},
		{"map key", "/test.v1.Echo/Struct", wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"k~~": structpb.NewNullValue()}}),
			[]string{"fields[\"k\ufffd\"]"}, ""},
		{"list in a map", "/test.v1.Echo/Struct", wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"l": list(str("ok"), str("x~~"), str("~~"))}}),
			[]string{`fields["l"].list_value.values[1].string_value`, `fields["l"].list_value.values[2].string_value`},
			`fields["l"].list_value.values[1].string_value, fields["l"].list_value.values[2].string_value are not valid UTF-8; encode strings as UTF-8`},
		{"deep nesting", "/test.v1.Echo/Struct", wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"d": nested}}),
			[]string{`fields["d"]` + strings.Repeat(".list_value.values[0]", 40) + ".string_value"}, ""},
		{"repeated messages", "/test.v1.Echo/Api", wire(t, &apipb.Api{Name: "api", Methods: []*apipb.Method{{Name: "m0"}, {Name: "m1", RequestTypeUrl: "u~~"}},
			Options: []*typepb.Option{{Name: "~~"}}}),
			[]string{"methods[1].request_type_url", "options[0].name"}, ""},
		{"more than are named", "/test.v1.Echo/Api", wire(t, manyMethods),
			[]string{"methods[0].name", "methods[1].name", "methods[2].name", "methods[3].name", "methods[4].name",
				"methods[5].name", "methods[6].name", "methods[7].name", "methods[8].name", "methods[9].name"},
			"methods[0].name, methods[1].name, methods[2].name, methods[3].name, methods[4].name, methods[5].name, methods[6].name, methods[7].name, methods[8].name, methods[9].name and 5 more strings are not valid UTF-8; encode strings as UTF-8"},
		{"beside unknown fields", healthpb.Health_Check_FullMethodName,
			append(protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), []byte{0xff}), wire(t, &healthpb.HealthCheckRequest{Service: "~~"})...),
			[]string{"service"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := f.echo.calls.Load()
			_, err := rawcall.Invoke(context.Background(), f.conn, tc.method, tc.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("%v, want INVALID_ARGUMENT", err)
			}
			if tc.message != "" && st.Message() != tc.message {
				t.Errorf("message %q, want %q", st.Message(), tc.message)
			}
			var got []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					got = fields(br.GetFieldViolations())
					for _, v := range br.GetFieldViolations() {
						if v.GetDescription() != description {
							t.Errorf("%s: description %q", v.GetField(), v.GetDescription())
						}
					}
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("violations %q, want %q", got, tc.fields)
			}
			if f.echo.calls.Load() != calls {
				t.Error("the handler ran")
			}
			f.waitNoPending(t)
		})
	}
}

func TestValidAndMalformedRequests(t *testing.T) {
	f := start(t)
	valid := &structpb.Struct{Fields: map[string]*structpb.Value{
		"text": str("Schrödinger \ufffd 🚀 一种"), "l": list(str(""), structpb.NewNumberValue(3)),
	}}
	validWire := wire(t, valid)
	// A string field sent as a varint is an unknown field to protobuf.
	wrongType := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7)
	truncatedInvalid := wire(t, &healthpb.HealthCheckRequest{Service: "long service name ~~"})
	truncatedInvalid = truncatedInvalid[:len(truncatedInvalid)-3]
	tests := []struct {
		name   string
		method string
		req    []byte
		code   codes.Code
		echo   proto.Message // the handler's answer when OK; nil means req itself
		typ    proto.Message // the answer's type when OK
	}{
		{"valid", "/test.v1.Echo/Struct", validWire, codes.OK, nil, &structpb.Struct{}},
		{"empty", healthpb.Health_Check_FullMethodName, nil, codes.OK, &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, &healthpb.HealthCheckResponse{}},
		// proto2 strings are not checked: the handler gets the bytes.
		{"proto2 string", "/test.v1.Echo/File", wire(t, &descriptorpb.FileDescriptorProto{Name: proto.String("a~~.proto")}), codes.OK,
			&descriptorpb.FileDescriptorProto{Name: proto.String("a\xff\xfe.proto")}, &descriptorpb.FileDescriptorProto{}},
		{"wrong wire type", "/test.v1.Echo/Api", wrongType, codes.OK, nil, &apipb.Api{}},
		{"truncated", "/test.v1.Echo/Struct", validWire[:len(validWire)-2], codes.Internal, nil, nil},
		{"truncated, with invalid UTF-8", healthpb.Health_Check_FullMethodName, truncatedInvalid, codes.Internal, nil, nil},
		{"bad tag", "/test.v1.Echo/Struct", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, codes.Internal, nil, nil},
		{"nested message of the wrong shape", "/test.v1.Echo/Api",
			append(wire(t, &apipb.Api{Name: "~~"}), protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0x0a, 0x05, 'x'})...), codes.Internal, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rawcall.Invoke(context.Background(), f.conn, tc.method, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("%v, want %v", err, tc.code)
			}
			if tc.code == codes.OK {
				// Compared as messages: map order on the wire varies.
				got, want := tc.typ.ProtoReflect().New().Interface(), tc.echo
				if want == nil {
					want = tc.typ.ProtoReflect().New().Interface()
					if err := proto.Unmarshal(tc.req, want); err != nil {
						t.Fatal(err)
					}
				}
				if err := proto.Unmarshal(resp, got); err != nil || !proto.Equal(got, want) {
					t.Errorf("answer %v (%v), want %v", got, err, want)
				}
			}
			f.waitNoPending(t)
		})
	}
}

func TestStreams(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := grpc.ForceCodecV2(rawcall.Codec{})

	// A bidirectional stream: valid messages echo, the invalid one ends
	// the stream with INVALID_ARGUMENT.
	s, err := f.conn.NewStream(ctx, &echoDesc.Streams[0], "/test.v1.Echo/Structs", raw)
	if err != nil {
		t.Fatal(err)
	}
	ok := wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"a": str("fine")}})
	for _, m := range [][]byte{ok, wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"a": str("~~")}})} {
		if err := s.SendMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	if err := s.RecvMsg(&got); err != nil || !bytes.Equal(got, ok) {
		t.Fatalf("first answer %q, %v; want the first message", got, err)
	}
	err = s.RecvMsg(&got)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != `fields["a"].string_value is not valid UTF-8; encode strings as UTF-8` {
		t.Errorf("after the invalid message: %v, want INVALID_ARGUMENT naming fields[\"a\"].string_value", err)
	}
	if n := f.echo.calls.Load(); n != 1 {
		t.Errorf("the handler took %d messages, want 1", n)
	}

	// A server-streaming call: health's Watch.
	w, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, healthpb.Health_Watch_FullMethodName, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SendMsg(wire(t, &healthpb.HealthCheckRequest{Service: "~~"})); err != nil {
		t.Fatal(err)
	}
	if err := w.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := w.RecvMsg(&got); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "service is not valid UTF-8") {
		t.Errorf("Watch: %v, want INVALID_ARGUMENT naming service", err)
	}
	f.waitNoPending(t)
}

// TestSecondMessageOnUnaryCall sends two messages on a unary method:
// grpc-go decodes both into the same request, then fails the call without
// running the interceptors, which therefore never take the findings.
func TestSecondMessageOnUnaryCall(t *testing.T) {
	f := start(t)
	invalid := wire(t, &healthpb.HealthCheckRequest{Service: "~~"})
	valid := wire(t, &healthpb.HealthCheckRequest{Service: "ok"})
	for _, tc := range []struct {
		name          string
		first, second []byte
	}{{"invalid then valid", invalid, valid}, {"valid then invalid", valid, invalid}, {"invalid twice", invalid, invalid}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, healthpb.Health_Check_FullMethodName, grpc.ForceCodecV2(rawcall.Codec{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range [][]byte{tc.first, tc.second} {
				if err := s.SendMsg(m); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
			}
			s.CloseSend()
			var got []byte
			if err := s.RecvMsg(&got); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "cardinality") {
				t.Fatalf("%v, want grpc-go's INTERNAL cardinality violation", err)
			}
			f.waitNoPending(t)
		})
	}
}

// TestRefusedEarlier has an interceptor before the Guard's answer the call
// itself: the findings it never lets through must not stay behind.
func TestRefusedEarlier(t *testing.T) {
	f := start(t, grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthpb.Health_Check_FullMethodName {
			return nil, status.Error(codes.Unauthenticated, "no token")
		}
		return handler(ctx, req)
	}))
	_, err := rawcall.Invoke(context.Background(), f.conn, healthpb.Health_Check_FullMethodName, wire(t, &healthpb.HealthCheckRequest{Service: "~~"}))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("%v, want the earlier interceptor's UNAUTHENTICATED", err)
	}
	f.waitNoPending(t)
	_, err = rawcall.Invoke(context.Background(), f.conn, "/test.v1.Echo/Struct", wire(t, &structpb.Struct{Fields: map[string]*structpb.Value{"a": str("~~")}}))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("past the earlier interceptor: %v, want INVALID_ARGUMENT", err)
	}
	f.waitNoPending(t)
}
