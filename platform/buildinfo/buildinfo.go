// Package buildinfo holds the version every binary reports in logs,
// metrics (arxivsearch_build_info) and GetInfo.
package buildinfo

// Version is set at link time by the Makefile:
//
//	-ldflags "-X github.com/arxivsearch/arxivsearch/platform/buildinfo.Version=$(git describe --always --dirty)"
var Version = "dev"
