// Package shardset assigns papers to shards and parses the shard lists that
// index instances own and the gateway routes to. Both sides use this one
// package, so they can never disagree on where a paper lives.
package shardset

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// MaxShards bounds the number of shards of a collection. Shards are units of
// placement, not of parallelism inside a process; thousands would only cost
// file handles.
const MaxShards = 1024

// ShardOf returns the shard of a paper id in a collection of total shards:
// FNV-1a of the id modulo total. It must never change, since stored papers
// stay where it put them.
func ShardOf(id string, total int) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(total))
}

// ValidateTotal checks a collection's shard count.
func ValidateTotal(total int) error {
	if total < 1 || total > MaxShards {
		return fmt.Errorf("number of shards %d: want 1..%d", total, MaxShards)
	}
	return nil
}

// Parse reads a shard list such as "0-3,6,8-9" for a collection of total
// shards and returns the shards sorted and without duplicates. An empty
// list means every shard.
func Parse(s string, total int) ([]int, error) {
	if err := ValidateTotal(total); err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		out := make([]int, total)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseShard(lo, total)
		if err != nil {
			return nil, fmt.Errorf("shard list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parseShard(hi, total); err != nil {
				return nil, fmt.Errorf("shard list %q: %w", s, err)
			}
			if b < a {
				return nil, fmt.Errorf("shard list %q: range %q runs backwards", s, part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func parseShard(s string, total int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a shard number", s)
	}
	if n < 0 || n >= total {
		return 0, fmt.Errorf("shard %d out of range 0..%d", n, total-1)
	}
	return n, nil
}

// Format writes shards compactly, as Parse reads them: [0 1 2 3 6] is "0-3,6".
func Format(shards []int) string {
	var b strings.Builder
	for i := 0; i < len(shards); {
		j := i
		for j+1 < len(shards) && shards[j+1] == shards[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(shards[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(shards[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ParseAssignment reads a shard plan for a set of identical instances, one
// shard list per instance in order, separated by ";": "0-3;4-7" gives
// shards 0-3 to instance 0 and 4-7 to instance 1. Lists may overlap (an
// overlap is a replica), but every shard of the collection must be in one,
// and no list may be empty ("all" says every shard), since a stray ";" is
// far likelier than a full replica. The index daemon (-shard-assignment)
// and the deployment checks read plans with it.
func ParseAssignment(s string, total int) ([][]int, error) {
	if err := ValidateTotal(total); err != nil {
		return nil, err
	}
	var sets [][]int
	covered := make([]bool, total)
	for i, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			return nil, fmt.Errorf("shard assignment %q: the list of instance %d is empty", s, i)
		}
		set, err := Parse(part, total)
		if err != nil {
			return nil, fmt.Errorf("shard assignment %q, instance %d: %w", s, i, err)
		}
		for _, sh := range set {
			covered[sh] = true
		}
		sets = append(sets, set)
	}
	var missing []int
	for sh, ok := range covered {
		if !ok {
			missing = append(missing, sh)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shard assignment %q leaves shards %s of %d to no instance", s, Format(missing), total)
	}
	return sets, nil
}
