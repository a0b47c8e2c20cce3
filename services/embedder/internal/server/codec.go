package server

import (
	"errors"
	"fmt"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// Codec returns a server option that decodes EmbedRequest without the
// protobuf runtime's UTF-8 check. That check runs inside grpc-go's decoder,
// which turns it into INTERNAL "error unmarshalling request" before the
// handler sees the request; decoding the texts as raw bytes lets Embed
// answer INVALID_ARGUMENT naming the offending text instead. Every other
// message goes through the standard codec.
func Codec() grpc.ServerOption {
	return grpc.ForceServerCodecV2(lenientCodec{encoding.GetCodecV2("proto")})
}

type lenientCodec struct{ encoding.CodecV2 }

func (c lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*embedderv1.EmbedRequest)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.Materialize()
	return decodeEmbedRequest(buf, req)
}

// decodeEmbedRequest reads the wire format of EmbedRequest: field 1
// (texts, length-delimited) and field 2 (max_seq_length, varint); unknown
// fields are skipped, as protobuf does.
func decodeEmbedRequest(b []byte, req *embedderv1.EmbedRequest) error {
	req.Reset()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("embed request: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("embed request texts: %w", protowire.ParseError(n))
			}
			req.Texts = append(req.Texts, string(v))
			b = b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("embed request max_seq_length: %w", protowire.ParseError(n))
			}
			req.MaxSeqLength = int32(v)
			b = b[n:]
		case num == 1 || num == 2:
			return errors.New("embed request: field has the wrong wire type")
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("embed request: %w", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}
