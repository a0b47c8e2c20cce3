package indexbuild

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/platform/daemontest"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// hashEmbedder gives each text a deterministic unit vector, so the test
// can check that every stored vector belongs to its paper's text.
type hashEmbedder struct {
	dim   int
	calls int
	texts int
}

func (h *hashEmbedder) ModelName(context.Context) (string, int, error) {
	return "hash-test", h.dim, nil
}

func (h *hashEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	h.calls++
	h.texts += len(texts)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = vectorOf(t, h.dim)
	}
	return out, nil
}

func vectorOf(text string, dim int) []float32 {
	v := make([]float32, dim)
	var norm float64
	for j := range v {
		f := fnv.New64a()
		fmt.Fprintf(f, "%d|%s", j, text)
		v[j] = float32(f.Sum64()%2000)/1000 - 1
		norm += float64(v[j]) * float64(v[j])
	}
	for j := range v {
		v[j] = float32(float64(v[j]) / math.Sqrt(norm))
	}
	return v
}

// startIndex starts an instance of the real index daemon owning shards
// of a 4-shard collection.
func startIndex(t *testing.T, bin, shards string) *Instance {
	t.Helper()
	addr := daemontest.FreeAddr(t)
	daemontest.Start(t, "index", bin, append(os.Environ(), "OMP_NUM_THREADS=1"), "-listen", addr, "-metrics-listen", "",
		"-data-dir", t.TempDir(), "-total-shards", "4", "-shards", shards, "-log-level", "warn")
	daemontest.WaitServing(t, addr, "", 30*time.Second)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Instance{Addr: addr, Client: indexv1.NewIndexServiceClient(conn)}
}

func papers(n int) []dataset.Paper {
	ps := make([]dataset.Paper, n)
	for i := range ps {
		ps[i] = dataset.Paper{
			ID: fmt.Sprintf("2503.%05d", i), Title: fmt.Sprintf("Paper %d", i), Abstract: fmt.Sprintf("About topic %d.", i%7),
			Authors: []string{"A. Author"}, Categories: []string{"cs.LG"}, PrimaryCategory: "cs.LG", UpdateDate: "2025-03-01",
		}
	}
	return ps
}

func TestBuildRoutesResumesAndRefusesGaps(t *testing.T) {
	bin := filepath.Join(daemontest.Build(t, "./services/index/cmd/index"), "index")
	a := startIndex(t, bin, "0-1")
	b := startIndex(t, bin, "2-3")
	ctx := context.Background()
	ps := papers(120)
	emb := &hashEmbedder{dim: 16}

	res, err := Build(ctx, ps, emb, []*Instance{a, b}, Options{Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 120 || res.Skipped != 0 || res.TotalShards != 4 || res.Model != "hash-test" {
		t.Fatalf("first build = %+v", res)
	}
	// Every paper sits on the owner of its shard, with its own vector.
	for _, p := range ps {
		owner := a
		if shardset.ShardOf(p.ID, 4) >= 2 {
			owner = b
		}
		resp, err := owner.Client.GetPapers(ctx, &indexv1.GetPapersRequest{Ids: []string{p.ID}, IncludeVectors: true})
		if err != nil || len(resp.GetPapers()) != 1 {
			t.Fatalf("paper %s not on its owner %s: %v %v", p.ID, owner.Addr, resp, err)
		}
		want := vectorOf(dataset.TitleAbstract.Text(&p), 16)
		for j, x := range resp.GetPapers()[0].GetVector() {
			if math.Abs(float64(x-want[j])) > 1e-6 {
				t.Fatalf("paper %s stored a vector that is not its text's", p.ID)
			}
		}
	}

	// A second run embeds nothing: the build resumes from what is stored.
	emb.texts = 0
	res, err = Build(ctx, append(ps, papers(130)[120:]...), emb, []*Instance{a, b}, Options{Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 120 || res.Inserted != 10 || emb.texts != 10 {
		t.Errorf("resumed build = %+v after embedding %d texts, want 120 skipped and 10 new", res, emb.texts)
	}

	// Shards without an owner are refused before anything is written.
	_, err = Build(ctx, ps, emb, []*Instance{a}, Options{})
	if err == nil || !strings.Contains(err.Error(), "owns shards 2-3") {
		t.Errorf("build with half the shards: err = %v, want one naming shards 2-3", err)
	}
}
