package onnx

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"
)

// Options configure a session.
type Options struct {
	// IntraOpThreads is the number of threads one run uses; 0 lets ONNX
	// Runtime choose (one per core).
	IntraOpThreads int
	// InterOpThreads bounds parallelism between graph nodes; 0 lets ONNX
	// Runtime choose. Sessions run sequentially, so it rarely matters.
	InterOpThreads int
	// Device is where the session should run.
	Device Device
	// Logger receives the CUDA fallback warning; nil means slog.Default().
	Logger *slog.Logger
}

// Input is a padded batch laid out row-major [Size][SeqLen]: the tensors
// the graph's inputs take. TypeIDs is ignored by a graph without
// token_type_ids.
type Input struct {
	Size, SeqLen  int
	IDs           []int64
	AttentionMask []int64
	TypeIDs       []int64
}

// Session runs one model graph. Run is not safe for concurrent use: a
// session reuses its output buffer from run to run. Use one session per
// goroutine.
type Session struct {
	sess   *ort.DynamicAdvancedSession
	graph  Graph
	device string // "cpu" or "cuda:N": what actually runs
	prov   string // execution provider actually in use
	out    []float32
	inputs []ort.Value
}

// NewSession opens a session on the model at path, whose graph Inspect
// described. With a CUDA or Auto device it appends the CUDA execution
// provider; when that fails (a CPU-only library, no provider library
// beside it, no GPU) it logs a warning and opens a CPU session instead.
// Device and Provider report what was opened.
func NewSession(path string, g Graph, opts Options) (*Session, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.Device.Kind != CPU {
		s, err := newSession(path, g, opts, true)
		if err == nil {
			return s, nil
		}
		logger.Warn("CUDA execution provider unavailable; running on the CPU instead",
			"device", opts.Device.String(), "err", err,
			"hint", "the CUDA build of ONNX Runtime (onnxruntime-gpu) with libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so beside libonnxruntime.so, CUDA 12 and cuDNN 9 are needed; see docs/benchmarks.md")
	}
	return newSession(path, g, opts, false)
}

func newSession(path string, g Graph, opts Options, cuda bool) (*Session, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	defer so.Destroy()
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("onnx: intra-op threads %d: %w", opts.IntraOpThreads, err)
		}
	}
	if opts.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opts.InterOpThreads); err != nil {
			return nil, fmt.Errorf("onnx: inter-op threads %d: %w", opts.InterOpThreads, err)
		}
	}
	s := &Session{graph: g, device: "cpu", prov: CPUProvider}
	if cuda {
		if err := appendCUDA(so, opts.Device.ID); err != nil {
			return nil, err
		}
		s.device, s.prov = fmt.Sprintf("cuda:%d", opts.Device.ID), CUDAProvider
	}
	s.sess, err = ort.NewDynamicAdvancedSession(path, g.Inputs, []string{g.Output}, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: session on %s (%s): %w", path, s.prov, err)
	}
	return s, nil
}

func appendCUDA(so *ort.SessionOptions, id int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("onnx: CUDA provider options: %w", err)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return fmt.Errorf("onnx: CUDA provider options: %w", err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("onnx: CUDA execution provider: %w", err)
	}
	return nil
}

// Device is the device the session runs on: "cpu" or "cuda:N".
func (s *Session) Device() string { return s.device }

// Provider is the execution provider in use, e.g. CPUProvider.
func (s *Session) Provider() string { return s.prov }

// Graph is the session's graph; its Dim is known after the first Run.
func (s *Session) Graph() Graph { return s.graph }

// Run runs a batch and returns the output, [Size][SeqLen][Dim] token
// embeddings or [Size][Dim] sentence embeddings as Graph().Pooled says.
// The returned slice is the session's buffer: it is valid until the next
// Run.
func (s *Session) Run(in Input) ([]float32, error) {
	n := in.Size * in.SeqLen
	if in.Size < 1 || in.SeqLen < 1 || len(in.IDs) < n || len(in.AttentionMask) < n || (s.graph.TypeIDs && len(in.TypeIDs) < n) {
		return nil, fmt.Errorf("onnx: batch of %d×%d with %d ids, %d mask and %d type ids: too few", in.Size, in.SeqLen,
			len(in.IDs), len(in.AttentionMask), len(in.TypeIDs))
	}
	shape := ort.NewShape(int64(in.Size), int64(in.SeqLen))
	s.inputs = s.inputs[:0]
	defer func() {
		for _, v := range s.inputs {
			v.Destroy()
		}
		clear(s.inputs)
	}()
	for _, data := range [][]int64{in.IDs, in.AttentionMask, in.TypeIDs}[:len(s.graph.Inputs)] {
		t, err := ort.NewTensor(shape, data[:n])
		if err != nil {
			return nil, fmt.Errorf("onnx: input tensor: %w", err)
		}
		s.inputs = append(s.inputs, t)
	}
	if s.graph.Dim == 0 {
		return s.runDiscovering(in)
	}
	outShape := ort.NewShape(int64(in.Size), int64(in.SeqLen), int64(s.graph.Dim))
	if s.graph.Pooled {
		outShape = ort.NewShape(int64(in.Size), int64(s.graph.Dim))
	}
	size := int(outShape.FlattenedSize())
	if cap(s.out) < size {
		s.out = make([]float32, size)
	}
	s.out = s.out[:size]
	out, err := ort.NewTensor(outShape, s.out)
	if err != nil {
		return nil, fmt.Errorf("onnx: output tensor: %w", err)
	}
	defer out.Destroy()
	if err := s.sess.Run(s.inputs, []ort.Value{out}); err != nil {
		return nil, fmt.Errorf("onnx: run on a batch of %d×%d: %w", in.Size, in.SeqLen, err)
	}
	return s.out, nil
}

// runDiscovering runs with an output ONNX Runtime allocates, to learn a
// symbolic output dimension; later runs write into the session's buffer.
func (s *Session) runDiscovering(in Input) ([]float32, error) {
	outs := []ort.Value{nil}
	if err := s.sess.Run(s.inputs, outs); err != nil {
		return nil, fmt.Errorf("onnx: run on a batch of %d×%d: %w", in.Size, in.SeqLen, err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("onnx: output %s is not a float32 tensor", s.graph.Output)
	}
	shape := t.GetShape()
	want := ort.NewShape(int64(in.Size), int64(in.SeqLen))
	if s.graph.Pooled {
		want = ort.NewShape(int64(in.Size))
	}
	if len(shape) != len(want)+1 || !shape[:len(want)].Equals(want) || shape[len(want)] < 1 {
		return nil, fmt.Errorf("onnx: output %s has shape %v for a batch of %d×%d", s.graph.Output, shape, in.Size, in.SeqLen)
	}
	s.graph.Dim = int(shape[len(want)])
	s.out = append(s.out[:0], t.GetData()...)
	return s.out, nil
}

// Close releases the session.
func (s *Session) Close() error {
	if s.sess == nil {
		return errors.New("onnx: session already closed")
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}
