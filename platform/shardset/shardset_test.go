package shardset

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		total   int
		want    []int
		wantErr string
	}{
		{in: "", total: 4, want: []int{0, 1, 2, 3}},
		{in: "all", total: 2, want: []int{0, 1}},
		{in: "0-3,6", total: 8, want: []int{0, 1, 2, 3, 6}},
		{in: " 5 , 1-2,2 ", total: 8, want: []int{1, 2, 5}},
		{in: "7", total: 8, want: []int{7}},
		{in: "8", total: 8, wantErr: "shard 8 out of range 0..7"},
		{in: "3-1", total: 8, wantErr: "runs backwards"},
		{in: "a", total: 8, wantErr: `"a" is not a shard number`},
		{in: "1,,2", total: 8, wantErr: `"" is not a shard number`},
		{in: "0", total: 0, wantErr: "number of shards 0"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.total)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q, %d) error = %v, want %q", tt.in, tt.total, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q, %d) = %v, %v; want %v", tt.in, tt.total, got, err, tt.want)
		}
		if back, err := Parse(Format(got), tt.total); err != nil || !slices.Equal(back, got) {
			t.Errorf("Parse(Format(%v)) = %v, %v", got, back, err)
		}
	}
}

func TestShardOfIsStableAndSpread(t *testing.T) {
	// Pinned values (FNV-1a 64 computed independently): changing the hash
	// would strand every stored paper on the wrong shard.
	pinned := []struct {
		id        string
		total, to int
	}{
		{"2503.01234", 8, 7}, {"hep-th/9901001", 8, 6}, {"2607.99999", 8, 1},
		{"2503.01234", 3, 2}, {"hep-th/9901001", 3, 0}, {"2607.99999", 3, 0},
	}
	for _, p := range pinned {
		if got := ShardOf(p.id, p.total); got != p.to {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", p.id, p.total, got, p.to)
		}
	}
	counts := make([]int, 8)
	for i := range 8000 {
		counts[ShardOf(fmt.Sprintf("2503.%05d", i), 8)]++
	}
	for s, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d got %d of 8000 ids; the hash spreads badly", s, c)
		}
	}
}

func TestParseAssignment(t *testing.T) {
	tests := []struct {
		in      string
		total   int
		want    [][]int
		wantErr string
	}{
		{in: "0-3;4-7", total: 8, want: [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{in: "0-1;2-3;0-1;2-3", total: 4, want: [][]int{{0, 1}, {2, 3}, {0, 1}, {2, 3}}},
		{in: "0,2;1,3", total: 4, want: [][]int{{0, 2}, {1, 3}}},
		{in: "all;all", total: 2, want: [][]int{{0, 1}, {0, 1}}},
		{in: " 0-1 ", total: 2, want: [][]int{{0, 1}}},
		{in: "0-3;5-7", total: 8, wantErr: "leaves shards 4 of 8 to no instance"},
		{in: "0-2;4-6", total: 8, wantErr: "leaves shards 3,7 of 8"},
		{in: "0-3;4-7;", total: 8, wantErr: "the list of instance 2 is empty"},
		{in: "", total: 8, wantErr: "the list of instance 0 is empty"},
		{in: "0-3;4-8", total: 8, wantErr: `instance 1: shard list "4-8": shard 8 out of range 0..7`},
		{in: "0", total: 0, wantErr: "number of shards 0"},
	}
	for _, tt := range tests {
		got, err := ParseAssignment(tt.in, tt.total)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAssignment(%q, %d) error = %v, want %q", tt.in, tt.total, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("ParseAssignment(%q, %d) = %v, %v; want %v", tt.in, tt.total, got, err, tt.want)
		}
	}
}
