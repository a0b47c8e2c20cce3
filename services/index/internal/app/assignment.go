package app

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/arxivsearch/arxivsearch/platform/shardset"
)

// ownedShards returns the shards this instance owns: -shards, or its list
// in -shard-assignment.
//
// The assignment exists for instances that are copies of one configuration,
// such as the pods of a Kubernetes StatefulSet: every pod gets the same
// plan, and its own name (index-0, index-1, ...) picks its list, so the
// shards of an ordinal stay where its volume holds them. Every instance
// checks the whole plan, so a plan that leaves a shard to nobody stops them
// all at start rather than leaving searches silently incomplete.
func ownedShards(shards, assignment, instance string, total int) ([]int, error) {
	if strings.TrimSpace(assignment) == "" {
		if strings.TrimSpace(instance) != "" {
			return nil, fmt.Errorf("-instance %q is only used with -shard-assignment", instance)
		}
		owned, err := shardset.Parse(shards, total)
		if err != nil {
			return nil, fmt.Errorf("-shards / -total-shards: %w", err)
		}
		return owned, nil
	}
	if strings.TrimSpace(shards) != "" {
		return nil, fmt.Errorf("-shards %q and -shard-assignment %q: set one of them", shards, assignment)
	}
	sets, err := shardset.ParseAssignment(assignment, total)
	if err != nil {
		return nil, fmt.Errorf("-shard-assignment / -total-shards: %w", err)
	}
	n, err := parseInstance(instance)
	if err != nil {
		return nil, err
	}
	if n >= len(sets) {
		return nil, fmt.Errorf("-instance %q is number %d, but -shard-assignment %q has lists for instances 0..%d only; change the assignment and the number of instances together",
			instance, n, assignment, len(sets)-1)
	}
	return sets[n], nil
}

// parseInstance reads "2", or a name ending in "-2" such as the pod name
// "index-2" that the Kubernetes downward API gives a StatefulSet's pod.
func parseInstance(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("-shard-assignment needs -instance: this instance's number, or a name ending in -N such as a StatefulSet pod's name")
	}
	num := s
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		num = s[i+1:]
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, fmt.Errorf("-instance %q: want a number, or a name ending in -N", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, fmt.Errorf("-instance %q: %w", s, err)
	}
	return n, nil
}
