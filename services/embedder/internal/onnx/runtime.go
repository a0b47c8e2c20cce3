// Package onnx runs a sentence-embedding model with ONNX Runtime: it loads
// the shared library, checks that a graph takes and gives what an embedder
// needs, and runs padded batches through sessions on the CPU or, when the
// library and the host have it, on a CUDA GPU.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var (
	initMu  sync.Mutex
	libPath string // the library the process's environment came from
)

// Init loads the ONNX Runtime shared library at path and creates the
// process's ONNX Runtime environment. An environment is per process and
// cannot be unloaded, so a second call with the same path does nothing and
// one with another path fails.
func Init(path string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if path != libPath {
			return fmt.Errorf("onnx: ONNX Runtime is already loaded from %s, cannot load %s as well", libPath, path)
		}
		return nil
	}
	if path == "" {
		return errors.New("onnx: no ONNX Runtime library path given")
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("onnx: ONNX Runtime library: %w", err)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelWarning()); err != nil {
		return fmt.Errorf("onnx: loading ONNX Runtime from %s: %w", path, err)
	}
	libPath = path
	return nil
}

// Version is the loaded ONNX Runtime's version, e.g. "1.24.1".
func Version() string { return ort.GetVersion() }
