package shard

import (
	"fmt"
	"math"
)

// MinPointsPerList is FAISS's guideline for IVF training: k-means wants at
// least 39 training points per list (it warns below that), so an automatic
// nlist never exceeds papers/39.
const MinPointsPerList = 39

// Config holds the tuning of a shard's FAISS index; the zero value is not
// useful, start from DefaultConfig.
type Config struct {
	// FlatThreshold is the number of papers at which a flat (exact) index
	// is trained into IVF, in the background. 0 keeps shards flat unless
	// trained explicitly.
	FlatThreshold int
	// Nlist is the number of IVF lists; 0 picks AutoNlist(papers) at each
	// training.
	Nlist int
	// DefaultNprobe is the nprobe of searches that give none; clamped to a
	// shard's nlist.
	DefaultNprobe int
	// RetrainFactor retrains an automatic-nlist IVF index once the shard
	// holds this many times the papers its nlist suits (see
	// NlistCapacity), e.g. 4: papers grew 4x, so the ideal nlist doubled.
	// 0 disables retraining on growth.
	RetrainFactor float64
	// TrainPointsPerList sizes the training sample: nlist times this many
	// vectors (all of the shard's when it has fewer), at least
	// MinPointsPerList. FAISS uses at most 256 per list.
	TrainPointsPerList int
	// SnapshotEveryChanges snapshots a shard in the background once this
	// many vectors were added or removed since its last snapshot; 0
	// disables the trigger (the periodic and shutdown snapshots remain).
	SnapshotEveryChanges int64
	// Seed makes training samples reproducible.
	Seed uint64
}

// DefaultConfig is the configuration the daemon's flags default to. The
// default nprobe gives recall@10 >= 0.95 against exact search at automatic
// nlist on clustered 384-d data shaped like real embeddings, from 20k to 1M
// vectors per shard (docs/benchmarks.md, section Index).
func DefaultConfig() Config {
	return Config{
		FlatThreshold:        20_000,
		Nlist:                0,
		DefaultNprobe:        64,
		RetrainFactor:        4,
		TrainPointsPerList:   64,
		SnapshotEveryChanges: 20_000,
		Seed:                 1,
	}
}

// Validate checks c, naming the flag-like field at fault.
func (c Config) Validate() error {
	switch {
	case c.FlatThreshold < 0:
		return fmt.Errorf("flat threshold %d: want >= 0", c.FlatThreshold)
	case c.Nlist < 0:
		return fmt.Errorf("nlist %d: want >= 0 (0 = automatic)", c.Nlist)
	case c.DefaultNprobe < 1:
		return fmt.Errorf("default nprobe %d: want >= 1", c.DefaultNprobe)
	case c.RetrainFactor != 0 && c.RetrainFactor < 1.5:
		return fmt.Errorf("retrain factor %v: want 0 (off) or >= 1.5", c.RetrainFactor)
	case c.TrainPointsPerList < MinPointsPerList || c.TrainPointsPerList > 256:
		return fmt.Errorf("training points per list %d: want %d..256", c.TrainPointsPerList, MinPointsPerList)
	case c.SnapshotEveryChanges < 0:
		return fmt.Errorf("snapshot every changes %d: want >= 0", c.SnapshotEveryChanges)
	}
	return nil
}

// AutoNlist is the number of IVF lists for a shard of n papers: about
// 4*sqrt(n), FAISS's rule of thumb, but at most n/39 so that every list
// gets MinPointsPerList training points, and at least 1.
func AutoNlist(n int64) int {
	if n <= 0 {
		return 1
	}
	nl := int(math.Round(4 * math.Sqrt(float64(n))))
	nl = min(nl, int(n/MinPointsPerList))
	return max(nl, 1)
}

// NlistCapacity is the number of papers an nlist suits: the smallest n for
// which AutoNlist(n) reaches nlist.
func NlistCapacity(nlist int) int64 {
	a := int64(nlist) * int64(nlist) / 16 // 4*sqrt(n) = nlist
	b := int64(nlist) * MinPointsPerList  // n/39 = nlist
	return max(a, b)
}

// chooseNlist picks the nlist for training a shard of n papers: requested
// if non-zero, else the configured one, else AutoNlist(n).
func (c Config) chooseNlist(n int64, requested int) int {
	switch {
	case requested > 0:
		return requested
	case c.Nlist > 0:
		return c.Nlist
	}
	return AutoNlist(n)
}

// trainTarget reports whether a shard with an index of kind ivf (false:
// flat) and nlist lists, holding n vectors, should be trained now, and
// with which nlist.
func (c Config) trainTarget(ivf bool, nlist int, n int64) (int, bool) {
	if !ivf {
		if c.FlatThreshold <= 0 || n < int64(c.FlatThreshold) {
			return 0, false
		}
		nl := c.chooseNlist(n, 0)
		return nl, int64(nl) <= n
	}
	if c.Nlist > 0 || c.RetrainFactor == 0 {
		return 0, false
	}
	if float64(n) < c.RetrainFactor*float64(NlistCapacity(nlist)) {
		return 0, false
	}
	nl := AutoNlist(n)
	return nl, nl > nlist
}
