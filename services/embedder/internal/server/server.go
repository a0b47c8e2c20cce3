// Package server implements arxivsearch.embedder.v1.EmbedderService.
package server

import (
	"context"

	embedderv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/embedder/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server answers EmbedderService calls.
//
// This build has no inference runtime behind it yet: every call answers
// UNIMPLEMENTED with a message saying so, so callers and deployments can be
// wired and tested against the real API while inference is built.
type Server struct {
	embedderv1.UnimplementedEmbedderServiceServer
}

// New returns a Server.
func New() *Server { return &Server{} }

const notBuilt = "this embedder build has no inference runtime yet; see README.md, section Status"

// Embed embeds texts.
func (s *Server) Embed(ctx context.Context, req *embedderv1.EmbedRequest) (*embedderv1.EmbedResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "Embed: %s", notBuilt)
}

// GetModelInfo describes the served model.
func (s *Server) GetModelInfo(ctx context.Context, req *embedderv1.GetModelInfoRequest) (*embedderv1.GetModelInfoResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "GetModelInfo: %s", notBuilt)
}
