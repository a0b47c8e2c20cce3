package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

var topics = [][]string{
	{"quantum", "qubit", "entanglement", "photon", "decoherence", "spin", "circuit", "gate"},
	{"galaxy", "stellar", "redshift", "cosmology", "supernova", "telescope", "dark", "halo"},
	{"protein", "gene", "cell", "enzyme", "genome", "tissue", "membrane", "receptor"},
	{"image", "pixel", "segmentation", "camera", "video", "detection", "convolution", "scene"},
	{"theorem", "lemma", "manifold", "algebra", "proof", "topology", "group", "ring"},
	{"robot", "grasp", "navigation", "actuator", "locomotion", "planning", "sensor", "control"},
}

var common = []string{"we", "propose", "a", "new", "method", "results", "show", "the", "of", "and", "model", "study"}

// synthetic makes n papers per topic; category names alternate cs/non-cs.
func synthetic(n int, seed uint64) []dataset.Paper {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []dataset.Paper
	for c, words := range topics {
		cat := fmt.Sprintf("cs.T%d", c)
		if c%2 == 1 {
			cat = fmt.Sprintf("math.T%d", c)
		}
		for i := range n {
			var w []string
			for range 10 {
				if r.IntN(3) == 0 {
					w = append(w, common[r.IntN(len(common))])
				} else {
					w = append(w, words[r.IntN(len(words))])
				}
			}
			out = append(out, dataset.Paper{ID: fmt.Sprintf("%d-%d", c, i), Title: w[0] + " " + w[1], Abstract: strings.Join(w[2:], " "),
				PrimaryCategory: cat, Categories: []string{cat}})
		}
	}
	return out
}

func testTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// quiet keeps progress logs out of test output.
var quiet = progress.WithLogger(slog.New(slog.DiscardHandler))

func smallConfig() Config {
	c := Defaults()
	c.Dim, c.Batch, c.Steps, c.LR = 16, 12, 40, 0.05
	return c
}

func newTrainer(t testing.TB, cfg Config, papers []dataset.Paper, threads int) *Trainer {
	t.Helper()
	corpus, err := BuildCorpus(context.Background(), papers, testTokenizer(t), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(cfg, corpus, threads)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestReproducibleAcrossThreads(t *testing.T) {
	papers := synthetic(20, 1)
	for _, neg := range []Negatives{Masked, Distinct} {
		cfg := smallConfig()
		cfg.Negatives = neg
		a := newTrainer(t, cfg, papers, 1)
		b := newTrainer(t, cfg, papers, 2)
		if err := a.Train(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Train(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.rows, b.rows) {
			t.Errorf("%s: 1 and 2 threads gave different tables", neg)
		}
		cfg.Seed++
		c := newTrainer(t, cfg, papers, 2)
		if err := c.Train(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(a.rows, c.rows) {
			t.Errorf("%s: seeds %d and %d gave the same table", neg, cfg.Seed-1, cfg.Seed)
		}
	}
}

func TestLossDecreases(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 60
	tr := newTrainer(t, cfg, synthetic(30, 2), 2)
	var losses []float64
	if err := tr.Train(context.Background(), func(_ int, loss float64) error { losses = append(losses, loss); return nil }); err != nil {
		t.Fatal(err)
	}
	mean := func(xs []float64) float64 {
		var s float64
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	first, last := mean(losses[:10]), mean(losses[50:])
	if !(last < 0.7*first) {
		t.Errorf("loss went from %.4f (first 10 steps) to %.4f (last 10): want a clear decrease", first, last)
	}
}

func TestDistinctBatches(t *testing.T) {
	cfg := smallConfig()
	cfg.Negatives = Distinct
	cfg.Batch = 100 // more than the 6 categories
	tr := newTrainer(t, cfg, synthetic(10, 3), 1)
	if tr.BatchPairs() != len(topics) {
		t.Fatalf("batch of %d pairs, want one per category (%d)", tr.BatchPairs(), len(topics))
	}
	for range 20 {
		tr.sample()
		B := tr.batchSz
		seen := map[int32]bool{}
		for i := range B {
			a, p := tr.docs[i], tr.docs[B+i]
			ca, cp := tr.corpus.cat[a], tr.corpus.cat[p]
			if ca != cp || a == p {
				t.Fatalf("pair %d: papers %d and %d, categories %d and %d", i, a, p, ca, cp)
			}
			if seen[ca] {
				t.Fatalf("category %d twice in a distinct batch", ca)
			}
			seen[ca] = true
		}
	}
}

func TestMaskedPairsShareCategory(t *testing.T) {
	cfg := smallConfig()
	cfg.Batch = 50
	tr := newTrainer(t, cfg, synthetic(10, 4), 1)
	tr.sample()
	dup := false
	seen := map[int32]bool{}
	for i := range tr.batchSz {
		a, p := tr.docs[i], tr.docs[tr.batchSz+i]
		if tr.corpus.cat[a] != tr.corpus.cat[p] || a == p {
			t.Fatalf("pair %d: papers %d and %d", i, a, p)
		}
		dup = dup || seen[tr.corpus.cat[a]]
		seen[tr.corpus.cat[a]] = true
	}
	if !dup {
		t.Error("a masked batch of 50 pairs over 6 categories repeated no category; the mask is untested")
	}
}

// refLoss is an independent float64 implementation of the batch loss:
// pooled sums, normalization, scaled cosine logits, same-category
// columns masked (Masked), cross-entropy against the diagonal.
func refLoss(tr *Trainer, rows []float64) float64 {
	B, dim := tr.batchSz, tr.dim
	emb := make([][]float64, 2*B)
	for i := range 2 * B {
		s := make([]float64, dim)
		rs, cnt := tr.corpus.doc(int(tr.docs[i]))
		for k, r := range rs {
			for d := range dim {
				s[d] += float64(cnt[k]) * rows[int(r)*dim+d]
			}
		}
		var n float64
		for _, v := range s {
			n += v * v
		}
		n = math.Sqrt(n)
		for d := range s {
			s[d] /= n
		}
		emb[i] = s
	}
	var loss float64
	for i := range B {
		ci := tr.corpus.cat[tr.docs[i]]
		var logits []float64
		var diag float64
		for j := range B {
			if tr.cfg.Negatives == Masked && j != i && tr.corpus.cat[tr.docs[B+j]] == ci {
				continue
			}
			var dot float64
			for d := range dim {
				dot += emb[i][d] * emb[B+j][d]
			}
			l := tr.cfg.Scale * dot
			logits = append(logits, l)
			if j == i {
				diag = l
			}
		}
		mx := slices.Max(logits)
		var z float64
		for _, l := range logits {
			z += math.Exp(l - mx)
		}
		loss += math.Log(z) + mx - diag
	}
	return loss / float64(B)
}

// TestGradientCheck compares the trainer's backward pass (the row
// gradients it would feed to Adam) with central finite differences of the
// float64 reference loss.
func TestGradientCheck(t *testing.T) {
	for _, neg := range []Negatives{Masked, Distinct} {
		t.Run(string(neg), func(t *testing.T) {
			cfg := smallConfig()
			cfg.Dim, cfg.Batch, cfg.Negatives, cfg.Scale = 6, 8, neg, 20
			tr := newTrainer(t, cfg, synthetic(6, 5), 2)
			// A few steps first, so the table is not at its random start.
			for range 5 {
				tr.TrainStep()
			}
			tr.sample()
			loss := tr.forwardBackward()
			rows := make([]float64, len(tr.rows))
			for i, v := range tr.rows {
				rows[i] = float64(v)
			}
			if ref := refLoss(tr, rows); math.Abs(ref-loss) > 1e-4*math.Max(1, math.Abs(ref)) {
				t.Fatalf("loss %.7f, reference %.7f", loss, ref)
			}
			// Analytic row gradients: sum over texts of count * dL/dsum.
			grad := map[int32][]float64{}
			for i := range 2 * tr.batchSz {
				rs, cnt := tr.corpus.doc(int(tr.docs[i]))
				for k, r := range rs {
					if grad[r] == nil {
						grad[r] = make([]float64, tr.dim)
					}
					for d := range tr.dim {
						grad[r][d] += float64(cnt[k]) * float64(tr.grad[i*tr.dim+d])
					}
				}
			}
			checked, maxRel := 0, 0.0
			const h = 1e-4
			for _, r := range slices.Sorted(func(yield func(int32) bool) {
				for r := range grad {
					if !yield(r) {
						return
					}
				}
			}) {
				for d := range tr.dim {
					i := int(r)*tr.dim + d
					old := rows[i]
					rows[i] = old + h
					up := refLoss(tr, rows)
					rows[i] = old - h
					down := refLoss(tr, rows)
					rows[i] = old
					num := (up - down) / (2 * h)
					an := grad[r][d]
					rel := math.Abs(num-an) / math.Max(1e-3, math.Abs(num)+math.Abs(an))
					maxRel = max(maxRel, rel)
					if rel > 2e-3 {
						t.Errorf("row %d dim %d: analytic %.6g, numeric %.6g", r, d, an, num)
					}
					checked++
				}
			}
			if checked < 50 {
				t.Fatalf("only %d gradient components checked", checked)
			}
			t.Logf("%d components, max relative error %.2g", checked, maxRel)
		})
	}
}

func TestBuildCorpus(t *testing.T) {
	papers := []dataset.Paper{
		{Title: "graph", Abstract: "graph model", PrimaryCategory: "a"},
		{Title: "model", Abstract: "data", PrimaryCategory: "b"},
	}
	cfg := smallConfig()
	cfg.MinDF = 2
	c, err := BuildCorpus(context.Background(), papers, testTokenizer(t), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// Kept: [CLS], [SEP] and "model" (in both papers); "graph" and
	// "data" are in one paper each.
	if c.NumRows() != 4 {
		t.Fatalf("%d rows, want 4 (zero row, [CLS], [SEP], model)", c.NumRows())
	}
	rows, cnt := c.doc(0)
	if len(rows) != 3 || slices.Contains(rows, 0) || slices.Max(cnt) != 1 {
		t.Errorf("paper 0 rows %v counts %v", rows, cnt)
	}
	tok := testTokenizer(t)
	model := tok.Encode("model", 0).IDs[1]
	if c.Map[model] == 0 || c.DF[c.Map[model]] != 2 || c.Tokens[c.Map[model]] != int32(model) {
		t.Errorf("model (id %d) maps to row %d", model, c.Map[model])
	}
	if graph := tok.Encode("graph", 0).IDs[1]; c.Map[graph] != 0 {
		t.Errorf("graph kept with min df 2")
	}
}
