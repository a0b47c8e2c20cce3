// Package synth generates synthetic paper embeddings for the index's tests
// and benchmarks. It never feeds the service: it stands in for real
// embeddings where a test needs many of them and must not depend on a model.
//
// Real sentence embeddings of abstracts are not uniform on the sphere, nor
// a few tight blobs. They share a common direction (two unrelated abstracts
// have a cosine similarity around 0.05-0.2, not 0); papers group by field,
// inside a field by topic and inside a topic by narrower subtopic, with
// groups of very different sizes; and every paper still has much of its own
// direction, so a paper's nearest neighbours are only moderately similar to
// it (cosine 0.6-0.8) and its top 10 are spread over a neighbourhood rather
// than packed in one cluster. The generator reproduces that shape:
//
//	paper = normalize(Common*c + field + Topic*topic + Subtopic*subtopic + Local*l + Noise*z)
//
// with c one fixed unit vector, field, topic and subtopic random unit
// vectors of a three-level hierarchy (each subtopic belongs to one topic,
// each topic to one field; group sizes follow a Zipf-like law), l a random
// combination of a few directions specific to the paper's field (the low
// intrinsic dimension of real embeddings, which makes neighbourhoods
// continuous rather than crisp blobs) and z isotropic noise. With the
// defaults the mean cosine of a query to its nearest stored paper is about
// 0.70, to its 10th nearest about 0.62, and to a random paper about 0.05,
// the kind of values small sentence-embedding models give for abstracts
// (not measured here on a real model). IVF needs a few percent
// of its lists for 0.95 recall@10 on it, as on real text embeddings, where
// well separated blobs would need one list and uniform noise most of them.
package synth

import (
	"math"
	"math/rand/v2"
)

// Spec describes a synthetic collection.
type Spec struct {
	Dim int
	// Fields, Topics and Subtopics count the groups of each level. Zero
	// means 24 fields, one topic per 2,000 papers and one subtopic per 100
	// papers of the collection size given to New (at least one per parent).
	Fields, Topics, Subtopics int
	// Weights of each component against the field vector (weight 1). Zero
	// means the defaults: Common 0.45, Topic 0.8, Subtopic 0.7, Noise 0.6.
	Common, Topic, Subtopic, Noise float64
	// Local and LocalDim shape the variation inside a subtopic: a random
	// combination of LocalDim directions specific to the paper's field,
	// of expected norm Local. Real embeddings vary along few directions
	// locally (their intrinsic dimension is far below 384), which makes
	// neighbourhoods continuous instead of crisp blobs. Zero means 1.6
	// and 24.
	Local    float64
	LocalDim int
	Seed     uint64
}

// Generator draws vectors of one synthetic collection. It is not safe for
// concurrent use.
type Generator struct {
	spec    Spec
	centers [][]float64   // per subtopic: common + field + topic + subtopic parts
	field   []int         // per subtopic
	bases   [][][]float64 // per field: LocalDim unit directions
	weights []float64     // cumulative popularity of the subtopics
	rng     *rand.Rand
}

// New returns a generator for a collection of about n papers.
func New(spec Spec, n int) *Generator {
	if spec.Fields == 0 {
		spec.Fields = 24
	}
	if spec.Topics == 0 {
		spec.Topics = max(spec.Fields, n/2000)
	}
	if spec.Subtopics == 0 {
		spec.Subtopics = max(spec.Topics, n/100)
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&spec.Common, 0.45)
	def(&spec.Topic, 0.8)
	def(&spec.Subtopic, 0.7)
	def(&spec.Noise, 0.6)
	def(&spec.Local, 1.6)
	if spec.LocalDim == 0 {
		spec.LocalDim = 24
	}
	g := &Generator{spec: spec, rng: rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))}
	common := g.unit()
	fields := make([][]float64, spec.Fields)
	for i := range fields {
		fields[i] = g.unit()
	}
	g.bases = make([][][]float64, spec.Fields)
	for i := range g.bases {
		g.bases[i] = make([][]float64, spec.LocalDim)
		for j := range g.bases[i] {
			g.bases[i][j] = g.unit()
		}
	}
	topics := make([][]float64, spec.Topics)
	for i := range topics {
		topics[i] = g.unit()
	}
	g.centers = make([][]float64, spec.Subtopics)
	g.weights = make([]float64, spec.Subtopics)
	g.field = make([]int, spec.Subtopics)
	total := 0.0
	for i := range g.centers {
		t := i % spec.Topics
		f := t % spec.Fields
		s := g.unit()
		c := make([]float64, spec.Dim)
		for j := range c {
			c[j] = spec.Common*common[j] + fields[f][j] + spec.Topic*topics[t][j] + spec.Subtopic*s[j]
		}
		g.centers[i] = c
		g.field[i] = f
		// Popularity: Zipf-like over a random order of the subtopics, so
		// some are 20x larger than others, as arXiv topics are.
		total += 1 / math.Sqrt(1+float64(g.rng.IntN(spec.Subtopics)))
		g.weights[i] = total
	}
	for i := range g.weights {
		g.weights[i] /= total
	}
	return g
}

func (g *Generator) unit() []float64 {
	v := make([]float64, g.spec.Dim)
	var s float64
	for i := range v {
		v[i] = g.rng.NormFloat64()
		s += v[i] * v[i]
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] *= inv
	}
	return v
}

// Vector draws one unit vector.
func (g *Generator) Vector() []float32 {
	out := make([]float32, g.spec.Dim)
	g.fill(out)
	return out
}

// Vectors draws n unit vectors, row-major in one slice.
func (g *Generator) Vectors(n int) []float32 {
	out := make([]float32, n*g.spec.Dim)
	for i := range n {
		g.fill(out[i*g.spec.Dim : (i+1)*g.spec.Dim])
	}
	return out
}

// fill is the generator's hot loop. It is exempt from the race detector
// (a Generator is not for concurrent use anyway), which otherwise makes
// tests that draw 100,000s of 384-d vectors several times slower.
//
//go:norace
func (g *Generator) fill(out []float32) {
	u := g.rng.Float64()
	lo, hi := 0, len(g.weights)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if g.weights[mid] < u {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	tmp := make([]float64, len(out))
	copy(tmp, g.centers[lo])
	ls := g.spec.Local / math.Sqrt(float64(g.spec.LocalDim))
	for _, b := range g.bases[g.field[lo]] {
		w := ls * g.rng.NormFloat64()
		for j := range tmp {
			tmp[j] += w * b[j]
		}
	}
	scale := g.spec.Noise / math.Sqrt(float64(g.spec.Dim))
	var s float64
	for j := range tmp {
		tmp[j] += scale * g.rng.NormFloat64()
		s += tmp[j] * tmp[j]
	}
	inv := 1 / math.Sqrt(s)
	for j := range out {
		out[j] = float32(tmp[j] * inv)
	}
}
