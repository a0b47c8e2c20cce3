// Package server implements arxivsearch.index.v1.IndexService.
package server

import (
	"context"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server answers IndexService calls for the shards this instance owns.
//
// This build has no shards behind it yet: every call answers UNIMPLEMENTED
// with a message saying so, so callers and deployments can be wired and
// tested against the real API while the shards are built.
type Server struct {
	indexv1.UnimplementedIndexServiceServer
	totalShards int
	owned       []int
}

// New returns a Server owning the given shards of a collection of
// totalShards shards.
func New(totalShards int, owned []int) *Server {
	return &Server{totalShards: totalShards, owned: owned}
}

const notBuilt = "this index build has no shard storage yet; see README.md, section Status"

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "%s: %s", method, notBuilt)
}

// Search finds nearest papers.
func (s *Server) Search(context.Context, *indexv1.SearchRequest) (*indexv1.SearchResponse, error) {
	return nil, unimplemented("Search")
}

// UpsertPapers stores papers.
func (s *Server) UpsertPapers(context.Context, *indexv1.UpsertPapersRequest) (*indexv1.UpsertPapersResponse, error) {
	return nil, unimplemented("UpsertPapers")
}

// DeletePapers removes papers.
func (s *Server) DeletePapers(context.Context, *indexv1.DeletePapersRequest) (*indexv1.DeletePapersResponse, error) {
	return nil, unimplemented("DeletePapers")
}

// GetPapers returns papers by id.
func (s *Server) GetPapers(context.Context, *indexv1.GetPapersRequest) (*indexv1.GetPapersResponse, error) {
	return nil, unimplemented("GetPapers")
}

// ListCategories counts papers per category.
func (s *Server) ListCategories(context.Context, *indexv1.ListCategoriesRequest) (*indexv1.ListCategoriesResponse, error) {
	return nil, unimplemented("ListCategories")
}

// GetStats describes the owned shards. Even without storage it answers
// which shards this instance owns, which is what the gateway needs to route.
func (s *Server) GetStats(context.Context, *indexv1.GetStatsRequest) (*indexv1.GetStatsResponse, error) {
	resp := &indexv1.GetStatsResponse{TotalShards: int32(s.totalShards)}
	for _, sh := range s.owned {
		resp.Shards = append(resp.Shards, &indexv1.ShardStats{Shard: int32(sh)})
	}
	return resp, nil
}

// TrainShards trains shards.
func (s *Server) TrainShards(context.Context, *indexv1.TrainShardsRequest) (*indexv1.TrainShardsResponse, error) {
	return nil, unimplemented("TrainShards")
}

// SnapshotShards snapshots shards.
func (s *Server) SnapshotShards(context.Context, *indexv1.SnapshotShardsRequest) (*indexv1.SnapshotShardsResponse, error) {
	return nil, unimplemented("SnapshotShards")
}

// ReloadShards reloads shards.
func (s *Server) ReloadShards(context.Context, *indexv1.ReloadShardsRequest) (*indexv1.ReloadShardsResponse, error) {
	return nil, unimplemented("ReloadShards")
}
