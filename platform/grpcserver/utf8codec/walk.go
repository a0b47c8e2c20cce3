package utf8codec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// maxPaths bounds the fields one rejection names; the rest are counted.
const maxPaths = 10

// findings are the string fields of one request that are not valid UTF-8.
type findings struct {
	paths []string // the first maxPaths, in wire order
	total int
}

func (f *findings) add(path string) {
	if len(f.paths) < maxPaths {
		f.paths = append(f.paths, path)
	}
	f.total++
}

// sanitize walks the wire bytes b of a message of type md and overwrites,
// in place, every byte that breaks UTF-8 in a string field protobuf
// validates, recording the field's path. It replaces byte for byte (with
// '?') rather than with U+FFFD so that no length prefix changes: a rewrite
// would copy each nested message once per level, which a deeply nested
// request could make quadratic. The sanitized strings are never served:
// the request is refused before its handler runs.
func sanitize(b []byte, md protoreflect.MessageDescriptor) (*findings, error) {
	w := walker{f: &findings{}}
	if err := w.message(b, md, "", false, 0); err != nil {
		return nil, err
	}
	return w.f, nil
}

type walker struct{ f *findings }

var errTooDeep = errors.New("exceeds the maximum nesting depth")

// message walks one message. In a map entry (entry true) the key and value
// are named by prefix alone, which already holds "[key]".
func (w *walker) message(b []byte, md protoreflect.MessageDescriptor, prefix string, entry bool, depth int) error {
	if depth > protowire.DefaultRecursionLimit {
		return errTooDeep
	}
	var seen map[protowire.Number]int // elements so far of each repeated field, for the index in the path
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		fd := field(md, num)
		kind := protoreflect.Kind(0)
		if fd != nil {
			kind = fd.Kind()
		}
		switch {
		case typ == protowire.BytesType && (kind == protoreflect.StringKind || kind == protoreflect.MessageKind):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			path := ""
			if fd.IsMap() {
				// Each entry is its own length-delimited record; its
				// key names it.
				key, err := mapKey(v, fd.MapKey())
				if err != nil {
					return err
				}
				path = join(prefix, fd, entry) + "[" + key + "]"
			} else {
				path = join(prefix, fd, entry)
				if fd.IsList() {
					if seen == nil {
						seen = make(map[protowire.Number]int)
					}
					path += "[" + strconv.Itoa(seen[num]) + "]"
					seen[num]++
				}
			}
			if kind == protoreflect.StringKind {
				if enforced(fd) && replaceInvalid(v) {
					w.f.add(path)
				}
				continue
			}
			if err := w.message(v, fd.Message(), path, fd.IsMap(), depth+1); err != nil {
				return err
			}
		case typ == protowire.StartGroupType && kind == protoreflect.GroupKind:
			v, n := protowire.ConsumeGroup(num, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			path := join(prefix, fd, entry)
			if fd.IsList() {
				if seen == nil {
					seen = make(map[protowire.Number]int)
				}
				path += "[" + strconv.Itoa(seen[num]) + "]"
				seen[num]++
			}
			if err := w.message(v, fd.Message(), path, false, depth+1); err != nil {
				return err
			}
		default:
			// Scalars, packed lists, unknown fields and wire types that do
			// not match the field (which protobuf keeps as unknown) hold
			// no validated strings.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// field finds field num of md, or a registered extension of it.
func field(md protoreflect.MessageDescriptor, num protowire.Number) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByNumber(num); fd != nil {
		return fd
	}
	if md.ExtensionRanges().Has(num) {
		if xt, err := protoregistry.GlobalTypes.FindExtensionByNumber(md.FullName(), num); err == nil {
			return xt.TypeDescriptor()
		}
	}
	return nil
}

// join names fd under prefix: "queries[0].text", or "[pkg.ext]" for an
// extension. In a map entry the prefix alone names the key and the value.
func join(prefix string, fd protoreflect.FieldDescriptor, entry bool) string {
	if entry {
		return prefix
	}
	name := string(fd.Name())
	if fd.IsExtension() {
		name = "[" + string(fd.FullName()) + "]"
	}
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// enforced reports whether protobuf refuses invalid UTF-8 in fd: always in
// proto3, never in proto2, per the utf8_validation feature in editions.
func enforced(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() == protoreflect.Editions {
		// The feature has no public accessor; protobuf-go's descriptors
		// expose it this way to its own decoder.
		if e, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return e.EnforceUTF8()
		}
	}
	return fd.Syntax() == protoreflect.Proto3
}

// replaceInvalid overwrites each byte of s that is not part of a valid
// UTF-8 sequence with '?' and reports whether there was any.
func replaceInvalid(s []byte) bool {
	if utf8.Valid(s) {
		return false
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			s[i] = '?'
		}
		i += size
	}
	return true
}

// mapKey formats the key of the map entry in b as it reads in a path:
// a quoted string (invalid bytes shown as U+FFFD) or a number. A missing
// key is the zero value, as protobuf decodes it.
func mapKey(b []byte, kd protoreflect.FieldDescriptor) (string, error) {
	var raw []byte
	var typ protowire.Type = -1
	for len(b) > 0 {
		num, t, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, t, b)
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		if num == kd.Number() {
			raw, typ = b[:m], t // the last one wins, as in protobuf
		}
		b = b[m:]
	}
	switch kd.Kind() {
	case protoreflect.StringKind:
		if typ != protowire.BytesType {
			return `""`, nil
		}
		v, _ := protowire.ConsumeBytes(raw)
		return strconv.Quote(strings.ToValidUTF8(string(v), "\uFFFD")), nil
	case protoreflect.BoolKind:
		if typ != protowire.VarintType {
			return "false", nil
		}
		v, _ := protowire.ConsumeVarint(raw)
		return strconv.FormatBool(v != 0), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		v, _ := protowire.ConsumeVarint(raw)
		if typ != protowire.VarintType {
			v = 0
		}
		if kd.Kind() == protoreflect.Int32Kind {
			return strconv.FormatInt(int64(int32(v)), 10), nil
		}
		return strconv.FormatInt(int64(v), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		v, _ := protowire.ConsumeVarint(raw)
		if typ != protowire.VarintType {
			v = 0
		}
		if kd.Kind() == protoreflect.Uint32Kind {
			v = uint64(uint32(v))
		}
		return strconv.FormatUint(v, 10), nil
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		v, _ := protowire.ConsumeVarint(raw)
		if typ != protowire.VarintType {
			v = 0
		}
		if kd.Kind() == protoreflect.Sint32Kind {
			return strconv.FormatInt(int64(int32(protowire.DecodeZigZag(v&math.MaxUint32))), 10), nil
		}
		return strconv.FormatInt(protowire.DecodeZigZag(v), 10), nil
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		v, _ := protowire.ConsumeFixed32(raw)
		if typ != protowire.Fixed32Type {
			v = 0
		}
		if kd.Kind() == protoreflect.Sfixed32Kind {
			return strconv.FormatInt(int64(int32(v)), 10), nil
		}
		return strconv.FormatUint(uint64(v), 10), nil
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		v, _ := protowire.ConsumeFixed64(raw)
		if typ != protowire.Fixed64Type {
			v = 0
		}
		if kd.Kind() == protoreflect.Sfixed64Kind {
			return strconv.FormatInt(int64(v), 10), nil
		}
		return strconv.FormatUint(v, 10), nil
	}
	return "", fmt.Errorf("map key of kind %v", kd.Kind())
}
