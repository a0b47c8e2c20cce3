package server

import (
	"testing"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestDecodeEmbedRequest(t *testing.T) {
	valid, err := proto.Marshal(&embedderv1.EmbedRequest{Texts: []string{"graph neural networks", "", "Schrödinger"}, MaxSeqLength: 128})
	if err != nil {
		t.Fatal(err)
	}
	var req embedderv1.EmbedRequest
	if err := decodeEmbedRequest(valid, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Texts) != 3 || req.Texts[2] != "Schrödinger" || req.Texts[1] != "" || req.MaxSeqLength != 128 {
		t.Errorf("decoded %v", &req)
	}

	// Invalid UTF-8 and an unknown field: the texts survive as raw bytes,
	// for the handler to reject with a message naming the index.
	raw := protowire.AppendTag(nil, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte("ok"))
	raw = protowire.AppendTag(raw, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte{0xff, 0xfe, 'a'})
	raw = protowire.AppendTag(raw, 9, protowire.VarintType)
	raw = protowire.AppendVarint(raw, 7)
	if err := decodeEmbedRequest(raw, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Texts) != 2 || req.Texts[1] != "\xff\xfea" || req.MaxSeqLength != 0 {
		t.Errorf("decoded %q / %d", req.Texts, req.MaxSeqLength)
	}

	for name, bad := range map[string][]byte{
		"truncated":  valid[:len(valid)-5],
		"wrong type": protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5),
		"bad tag":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if err := decodeEmbedRequest(bad, &req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
