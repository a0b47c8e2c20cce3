package shard

import "testing"

func TestAutoNlist(t *testing.T) {
	tests := []struct {
		n    int64
		want int
	}{
		{0, 1}, {10, 1}, {78, 2}, {1000, 25}, {20_000, 512}, {24_336, 624},
		{100_000, 1265}, {1_000_000, 4000},
	}
	for _, tt := range tests {
		if got := AutoNlist(tt.n); got != tt.want {
			t.Errorf("AutoNlist(%d) = %d, want %d", tt.n, got, tt.want)
		}
		if nl := AutoNlist(tt.n); tt.n >= MinPointsPerList && int64(nl)*MinPointsPerList > tt.n {
			t.Errorf("AutoNlist(%d) = %d leaves fewer than %d points per list", tt.n, nl, MinPointsPerList)
		}
	}
	for _, nl := range []int{2, 512, 1265, 4000} {
		c := NlistCapacity(nl)
		if AutoNlist(c) < nl || AutoNlist(c-c/50) >= nl {
			t.Errorf("NlistCapacity(%d) = %d, but AutoNlist there is %d and 2%% less gives %d", nl, c, AutoNlist(c), AutoNlist(c-c/50))
		}
	}
}

func TestTrainTarget(t *testing.T) {
	auto := DefaultConfig()
	fixed := DefaultConfig()
	fixed.Nlist = 100
	off := DefaultConfig()
	off.FlatThreshold, off.RetrainFactor = 0, 0
	tests := []struct {
		name  string
		cfg   Config
		ivf   bool
		nlist int
		n     int64
		want  int
		ok    bool
	}{
		{"small flat stays flat", auto, false, 0, 19_999, 0, false},
		{"flat at the threshold trains", auto, false, 0, 20_000, 512, true},
		{"fixed nlist", fixed, false, 0, 20_000, 100, true},
		{"IVF within capacity", auto, true, 512, 50_000, 0, false},
		{"IVF grown 4x retrains", auto, true, 512, 4 * NlistCapacity(512), AutoNlist(4 * NlistCapacity(512)), true},
		{"fixed nlist never retrains", fixed, true, 100, 10_000_000, 0, false},
		{"automatic training off", off, false, 0, 10_000_000, 0, false},
		{"retraining off", off, true, 10, 10_000_000, 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.cfg.trainTarget(tt.ivf, tt.nlist, tt.n)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: trainTarget = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.FlatThreshold = -1 },
		func(c *Config) { c.Nlist = -1 },
		func(c *Config) { c.DefaultNprobe = 0 },
		func(c *Config) { c.RetrainFactor = 1 },
		func(c *Config) { c.TrainPointsPerList = 38 },
		func(c *Config) { c.TrainPointsPerList = 257 },
		func(c *Config) { c.SnapshotEveryChanges = -1 },
	} {
		c := DefaultConfig()
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
}
