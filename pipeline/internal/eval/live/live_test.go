package live

import (
	"fmt"
	"testing"
)

func TestRecallAt(t *testing.T) {
	tests := []struct {
		name        string
		live, exact [][]int32
		k           int
		want        []float64
	}{
		{"same set in another order", [][]int32{{3, 2, 1}}, [][]int32{{1, 2, 3}}, 3, []float64{1}},
		{"one of three missed", [][]int32{{1, 2, 9}}, [][]int32{{1, 2, 3}}, 3, []float64{2.0 / 3}},
		{"only the top k counts", [][]int32{{9, 8, 1}}, [][]int32{{1, 2, 3}}, 2, []float64{0}},
		{"live answered fewer", [][]int32{{1}}, [][]int32{{1, 2}}, 10, []float64{0.5}},
		{"corpus smaller than k", [][]int32{{0, 1}}, [][]int32{{1, 0}}, 10, []float64{1}},
		{"nothing to find", [][]int32{{}}, [][]int32{{}}, 10, []float64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RecallAt(tc.live, tc.exact, tc.k); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("RecallAt = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeShards(t *testing.T) {
	ivf := func(shard, nlist, nprobe int) ShardStat {
		return ShardStat{Shard: shard, Kind: "IVF", Nlist: nlist, DefaultNprobe: nprobe}
	}
	tests := []struct {
		name   string
		stats  []ShardStat
		nprobe int
		want   string
	}{
		{"unknown", nil, 0, "shard kinds unknown (index instances not reachable)"},
		{"flat", []ShardStat{{Kind: "flat"}, {Shard: 1, Kind: "flat"}}, 0, "2 shard indexes: 2 flat (exact)"},
		{"default nprobe covers every list", []ShardStat{ivf(0, 48, 48), ivf(1, 46, 46)}, 0,
			"2 shard indexes: 2 IVF (nlist 46-48, nprobe 46-48: every list probed, so exact)"},
		{"requested nprobe", []ShardStat{ivf(0, 48, 48), ivf(1, 46, 46)}, 8, "2 shard indexes: 2 IVF (nlist 46-48, nprobe 8)"},
		{"requested nprobe clamped", []ShardStat{ivf(0, 6, 6)}, 64, "1 shard index: 1 IVF (nlist 6, nprobe 6: every list probed, so exact)"},
		{"mixed", []ShardStat{{Kind: "flat"}, ivf(1, 192, 64)}, 0, "2 shard indexes: 1 flat (exact), 1 IVF (nlist 192, nprobe 64)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeShards(tc.stats, tc.nprobe); got != tc.want {
				t.Errorf("describeShards = %q, want %q", got, tc.want)
			}
		})
	}
}
