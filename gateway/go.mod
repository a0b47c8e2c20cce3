module github.com/arxivsearch/arxivsearch/gateway

go 1.26
