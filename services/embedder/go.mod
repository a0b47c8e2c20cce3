module github.com/arxivsearch/arxivsearch/services/embedder

go 1.26.0

require (
	github.com/yalue/onnxruntime_go v1.27.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
