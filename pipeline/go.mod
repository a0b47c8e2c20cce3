module github.com/arxivsearch/arxivsearch/pipeline

go 1.26

require (
	github.com/arxivsearch/arxivsearch/platform v0.0.0-00010101000000-000000000000
	github.com/arxivsearch/arxivsearch/proto v0.0.0-00010101000000-000000000000
	github.com/arxivsearch/arxivsearch/services/embedder v0.0.0-00010101000000-000000000000
)

replace github.com/arxivsearch/arxivsearch/services/embedder => ../services/embedder

replace github.com/arxivsearch/arxivsearch/platform => ../platform

replace github.com/arxivsearch/arxivsearch/proto => ../proto
