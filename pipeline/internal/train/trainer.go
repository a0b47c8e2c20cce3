package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/staticmodel"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vecmath"
	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

// Trainer holds the table and optimizer state.
type Trainer struct {
	cfg     Config
	corpus  *Corpus
	threads int
	dim     int
	rows    []float32 // NumRows x dim; row 0 stays zero
	m, v    []float32 // Adam moments, same layout
	step    int
	rng     *rand.Rand

	// sampling
	cats    []int32   // categories with at least two papers
	cumW    []float64 // cumulative weights over cats
	batchSz int

	// per-step buffers
	docs    []int32   // 2B papers: anchors then positives
	sum     []float32 // 2B x dim pooled sums
	emb     []float32 // 2B x dim normalized
	norm    []float32 // 2B
	grad    []float32 // 2B x dim: dL/d(emb), then dL/d(sum)
	logits  []float32 // B x B
	g       []float32 // B x B: dL/dlogits
	loss    []float64 // B
	stamp   []int32   // per row: last step that touched it
	slot    []int32   // per row: index in touched
	touched []int32
	rgrad   []float32 // len(touched) x dim
}

// New makes a trainer over corpus; threads <= 0 means GOMAXPROCS.
func New(cfg Config, corpus *Corpus, threads int) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	t := &Trainer{cfg: cfg, corpus: corpus, threads: threads, dim: cfg.Dim}
	for ci, docs := range corpus.ByCat {
		if len(docs) >= 2 {
			t.cats = append(t.cats, int32(ci))
		}
	}
	if len(t.cats) < 2 {
		return nil, fmt.Errorf("training needs at least two categories with two papers each; the training split has %d", len(t.cats))
	}
	var acc float64
	for _, ci := range t.cats {
		acc += math.Pow(float64(len(corpus.ByCat[ci])), cfg.CategoryPower)
		t.cumW = append(t.cumW, acc)
	}
	t.batchSz = cfg.Batch
	if cfg.Negatives == Distinct {
		t.batchSz = min(cfg.Batch, len(t.cats))
	}
	nrows := corpus.NumRows()
	t.rows = make([]float32, nrows*t.dim)
	t.m = make([]float32, nrows*t.dim)
	t.v = make([]float32, nrows*t.dim)
	t.stamp = make([]int32, nrows)
	t.slot = make([]int32, nrows)
	t.init()
	t.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7261696e)) // pair sampling stream
	B := t.batchSz
	t.docs = make([]int32, 2*B)
	t.sum = make([]float32, 2*B*t.dim)
	t.emb = make([]float32, 2*B*t.dim)
	t.norm = make([]float32, 2*B)
	t.grad = make([]float32, 2*B*t.dim)
	t.logits = make([]float32, B*B)
	t.g = make([]float32, B*B)
	t.loss = make([]float64, B)
	return t, nil
}

// init fills the table: N(0, InitStd²) per component, row by row from
// one seeded stream, scaled by idf/mean(idf) for InitIDF.
func (t *Trainer) init() {
	r := rand.New(rand.NewPCG(t.cfg.Seed, 0x696e6974)) // init stream
	var w []float64
	if t.cfg.Init == InitIDF {
		w = t.corpus.IDF()
		var mean float64
		for _, x := range w[1:] {
			mean += x
		}
		mean /= float64(max(len(w)-1, 1))
		for i := range w {
			w[i] /= mean
		}
	}
	for row := 1; row < t.corpus.NumRows(); row++ {
		scale := t.cfg.InitStd
		if w != nil {
			scale *= w[row]
		}
		v := t.rows[row*t.dim : (row+1)*t.dim]
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
	}
}

// BatchPairs is the number of pairs per step (Batch, or the number of
// usable categories for Distinct batches when that is smaller).
func (t *Trainer) BatchPairs() int { return t.batchSz }

// pickCat draws a usable category by weight.
func (t *Trainer) pickCat(u float64) int32 {
	i := sort.SearchFloat64s(t.cumW, u*t.cumW[len(t.cumW)-1])
	return t.cats[min(i, len(t.cats)-1)]
}

// sample fills t.docs with the step's pairs.
func (t *Trainer) sample() {
	B := t.batchSz
	var cats []int32
	if t.cfg.Negatives == Distinct {
		// Weighted sampling without replacement (Efraimidis-Spirakis):
		// the B largest keys u^(1/w).
		type keyed struct {
			key float64
			cat int32
		}
		keys := make([]keyed, len(t.cats))
		prev := 0.0
		for i, c := range t.cats {
			w := t.cumW[i] - prev
			prev = t.cumW[i]
			keys[i] = keyed{math.Log(t.rng.Float64()+1e-300) / w, c}
		}
		slices.SortStableFunc(keys, func(a, b keyed) int {
			switch {
			case a.key > b.key:
				return -1
			case a.key < b.key:
				return 1
			}
			return 0
		})
		for _, k := range keys[:B] {
			cats = append(cats, k.cat)
		}
	} else {
		for range B {
			cats = append(cats, t.pickCat(t.rng.Float64()))
		}
	}
	for i, c := range cats {
		docs := t.corpus.ByCat[c]
		a := t.rng.IntN(len(docs))
		p := t.rng.IntN(len(docs) - 1)
		if p >= a {
			p++
		}
		t.docs[i], t.docs[B+i] = docs[a], docs[p]
	}
}

// lr is the learning rate of the current (1-based) step.
func (t *Trainer) lr() float64 {
	lr := t.cfg.LR
	s := t.step
	if t.cfg.Warmup > 0 && s <= t.cfg.Warmup {
		return lr * float64(s) / float64(t.cfg.Warmup)
	}
	if t.cfg.LRDecay == "linear" && t.cfg.Steps > t.cfg.Warmup {
		frac := float64(s-t.cfg.Warmup) / float64(t.cfg.Steps-t.cfg.Warmup)
		lr *= max(1-frac, 0)
	}
	return lr
}

// TrainStep samples a batch, computes the loss and its gradient, and
// applies one Adam update. It returns the batch loss.
func (t *Trainer) TrainStep() float64 {
	t.step++
	t.sample()
	loss := t.forwardBackward()
	t.update()
	return loss
}

// row returns table row r.
func (t *Trainer) row(r int32) []float32 {
	return t.rows[int(r)*t.dim : (int(r)+1)*t.dim : (int(r)+1)*t.dim]
}

func (t *Trainer) vec(buf []float32, i int) []float32 {
	return buf[i*t.dim : (i+1)*t.dim : (i+1)*t.dim]
}

// forwardBackward computes the MNRL loss of the batch in t.docs and
// leaves dL/d(pooled sum) of every text in t.grad.
func (t *Trainer) forwardBackward() float64 {
	B := t.batchSz
	n := 2 * B
	scale := float32(t.cfg.Scale)
	// Pool and normalize every text.
	vecmath.ParallelFor(n, t.threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := t.vec(t.sum, i)
			clear(s)
			rows, cnt := t.corpus.doc(int(t.docs[i]))
			for k, r := range rows {
				if c := cnt[k]; c == 1 {
					vecmath.Add(t.row(r), s)
				} else {
					vecmath.Axpy(c, t.row(r), s)
				}
			}
			e := t.vec(t.emb, i)
			copy(e, s)
			t.norm[i] = max(vecmath.Normalize(e), 1e-12)
		}
	})
	// Logits, softmax and dL/dlogits per anchor.
	masked := t.cfg.Negatives == Masked
	cat := t.corpus.cat
	vecmath.ParallelFor(B, t.threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			a := t.vec(t.emb, i)
			ci := cat[t.docs[i]]
			li := t.logits[i*B : (i+1)*B]
			gi := t.g[i*B : (i+1)*B]
			mx := float32(math.Inf(-1))
			for j := range B {
				if masked && j != i && cat[t.docs[B+j]] == ci {
					li[j] = float32(math.Inf(-1))
					continue
				}
				li[j] = scale * vecmath.Dot(a, t.vec(t.emb, B+j))
				mx = max(mx, li[j])
			}
			var z float64
			for j := range B {
				if math.IsInf(float64(li[j]), -1) {
					gi[j] = 0
					continue
				}
				e := math.Exp(float64(li[j] - mx))
				gi[j] = float32(e)
				z += e
			}
			t.loss[i] = math.Log(z) + float64(mx) - float64(li[i])
			inv := float32(1 / (z * float64(B)))
			for j := range B {
				gi[j] *= inv
			}
			gi[i] -= 1 / float32(B)
		}
	})
	var loss float64
	for _, l := range t.loss {
		loss += l
	}
	loss /= float64(B)
	// dL/d(anchor emb) = scale * sum_j g_ij p_j; dL/d(positive emb) = scale * sum_i g_ij a_i.
	vecmath.ParallelFor(n, t.threads, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			d := t.vec(t.grad, k)
			clear(d)
			if k < B {
				gi := t.g[k*B : (k+1)*B]
				for j, w := range gi {
					if w != 0 {
						vecmath.Axpy(scale*w, t.vec(t.emb, B+j), d)
					}
				}
			} else {
				j := k - B
				for i := range B {
					if w := t.g[i*B+j]; w != 0 {
						vecmath.Axpy(scale*w, t.vec(t.emb, i), d)
					}
				}
			}
			// Through the normalization: (d - e (e.d)) / |s|.
			e := t.vec(t.emb, k)
			vecmath.Axpy(-vecmath.Dot(e, d), e, d)
			vecmath.Scale(1/t.norm[k], d)
		}
	})
	return loss
}

// update accumulates the row gradients of the step and applies lazy Adam
// to the touched rows. Rows are split between workers by position in the
// touched list; each worker scans the texts in batch order, so each row's
// gradient is summed in the same order whatever the partition.
func (t *Trainer) update() {
	stamp := int32(t.step)
	t.touched = t.touched[:0]
	n := 2 * t.batchSz
	for i := range n {
		rows, _ := t.corpus.doc(int(t.docs[i]))
		for _, r := range rows {
			if t.stamp[r] != stamp {
				t.stamp[r] = stamp
				t.slot[r] = int32(len(t.touched))
				t.touched = append(t.touched, r)
			}
		}
	}
	nt := len(t.touched)
	if cap(t.rgrad) < nt*t.dim {
		t.rgrad = make([]float32, nt*t.dim, nt*t.dim*5/4)
	}
	t.rgrad = t.rgrad[:nt*t.dim]
	b1, b2 := t.cfg.Beta1, t.cfg.Beta2
	bc1 := 1 - math.Pow(b1, float64(t.step))
	bc2 := 1 - math.Pow(b2, float64(t.step))
	stepSize := float32(t.lr() * math.Sqrt(bc2) / bc1)
	eps := float32(t.cfg.Eps)
	fb1, fb2 := float32(b1), float32(b2)
	vecmath.ParallelFor(nt, t.threads, func(lo, hi int) {
		g := t.rgrad[lo*t.dim : hi*t.dim]
		clear(g)
		for i := range n {
			rows, cnt := t.corpus.doc(int(t.docs[i]))
			d := t.vec(t.grad, i)
			for k, r := range rows {
				s := int(t.slot[r])
				if s < lo || s >= hi {
					continue
				}
				gs := t.rgrad[s*t.dim : (s+1)*t.dim]
				if c := cnt[k]; c == 1 {
					vecmath.Add(d, gs)
				} else {
					vecmath.Axpy(c, d, gs)
				}
			}
		}
		for s := lo; s < hi; s++ {
			r := int(t.touched[s])
			gs := t.rgrad[s*t.dim : (s+1)*t.dim]
			w := t.rows[r*t.dim : (r+1)*t.dim]
			m := t.m[r*t.dim : (r+1)*t.dim]
			v := t.v[r*t.dim : (r+1)*t.dim]
			for k, gk := range gs {
				mk := fb1*m[k] + (1-fb1)*gk
				vk := fb2*v[k] + (1-fb2)*gk*gk
				m[k], v[k] = mk, vk
				w[k] -= stepSize * mk / (float32(math.Sqrt(float64(vk))) + eps)
			}
		}
	})
}

// Model returns the current table as a model (sharing no memory with the
// trainer).
func (t *Trainer) Model(tok *tokenizer.Tokenizer) *staticmodel.Model {
	return &staticmodel.Model{
		Dim:       t.dim,
		Rows:      slices.Clone(t.rows),
		Map:       slices.Clone(t.corpus.Map),
		MaxSeqLen: t.cfg.MaxSeqLen,
		Tok:       tok,
		Threads:   t.threads,
	}
}

// Train runs the remaining steps of the configuration, calling onStep
// (when not nil) after each.
func (t *Trainer) Train(ctx context.Context, onStep func(step int, loss float64) error) error {
	for t.step < t.cfg.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		loss := t.TrainStep()
		if onStep != nil {
			if err := onStep(t.step, loss); err != nil {
				return err
			}
		}
	}
	return nil
}
