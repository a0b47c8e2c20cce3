package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
)

func TestOwnedShards(t *testing.T) {
	tests := []struct {
		name                         string
		shards, assignment, instance string
		total                        int
		want                         []int
		wantErr                      string
	}{
		{name: "shards", shards: "2-3", total: 8, want: []int{2, 3}},
		{name: "all by default", total: 4, want: []int{0, 1, 2, 3}},
		{name: "pod name", assignment: "0-3;4-7", instance: "index-1", total: 8, want: []int{4, 5, 6, 7}},
		{name: "number", assignment: "0-3;4-7", instance: "0", total: 8, want: []int{0, 1, 2, 3}},
		{name: "name with dashes", assignment: "0-1;2-3;4-5;6-7", instance: "arxiv-index-3", total: 8, want: []int{6, 7}},
		{name: "replicas", assignment: "0-3;4-7;0-3;4-7", instance: "index-2", total: 8, want: []int{0, 1, 2, 3}},
		{name: "interleaved", assignment: "0,2,4,6;1,3,5,7", instance: "index-1", total: 8, want: []int{1, 3, 5, 7}},
		{name: "full replica", assignment: "all;all", instance: "index-1", total: 4, want: []int{0, 1, 2, 3}},
		{name: "spaces", assignment: " 0-3 ; 4-7 ", instance: " index-1 ", total: 8, want: []int{4, 5, 6, 7}},

		{name: "both", shards: "0-3", assignment: "0-3;4-7", instance: "index-0", total: 8, wantErr: "set one of them"},
		{name: "instance without assignment", instance: "index-0", total: 8, wantErr: "only used with -shard-assignment"},
		{name: "no instance", assignment: "0-3;4-7", total: 8, wantErr: "needs -instance"},
		{name: "beyond the plan", assignment: "0-3;4-7", instance: "index-2", total: 8, wantErr: "has lists for instances 0..1 only"},
		{name: "hole", assignment: "0-3;5-7", instance: "index-0", total: 8, wantErr: "leaves shards 4 of 8 to no instance"},
		{name: "stray separator", assignment: "0-3;4-7;", instance: "index-0", total: 8, wantErr: "the list of instance 2 is empty"},
		{name: "out of range", assignment: "0-3;4-8", instance: "index-0", total: 8, wantErr: "instance 1: shard list \"4-8\": shard 8 out of range"},
		{name: "bad total", assignment: "0", instance: "0", total: 0, wantErr: "-total-shards"},
		{name: "no number", assignment: "0-3;4-7", instance: "index", total: 8, wantErr: "want a number"},
		{name: "trailing dash", assignment: "0-3;4-7", instance: "index-", total: 8, wantErr: "want a number"},
		{name: "signed", assignment: "0-3;4-7", instance: "+1", total: 8, wantErr: "want a number"},
		{name: "bad shards", shards: "9", total: 8, wantErr: "-shards / -total-shards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ownedShards(tt.shards, tt.assignment, tt.instance, tt.total)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ownedShards = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ownedShards = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestShardAssignmentDaemons starts two daemons the way a StatefulSet
// starts its pods, with one plan and their own names, and asks each over
// gRPC which shards it serves: what the gateway will route by.
func TestShardAssignmentDaemons(t *testing.T) {
	for name, want := range map[string][]int32{"index-0": {0, 1, 2, 3}, "index-1": {4, 5, 6, 7}} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.Shards, cfg.ShardAssignment, cfg.Instance = "", "0-3;4-7", name
			conn := serve(t, cfg).conn
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			stats, err := indexv1.NewIndexServiceClient(conn).GetStats(cctx, &indexv1.GetStatsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var got []int32
			for _, s := range stats.GetShards() {
				got = append(got, s.GetShard())
			}
			if stats.GetTotalShards() != 8 || !slices.Equal(got, want) {
				t.Errorf("GetStats = total %d shards %v, want 8 and %v", stats.GetTotalShards(), got, want)
			}
		})
	}
}
