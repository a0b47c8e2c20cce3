// Package server implements arxivsearch.search.v1.SearchService, the public
// API, on top of the embedder and the index instances.
package server

import (
	"context"

	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server answers SearchService calls.
//
// This build does not fan out to the embedder and the index yet: every call
// answers UNIMPLEMENTED with a message saying so, so clients can be written
// and tested against the real API, over gRPC and REST, while it is built.
type Server struct {
	searchv1.UnimplementedSearchServiceServer
}

// New returns a Server.
func New() *Server { return &Server{} }

const notBuilt = "this gateway build does not query the embedder and index yet; see README.md, section Status"

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "%s: %s", method, notBuilt)
}

// Search finds papers similar to a text.
func (s *Server) Search(context.Context, *searchv1.SearchRequest) (*searchv1.SearchResponse, error) {
	return nil, unimplemented("Search")
}

// SearchSimilar finds papers similar to a stored paper.
func (s *Server) SearchSimilar(context.Context, *searchv1.SearchSimilarRequest) (*searchv1.SearchSimilarResponse, error) {
	return nil, unimplemented("SearchSimilar")
}

// GetPaper returns a stored paper.
func (s *Server) GetPaper(context.Context, *searchv1.GetPaperRequest) (*searchv1.GetPaperResponse, error) {
	return nil, unimplemented("GetPaper")
}

// IngestPapers embeds and stores papers.
func (s *Server) IngestPapers(context.Context, *searchv1.IngestPapersRequest) (*searchv1.IngestPapersResponse, error) {
	return nil, unimplemented("IngestPapers")
}

// DeletePaper removes a paper.
func (s *Server) DeletePaper(context.Context, *searchv1.DeletePaperRequest) (*searchv1.DeletePaperResponse, error) {
	return nil, unimplemented("DeletePaper")
}

// Embed returns vectors of texts.
func (s *Server) Embed(context.Context, *searchv1.EmbedRequest) (*searchv1.EmbedResponse, error) {
	return nil, unimplemented("Embed")
}

// ListCategories counts papers per category.
func (s *Server) ListCategories(context.Context, *searchv1.ListCategoriesRequest) (*searchv1.ListCategoriesResponse, error) {
	return nil, unimplemented("ListCategories")
}

// GetInfo describes the deployment.
func (s *Server) GetInfo(context.Context, *searchv1.GetInfoRequest) (*searchv1.GetInfoResponse, error) {
	return nil, unimplemented("GetInfo")
}
