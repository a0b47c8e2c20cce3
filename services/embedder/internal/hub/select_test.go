package hub

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSelectFiles(t *testing.T) {
	base := []string{"tokenizer.json", "config.json", "README.md", ".gitattributes", "pytorch_model.bin"}
	tests := []struct {
		name     string
		repo     []string
		onnxFile string
		want     []string // in order; empty: an error
		wantErr  error
	}{
		{
			name: "sentence-transformers layout",
			repo: append([]string{
				"onnx/model.onnx", "onnx/model_O4.onnx", "model.onnx", "vocab.txt", "tokenizer_config.json",
				"special_tokens_map.json", "sentence_bert_config.json", "modules.json",
				"config_sentence_transformers.json", "1_Pooling/config.json", "2_Dense/config.json",
				"2_Dense/model.safetensors", "3_Normalize/config.json", "openvino/openvino_model.xml",
			}, base...),
			want: []string{
				"tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "config.json",
				"sentence_bert_config.json", "modules.json", "config_sentence_transformers.json",
				"1_Pooling/config.json", "3_Normalize/config.json", "onnx/model.onnx",
			},
		},
		{
			name: "top-level model.onnx",
			repo: append([]string{"model.onnx", "onnx/model_quantized.onnx"}, base...),
			want: []string{"tokenizer.json", "config.json", "model.onnx"},
		},
		{
			name:     "chosen variant",
			repo:     append([]string{"onnx/model.onnx", "onnx/model_qint8_avx512_vnni.onnx"}, base...),
			onnxFile: "onnx/model_qint8_avx512_vnni.onnx",
			want:     []string{"tokenizer.json", "config.json", "onnx/model_qint8_avx512_vnni.onnx"},
		},
		{
			name: "external data, both spellings",
			repo: append([]string{"onnx/model.onnx", "onnx/model.onnx_data", "onnx/model.onnx.data", "onnx/model_O4.onnx_data"}, base...),
			want: []string{"tokenizer.json", "config.json", "onnx/model.onnx_data", "onnx/model.onnx.data", "onnx/model.onnx"},
		},
		{
			name: "vocab.txt alone",
			repo: []string{"model.onnx", "vocab.txt"},
			want: []string{"vocab.txt", "model.onnx"},
		},
		{
			name: "pooling config only at the top of a module directory",
			repo: []string{"model.onnx", "vocab.txt", "x/1_Pooling/config.json", "1_Pooling/sub/config.json", "1_Pooling/config.json"},
			want: []string{"vocab.txt", "1_Pooling/config.json", "model.onnx"},
		},
		{name: "no ONNX", repo: base, wantErr: ErrNoONNX},
		{name: "no default ONNX", repo: append([]string{"onnx/model_O4.onnx"}, base...), wantErr: ErrNoONNX},
		{name: "missing variant", repo: append([]string{"onnx/model.onnx"}, base...), onnxFile: "onnx/model_O4.onnx", wantErr: ErrNoONNX},
		{name: "no tokenizer", repo: []string{"onnx/model.onnx", "config.json", "tokenizer_config.json"}, wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []remoteFile
			for i, n := range tt.repo {
				all = append(all, remoteFile{name: n, size: int64(i)})
			}
			files, onnx, err := selectFiles("org/name", all, tt.onnxFile)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "org/name") {
					t.Fatalf("selectFiles = %v, %v; want %v naming the repository", files, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.name)
				if want := int64(slices.Index(tt.repo, f.name)); f.size != want {
					t.Errorf("%s: size %d, want %d from the listing", f.name, f.size, want)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("selectFiles:\n got %q\nwant %q", got, tt.want)
			}
			if onnx != tt.want[len(tt.want)-1] {
				t.Errorf("ONNX model %q, want %q", onnx, tt.want[len(tt.want)-1])
			}
		})
	}
}
