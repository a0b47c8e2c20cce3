package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal decodes a ModelProto, keeping the fields Model has. Tensor
// data must be in raw_data (as Marshal writes it).
func Unmarshal(b []byte) (*Model, error) {
	m := &Model{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == modelIRVersion && typ == protowire.VarintType:
			m.IRVersion = int64(x)
		case num == modelProducerName && typ == protowire.BytesType:
			m.ProducerName = string(v)
		case num == modelProducerVer && typ == protowire.BytesType:
			m.ProducerVersion = string(v)
		case num == modelDocString && typ == protowire.BytesType:
			m.DocString = string(v)
		case num == modelGraph && typ == protowire.BytesType:
			g, err := unmarshalGraph(v)
			if err != nil {
				return fmt.Errorf("graph: %w", err)
			}
			m.Graph = *g
		case num == modelOpsetImport && typ == protowire.BytesType:
			var domain string
			var version int64
			if err := fields(v, func(n protowire.Number, t protowire.Type, v []byte, x uint64) error {
				if n == opsetDomain && t == protowire.BytesType {
					domain = string(v)
				}
				if n == opsetVersion && t == protowire.VarintType {
					version = int64(x)
				}
				return nil
			}); err != nil {
				return err
			}
			if domain == "" || domain == "ai.onnx" {
				m.Opset = version
			}
		case num == modelMetadata && typ == protowire.BytesType:
			var kv [2]string
			if err := fields(v, func(n protowire.Number, t protowire.Type, v []byte, _ uint64) error {
				if t == protowire.BytesType && (n == entryKey || n == entryValue) {
					kv[n-1] = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			m.Metadata = append(m.Metadata, kv)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

func unmarshalGraph(b []byte) (*Graph, error) {
	g := &Graph{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case graphNode:
			n, err := unmarshalNode(v)
			if err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, *n)
		case graphName:
			g.Name = string(v)
		case graphInitializer:
			t, err := unmarshalTensor(v)
			if err != nil {
				return err
			}
			g.Initializers = append(g.Initializers, *t)
		case graphInput, graphOutput:
			vi, err := unmarshalValueInfo(v)
			if err != nil {
				return err
			}
			if num == graphInput {
				g.Inputs = append(g.Inputs, *vi)
			} else {
				g.Outputs = append(g.Outputs, *vi)
			}
		}
		return nil
	})
	return g, err
}

func unmarshalNode(b []byte) (*Node, error) {
	n := &Node{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case nodeInput:
			n.Inputs = append(n.Inputs, string(v))
		case nodeOutput:
			n.Outputs = append(n.Outputs, string(v))
		case nodeName:
			n.Name = string(v)
		case nodeOpType:
			n.OpType = string(v)
		case nodeAttr:
			var a Attribute
			if err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == attrName && typ == protowire.BytesType:
					a.Name = string(v)
				case num == attrI && typ == protowire.VarintType:
					i := int64(x)
					a.Int = &i
				case num == attrF && typ == protowire.Fixed32Type:
					f := math.Float32frombits(uint32(x))
					a.Float = &f
				case num == attrInts && typ == protowire.VarintType:
					a.Ints = append(a.Ints, int64(x))
				case num == attrInts && typ == protowire.BytesType: // packed
					for len(v) > 0 {
						x, n := protowire.ConsumeVarint(v)
						if n < 0 {
							return protowire.ParseError(n)
						}
						a.Ints = append(a.Ints, int64(x))
						v = v[n:]
					}
				}
				return nil
			}); err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		}
		return nil
	})
	return n, err
}

func unmarshalTensor(b []byte) (*Tensor, error) {
	t := &Tensor{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == tensorDims && typ == protowire.VarintType:
			t.Dims = append(t.Dims, int64(x))
		case num == tensorDims && typ == protowire.BytesType: // packed
			for len(v) > 0 {
				d, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return protowire.ParseError(n)
				}
				t.Dims = append(t.Dims, int64(d))
				v = v[n:]
			}
		case num == tensorDataType && typ == protowire.VarintType:
			t.Type = int32(x)
		case num == tensorName && typ == protowire.BytesType:
			t.Name = string(v)
		case num == tensorRawData && typ == protowire.BytesType:
			t.Raw = v
		}
		return nil
	})
	return t, err
}

func unmarshalValueInfo(b []byte) (*ValueInfo, error) {
	vi := &ValueInfo{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case valueName:
			vi.Name = string(v)
		case valueType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != typeTensor || typ != protowire.BytesType {
					return nil
				}
				return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					switch {
					case num == tensorElemType && typ == protowire.VarintType:
						vi.Type = int32(x)
					case num == tensorShape && typ == protowire.BytesType:
						return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
							if num != shapeDim || typ != protowire.BytesType {
								return nil
							}
							var d Dim
							if err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
								if num == dimValue && typ == protowire.VarintType {
									d.Value = int64(x)
								}
								if num == dimParam && typ == protowire.BytesType {
									d.Param = string(v)
								}
								return nil
							}); err != nil {
								return err
							}
							vi.Shape = append(vi.Shape, d)
							return nil
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return vi, err
}

// fields calls fn for every field of message b: bytes fields get their
// contents in v, varint and fixed fields their value in x.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
