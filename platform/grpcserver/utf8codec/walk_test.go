package utf8codec

import (
	"slices"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// testFiles builds, from descriptors, a proto3 message with maps of every
// key kind and an editions message with an unchecked string and
// delimited (group-encoded) messages: shapes the project's own protos do
// not have.
func testFiles(t *testing.T) (maps, editions protoreflect.MessageDescriptor) {
	t.Helper()
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum(), JsonName: proto.String(name)}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	opt, rep := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	m := &descriptorpb.DescriptorProto{Name: proto.String("M")}
	for i, k := range []descriptorpb.FieldDescriptorProto_Type{
		descriptorpb.FieldDescriptorProto_TYPE_INT32, descriptorpb.FieldDescriptorProto_TYPE_SINT64, descriptorpb.FieldDescriptorProto_TYPE_BOOL,
		descriptorpb.FieldDescriptorProto_TYPE_FIXED32, descriptorpb.FieldDescriptorProto_TYPE_SFIXED64, descriptorpb.FieldDescriptorProto_TYPE_UINT64,
		descriptorpb.FieldDescriptorProto_TYPE_SINT32,
	} {
		name := "m" + string(rune('a'+i))
		entry := "M" + string(rune('a'+i)) + "Entry"
		m.NestedType = append(m.NestedType, &descriptorpb.DescriptorProto{
			Name:    proto.String(entry),
			Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, k, opt, ""), field("value", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, "")},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		})
		m.Field = append(m.Field, field(name, int32(i+1), descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, rep, ".walktest.M."+entry))
	}
	f3, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("walktest/maps.proto"), Package: proto.String("walktest"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{m},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	unchecked := field("unchecked", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, "")
	unchecked.Options = &descriptorpb.FieldOptions{Features: &descriptorpb.FeatureSet{Utf8Validation: descriptorpb.FeatureSet_NONE.Enum()}}
	delimited := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.Options = &descriptorpb.FieldOptions{Features: &descriptorpb.FeatureSet{MessageEncoding: descriptorpb.FeatureSet_DELIMITED.Enum()}}
		return f
	}
	fe, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("walktest/editions.proto"), Package: proto.String("walktest"), Syntax: proto.String("editions"),
		Edition: descriptorpb.Edition_EDITION_2023.Enum(),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("E"), Field: []*descriptorpb.FieldDescriptorProto{
				field("checked", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, ""),
				unchecked,
				delimited(field("inner", 3, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, opt, ".walktest.Inner")),
				delimited(field("inners", 4, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, rep, ".walktest.Inner")),
			}},
			{Name: proto.String("Inner"), Field: []*descriptorpb.FieldDescriptorProto{field("t", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, "")}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f3.Messages().ByName("M"), fe.Messages().ByName("E")
}

func TestWalkPaths(t *testing.T) {
	maps, editions := testFiles(t)
	mm := dynamicpb.NewMessage(maps)
	put := func(field string, key protoreflect.Value, val string) {
		mm.Mutable(maps.Fields().ByName(protoreflect.Name(field))).Map().Set(key.MapKey(), protoreflect.ValueOfString(val))
	}
	put("ma", protoreflect.ValueOfInt32(-5), "~~")
	put("mb", protoreflect.ValueOfInt64(-3), "~~")
	put("mc", protoreflect.ValueOfBool(true), "~~")
	put("md", protoreflect.ValueOfUint32(7), "ok")
	put("md", protoreflect.ValueOfUint32(8), "~~")
	put("me", protoreflect.ValueOfInt64(-9), "~~")
	put("mf", protoreflect.ValueOfUint64(1<<63), "~~")
	put("mg", protoreflect.ValueOfInt32(-2147483648), "~~")

	em := dynamicpb.NewMessage(editions)
	em.Set(editions.Fields().ByName("checked"), protoreflect.ValueOfString("~~"))
	em.Set(editions.Fields().ByName("unchecked"), protoreflect.ValueOfString("~~"))
	inner := editions.Fields().ByName("inner").Message()
	newInner := func(s string) protoreflect.Value {
		m := dynamicpb.NewMessage(inner)
		m.Set(inner.Fields().ByName("t"), protoreflect.ValueOfString(s))
		return protoreflect.ValueOfMessage(m)
	}
	em.Set(editions.Fields().ByName("inner"), newInner("~~"))
	l := em.Mutable(editions.Fields().ByName("inners")).List()
	l.Append(newInner("ok"))
	l.Append(newInner("x~~"))

	tests := []struct {
		name string
		msg  *dynamicpb.Message
		want []string
	}{
		{"map keys", mm, []string{"ma[-5]", "mb[-3]", "mc[true]", "md[8]", "me[-9]", "mf[9223372036854775808]", "mg[-2147483648]"}},
		{"editions", em, []string{"checked", "inner.t", "inners[1].t"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := wire(t, tc.msg)
			f, err := sanitize(slices.Clone(b), tc.msg.Descriptor())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.paths, tc.want) || f.total != len(tc.want) {
				t.Errorf("paths %q (%d), want %q", f.paths, f.total, tc.want)
			}
			// Through the codec, the message decodes and its findings wait
			// for the interceptor.
			g := New()
			c := codec{CodecV2: encoding.GetCodecV2("proto"), g: g}
			got := dynamicpb.NewMessage(tc.msg.Descriptor())
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
				t.Fatal(err)
			}
			found, ok := g.take(got)
			if !ok || !slices.Equal(found.paths, tc.want) {
				t.Errorf("codec recorded %v, %v", found, ok)
			}
		})
	}
}
