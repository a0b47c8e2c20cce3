// Package onnx writes and reads the subset of the ONNX protobuf format
// (onnx/onnx.proto, IR version 8) that the static model needs: a model
// with one graph of nodes, initializers, typed inputs and outputs, and
// metadata. Fields are encoded by number with protowire; the reader
// skips every field it does not know.
package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Tensor element types (TensorProto.DataType).
const (
	Float   int32 = 1
	Uint8   int32 = 2
	Int8    int32 = 3
	Int32   int32 = 6
	Int64   int32 = 7
	Float16 int32 = 10
)

// elemSize is the byte size of an element type.
func elemSize(t int32) int {
	switch t {
	case Float, Int32:
		return 4
	case Int64:
		return 8
	case Float16:
		return 2
	case Int8, Uint8:
		return 1
	}
	return 0
}

// Tensor is an initializer: a name, a shape, an element type and its raw
// little-endian bytes (TensorProto.raw_data).
type Tensor struct {
	Name string
	Dims []int64
	Type int32
	Raw  []byte
}

// NumElements is the product of the dims.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Check verifies that Raw holds exactly the elements the shape says.
func (t *Tensor) Check() error {
	size := elemSize(t.Type)
	if size == 0 {
		return fmt.Errorf("tensor %s: unsupported element type %d", t.Name, t.Type)
	}
	if int64(len(t.Raw)) != t.NumElements()*int64(size) {
		return fmt.Errorf("tensor %s: %d bytes of data for shape %v of type %d", t.Name, len(t.Raw), t.Dims, t.Type)
	}
	return nil
}

// FloatTensor makes a float32 tensor.
func FloatTensor(name string, dims []int64, v []float32) Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, Dims: dims, Type: Float, Raw: raw}
}

// Float16Tensor makes a float16 tensor from IEEE half-precision bits.
func Float16Tensor(name string, dims []int64, bits []uint16) Tensor {
	raw := make([]byte, 2*len(bits))
	for i, x := range bits {
		binary.LittleEndian.PutUint16(raw[2*i:], x)
	}
	return Tensor{Name: name, Dims: dims, Type: Float16, Raw: raw}
}

// Int8Tensor makes an int8 tensor.
func Int8Tensor(name string, dims []int64, v []int8) Tensor {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return Tensor{Name: name, Dims: dims, Type: Int8, Raw: raw}
}

// Int32Tensor makes an int32 tensor.
func Int32Tensor(name string, dims []int64, v []int32) Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Tensor{Name: name, Dims: dims, Type: Int32, Raw: raw}
}

// Int64Tensor makes an int64 tensor.
func Int64Tensor(name string, dims []int64, v []int64) Tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return Tensor{Name: name, Dims: dims, Type: Int64, Raw: raw}
}

// Floats decodes a float32, float16 or int8 tensor as float32 values
// (int8 as plain integers).
func (t *Tensor) Floats() ([]float32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]float32, n)
	switch t.Type {
	case Float:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
	case Float16:
		for i := range out {
			out[i] = HalfToFloat(binary.LittleEndian.Uint16(t.Raw[2*i:]))
		}
	case Int8:
		for i := range out {
			out[i] = float32(int8(t.Raw[i]))
		}
	default:
		return nil, fmt.Errorf("tensor %s: type %d is not a float type", t.Name, t.Type)
	}
	return out, nil
}

// Int32s decodes an int32 tensor.
func (t *Tensor) Int32s() ([]int32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.Type != Int32 {
		return nil, fmt.Errorf("tensor %s: type %d, want int32", t.Name, t.Type)
	}
	out := make([]int32, t.NumElements())
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return out, nil
}

// Attribute is a node attribute: an int, a float or a list of ints.
type Attribute struct {
	Name  string
	Int   *int64
	Float *float32
	Ints  []int64
}

// IntAttr makes an int attribute.
func IntAttr(name string, v int64) Attribute { return Attribute{Name: name, Int: &v} }

// IntsAttr makes an ints attribute.
func IntsAttr(name string, v ...int64) Attribute { return Attribute{Name: name, Ints: v} }

// Node is a graph node.
type Node struct {
	Name    string
	OpType  string
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
}

// Dim is a tensor dimension: a fixed size, or a symbolic name when Param
// is set.
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a typed graph input or output.
type ValueInfo struct {
	Name  string
	Type  int32
	Shape []Dim
}

// Graph is a model's graph.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Model is a whole ONNX model.
type Model struct {
	IRVersion       int64
	Opset           int64 // of the default domain
	ProducerName    string
	ProducerVersion string
	DocString       string
	Graph           Graph
	Metadata        [][2]string
}

// Initializer returns the named initializer.
func (g *Graph) Initializer(name string) (*Tensor, bool) {
	for i := range g.Initializers {
		if g.Initializers[i].Name == name {
			return &g.Initializers[i], true
		}
	}
	return nil, false
}

// Field numbers of onnx.proto.
const (
	modelIRVersion    = 1
	modelProducerName = 2
	modelProducerVer  = 3
	modelDocString    = 6
	modelGraph        = 7
	modelOpsetImport  = 8
	modelMetadata     = 14

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput  = 1
	nodeOutput = 2
	nodeName   = 3
	nodeOpType = 4
	nodeAttr   = 5

	attrName  = 1
	attrF     = 2
	attrI     = 3
	attrInts  = 8
	attrType  = 20
	attrFloat = 1 // AttributeType FLOAT
	attrInt   = 2 // AttributeType INT
	attrIntsT = 7 // AttributeType INTS

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9

	valueName = 1
	valueType = 2

	typeTensor     = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

// Marshal encodes m as an ONNX ModelProto.
func (m *Model) Marshal() []byte {
	var b []byte
	b = appendVarint(b, modelIRVersion, uint64(m.IRVersion))
	b = appendString(b, modelProducerName, m.ProducerName)
	b = appendString(b, modelProducerVer, m.ProducerVersion)
	if m.DocString != "" {
		b = appendString(b, modelDocString, m.DocString)
	}
	b = appendMessage(b, modelGraph, m.Graph.marshal())
	var opset []byte
	opset = appendString(opset, opsetDomain, "")
	opset = appendVarint(opset, opsetVersion, uint64(m.Opset))
	b = appendMessage(b, modelOpsetImport, opset)
	for _, kv := range m.Metadata {
		var e []byte
		e = appendString(e, entryKey, kv[0])
		e = appendString(e, entryValue, kv[1])
		b = appendMessage(b, modelMetadata, e)
	}
	return b
}

func (g *Graph) marshal() []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendMessage(b, graphNode, n.marshal())
	}
	b = appendString(b, graphName, g.Name)
	for _, t := range g.Initializers {
		b = appendMessage(b, graphInitializer, t.marshal())
	}
	for _, v := range g.Inputs {
		b = appendMessage(b, graphInput, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendMessage(b, graphOutput, v.marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, in := range n.Inputs {
		b = appendString(b, nodeInput, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, nodeOutput, out)
	}
	b = appendString(b, nodeName, n.Name)
	b = appendString(b, nodeOpType, n.OpType)
	for _, a := range n.Attrs {
		var ab []byte
		ab = appendString(ab, attrName, a.Name)
		switch {
		case a.Int != nil:
			ab = appendVarint(ab, attrI, uint64(*a.Int))
			ab = appendVarint(ab, attrType, attrInt)
		case a.Float != nil:
			ab = protowire.AppendTag(ab, attrF, protowire.Fixed32Type)
			ab = protowire.AppendFixed32(ab, math.Float32bits(*a.Float))
			ab = appendVarint(ab, attrType, attrFloat)
		default:
			for _, v := range a.Ints {
				ab = appendVarint(ab, attrInts, uint64(v))
			}
			ab = appendVarint(ab, attrType, attrIntsT)
		}
		b = appendMessage(b, nodeAttr, ab)
	}
	return b
}

func (t *Tensor) marshal() []byte {
	var b []byte
	for _, d := range t.Dims {
		b = appendVarint(b, tensorDims, uint64(d))
	}
	b = appendVarint(b, tensorDataType, uint64(t.Type))
	b = appendString(b, tensorName, t.Name)
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, t.Raw)
	return b
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Shape {
		var db []byte
		if d.Param != "" {
			db = appendString(db, dimParam, d.Param)
		} else {
			db = appendVarint(db, dimValue, uint64(d.Value))
		}
		shape = appendMessage(shape, shapeDim, db)
	}
	var tt []byte
	tt = appendVarint(tt, tensorElemType, uint64(v.Type))
	tt = appendMessage(tt, tensorShape, shape)
	var typ []byte
	typ = appendMessage(typ, typeTensor, tt)
	var b []byte
	b = appendString(b, valueName, v.Name)
	b = appendMessage(b, valueType, typ)
	return b
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
