package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/embed"
	"github.com/arxivsearch/arxivsearch/services/embedder/internal/pooling"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeEmbedder answers with vectors made from the texts' lengths, or with
// err.
type fakeEmbedder struct {
	err   error
	calls int
}

func (f *fakeEmbedder) Embed(ctx context.Context, texts []string, maxLen int) ([]embed.Embedding, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := make([]embed.Embedding, len(texts))
	for i, t := range texts {
		out[i] = embed.Embedding{Vector: []float32{float32(len(t)), float32(maxLen)}, Tokens: len(t) + 2, Truncated: len(t) > 10}
	}
	return out, nil
}

func (f *fakeEmbedder) Info() embed.Info {
	return embed.Info{Name: "fake", Dimension: 2, MaxSeqLen: 256, MaxSeqLenSource: "sentence_bert_config.json", Pooling: pooling.Mean,
		Normalized: true, Device: "cpu", Provider: "CPUExecutionProvider", SHA256: "ab", VocabSize: 100, Lowercase: true}
}

type requests struct {
	mu    sync.Mutex
	codes []codes.Code
}

func (r *requests) Request(c codes.Code, texts int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes = append(r.codes, c)
}

func newServer() (*Server, *fakeEmbedder, *requests) {
	obs := &requests{}
	s := New(Limits{MaxTexts: 4, MaxTextBytes: 20}, obs)
	f := &fakeEmbedder{}
	s.SetEmbedder(f)
	return s, f, obs
}

func TestLoading(t *testing.T) {
	obs := &requests{}
	s := New(Limits{MaxTexts: 4, MaxTextBytes: 20}, obs)
	_, err := s.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: []string{"a"}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "still loading") {
		t.Errorf("Embed while loading: %v, want UNAVAILABLE saying the model loads", err)
	}
	if _, err := s.GetModelInfo(context.Background(), &embedderv1.GetModelInfoRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("GetModelInfo while loading: %v, want UNAVAILABLE", err)
	}
	if len(obs.codes) != 1 || obs.codes[0] != codes.Unavailable {
		t.Errorf("observer saw %v", obs.codes)
	}
}

func TestEmbed(t *testing.T) {
	s, _, obs := newServer()
	resp, err := s.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: []string{"short", "", "a longer text"}, MaxSeqLength: 7})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "fake" || resp.GetDimension() != 2 || len(resp.GetEmbeddings()) != 3 {
		t.Fatalf("response %v", resp)
	}
	for i, want := range []struct {
		vec       []float32
		tokens    int32
		truncated bool
	}{{[]float32{5, 7}, 7, false}, {[]float32{0, 7}, 2, false}, {[]float32{13, 7}, 15, true}} {
		e := resp.GetEmbeddings()[i]
		if fmt.Sprint(e.GetVector()) != fmt.Sprint(want.vec) || e.GetTokenCount() != want.tokens || e.GetTruncated() != want.truncated {
			t.Errorf("embedding %d = %v, want %+v", i, e, want)
		}
	}
	if len(obs.codes) != 1 || obs.codes[0] != codes.OK {
		t.Errorf("observer saw %v", obs.codes)
	}
}

func TestEmbedInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  *embedderv1.EmbedRequest
		want string
	}{
		{"empty", &embedderv1.EmbedRequest{}, "texts is empty"},
		{"too many", &embedderv1.EmbedRequest{Texts: []string{"a", "b", "c", "d", "e"}}, "5 texts in one request: at most 4 are allowed (-max-texts)"},
		{"too long", &embedderv1.EmbedRequest{Texts: []string{"ok", strings.Repeat("x", 21)}}, "texts[1] is 21 bytes: at most 20 are allowed (-max-text-bytes)"},
		{"invalid utf-8", &embedderv1.EmbedRequest{Texts: []string{"ok", "fine", "bad \xff byte"}}, "texts[2] is not valid UTF-8"},
		{"negative max_seq_length", &embedderv1.EmbedRequest{Texts: []string{"a"}, MaxSeqLength: -3}, "max_seq_length -3 is out of range: send 0 for the model's 256, or a value from 2 to 256"},
		{"max_seq_length 1", &embedderv1.EmbedRequest{Texts: []string{"a"}, MaxSeqLength: 1}, "max_seq_length 1 is out of range"},
		{"max_seq_length too big", &embedderv1.EmbedRequest{Texts: []string{"a"}, MaxSeqLength: 257}, "max_seq_length 257 is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f, _ := newServer()
			_, err := s.Embed(context.Background(), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("err = %v, want INVALID_ARGUMENT saying %q", err, tc.want)
			}
			if f.calls != 0 {
				t.Error("an invalid request reached the embedder")
			}
		})
	}
}

func TestEmbedErrors(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
		want string
	}{
		{fmt.Errorf("%w: 10 items queued", embed.ErrOverloaded), codes.ResourceExhausted, "retry with backoff"},
		{embed.ErrClosed, codes.Unavailable, "shutting down"},
		{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{context.Canceled, codes.Canceled, ""},
		{fmt.Errorf("%w: max_seq_length 3", embed.ErrInvalid), codes.InvalidArgument, "max_seq_length 3"},
		{errors.New("onnx: run failed"), codes.Internal, "onnx: run failed"},
	}
	for _, tc := range tests {
		s, f, _ := newServer()
		f.err = tc.err
		_, err := s.Embed(context.Background(), &embedderv1.EmbedRequest{Texts: []string{"a"}})
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("embedder error %v: got %v, want %v saying %q", tc.err, err, tc.code, tc.want)
		}
	}
}

func TestGetModelInfo(t *testing.T) {
	s, _, _ := newServer()
	resp, err := s.GetModelInfo(context.Background(), &embedderv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m := resp.GetModel()
	if m.GetName() != "fake" || m.GetDimension() != 2 || m.GetMaxSeqLength() != 256 || m.GetMaxSeqLengthSource() != "sentence_bert_config.json" ||
		m.GetPooling() != embedderv1.Pooling_POOLING_MEAN || !m.GetNormalized() || m.GetDevice() != "cpu" ||
		m.GetExecutionProvider() != "CPUExecutionProvider" || m.GetModelSha256() != "ab" || m.GetVocabSize() != 100 || !m.GetLowercase() {
		t.Errorf("ModelInfo = %v", m)
	}
	for _, tc := range []struct {
		info embed.Info
		want embedderv1.Pooling
	}{
		{embed.Info{Pooling: pooling.CLS}, embedderv1.Pooling_POOLING_CLS},
		{embed.Info{Pooling: pooling.Max}, embedderv1.Pooling_POOLING_MAX},
		{embed.Info{Pooling: pooling.Mean, GraphPools: true}, embedderv1.Pooling_POOLING_MODEL},
	} {
		if got := ModelInfo(tc.info).GetPooling(); got != tc.want {
			t.Errorf("pooling of %+v = %v, want %v", tc.info, got, tc.want)
		}
	}
}
