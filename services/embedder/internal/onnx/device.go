package onnx

import (
	"fmt"
	"strconv"
	"strings"
)

// DeviceKind is where a session is asked to run.
type DeviceKind int

const (
	// CPU runs on the CPU execution provider.
	CPU DeviceKind = iota
	// CUDA asks for the CUDA execution provider and falls back to the CPU,
	// with a warning, when the library or the host lacks it.
	CUDA
	// Auto uses CUDA when it works and the CPU otherwise.
	Auto
)

// Device is a requested device: a kind and, for CUDA, a GPU index.
type Device struct {
	Kind DeviceKind
	ID   int
}

// ParseDevice reads "cpu", "cuda", "cuda:N" or "auto".
func ParseDevice(s string) (Device, error) {
	switch s := strings.ToLower(strings.TrimSpace(s)); {
	case s == "cpu":
		return Device{Kind: CPU}, nil
	case s == "auto":
		return Device{Kind: Auto}, nil
	case s == "cuda":
		return Device{Kind: CUDA}, nil
	case strings.HasPrefix(s, "cuda:"):
		id, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || id < 0 {
			return Device{}, fmt.Errorf("device %q: want cuda:N with N a GPU index", s)
		}
		return Device{Kind: CUDA, ID: id}, nil
	}
	return Device{}, fmt.Errorf("device %q: want cpu, cuda, cuda:N or auto", s)
}

func (d Device) String() string {
	switch d.Kind {
	case CUDA:
		return fmt.Sprintf("cuda:%d", d.ID)
	case Auto:
		return "auto"
	}
	return "cpu"
}

// Execution provider names as ONNX Runtime spells them.
const (
	CPUProvider  = "CPUExecutionProvider"
	CUDAProvider = "CUDAExecutionProvider"
)
