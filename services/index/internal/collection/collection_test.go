package collection

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/services/index/internal/shard"
	"github.com/arxivsearch/arxivsearch/services/index/internal/store"
	"github.com/arxivsearch/arxivsearch/services/index/internal/synth"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func options(dir string, total int, owned ...int) Options {
	cfg := shard.DefaultConfig()
	cfg.FlatThreshold = 0
	return Options{Dir: dir, TotalShards: total, Owned: owned, Shard: cfg}
}

func open(t *testing.T, o Options) *Collection {
	t.Helper()
	c, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background(), false) })
	return c
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, options(dir, 4, 1, 3))
	if m, d := c.Model(); m != "" || d != 0 {
		t.Fatalf("new collection has model %q dim %d", m, d)
	}
	if shards, err := c.Shards(nil); err != nil || len(shards) != 0 {
		t.Fatalf("before the first upsert: shards %v, %v; want none", shards, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("no %s: %v", FileName, err)
	}
	if err := c.Configure(ctx, "m", 8); err != nil {
		t.Fatal(err)
	}
	shards, err := c.Shards(nil)
	if err != nil || len(shards) != 2 || shards[0].ID() != 1 || shards[1].ID() != 3 {
		t.Fatalf("after Configure: shards %v, %v", shards, err)
	}
	for _, id := range []int{1, 3} {
		if _, err := os.Stat(filepath.Join(ShardDir(dir, id), shard.StoreFile)); err != nil {
			t.Errorf("shard %d has no store: %v", id, err)
		}
	}
	if err := c.Configure(ctx, "m", 8); err != nil {
		t.Errorf("Configure with the same model: %v", err)
	}
	if err := c.Configure(ctx, "other", 8); !errors.Is(err, store.ErrModelMismatch) {
		t.Errorf("Configure with another model: %v", err)
	}
	if err := c.Configure(ctx, "m", 9); !errors.Is(err, store.ErrDimensionMismatch) {
		t.Errorf("Configure with another dimension: %v", err)
	}
	if _, err := c.Shard(2); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Shard(2) = %v, want ErrNotOwned", err)
	}

	g := synth.New(synth.Spec{Dim: 8, Seed: 1}, 10)
	sh, _ := c.Shard(3)
	if _, err := sh.Upsert(ctx, []store.Paper{{ID: "x", Vector: g.Vector()}}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c.Collector(), "index_shard_indexed_vectors"); n != 2 {
		t.Errorf("collector exports %d index_shard_indexed_vectors series, want 2", n)
	}
	if err := c.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx, true); !errors.Is(err, shard.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}

	// Reopen: configured, the paper is there; another shard count is refused.
	c2 := open(t, options(dir, 4, 1, 3))
	if m, d := c2.Model(); m != "m" || d != 8 {
		t.Errorf("reopened with model %q dim %d", m, d)
	}
	sh, _ = c2.Shard(3)
	if _, err := sh.Store().Lookup(ctx, "x", false); err != nil {
		t.Errorf("paper lost: %v", err)
	}
	if _, err := Open(ctx, options(dir, 8, 1)); !errors.Is(err, ErrTotalShardsMismatch) || !strings.Contains(err.Error(), "-total-shards 8") {
		t.Errorf("Open with another shard count = %v", err)
	}
}

func TestOpenRefusesForeignData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.MkdirAll(ShardDir(dir, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ShardDir(dir, 0), shard.StoreFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, options(dir, 2, 0, 1)); err == nil || !strings.Contains(err.Error(), "no "+FileName) {
		t.Errorf("Open over shard directories without %s = %v", FileName, err)
	}
	if _, err := Open(ctx, options(t.TempDir(), 2, 2)); err == nil {
		t.Error("Open owning shard 2 of 2 succeeded")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, FileName), []byte(`{"format":1,"total_shards":2,"model":"m"}`), 0o644)
	if _, err := Open(ctx, options(bad, 2, 0)); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("Open with a model but no dimension = %v", err)
	}
}
