package hub_test

import (
	"context"
	"fmt"
	"log"

	"github.com/arxivsearch/arxivsearch/services/embedder/internal/hub"
)

// A command-line tool fetching a model, with a progress line per file.
func ExampleDownload() {
	s, err := hub.Download(context.Background(), "sentence-transformers/all-MiniLM-L6-v2", hub.Options{
		Progress: func(file string, done, total int64) {
			fmt.Printf("\r%-40s %3d%%", file, 100*done/max(total, 1))
			if done == total {
				fmt.Println()
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("model directory:", s.Dir, "ONNX model:", s.ONNXFile)
}
