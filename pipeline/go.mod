module github.com/arxivsearch/arxivsearch/pipeline

go 1.26.0

require (
	github.com/arxivsearch/arxivsearch/platform v0.0.0-00010101000000-000000000000
	github.com/arxivsearch/arxivsearch/proto v0.0.0-00010101000000-000000000000
	github.com/arxivsearch/arxivsearch/services/embedder v0.0.0-00010101000000-000000000000
	github.com/parquet-go/parquet-go v0.32.0
	github.com/yalue/onnxruntime_go v1.27.0
	golang.org/x/sync v0.25.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/andybalholm/brotli v1.1.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	github.com/parquet-go/bitpack v1.0.0 // indirect
	github.com/parquet-go/jsonlite v1.0.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.21 // indirect
	github.com/twpayne/go-geom v1.6.1 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261019180522-ce908d29299b // indirect
)

replace github.com/arxivsearch/arxivsearch/services/embedder => ../services/embedder

replace github.com/arxivsearch/arxivsearch/platform => ../platform

replace github.com/arxivsearch/arxivsearch/proto => ../proto
