// Package searchphrases holds search phrases of the kind people type into
// a paper search, shared by the load test (pipeline) and the index
// benchmark (services/index), which live in different modules, so that
// both measure the same queries.
package searchphrases

// Short are short search phrases across arXiv's archives.
var Short = []string{
	"contrastive learning for sentence embeddings",
	"graph neural networks for molecule property prediction",
	"diffusion models for image generation",
	"retrieval augmented generation",
	"large language model hallucination detection",
	"approximate nearest neighbor search",
	"quantum error correction surface code",
	"dark matter direct detection",
	"reinforcement learning from human feedback",
	"federated learning privacy",
	"vision transformer self-supervised pretraining",
	"gravitational wave parameter estimation",
	"sparse mixture of experts",
	"protein structure prediction",
	"topological insulators transport",
	"neural network quantization int8",
	"speech recognition low resource languages",
	"causal inference observational data",
	"exoplanet atmosphere spectroscopy",
	"stochastic gradient descent convergence",
}
