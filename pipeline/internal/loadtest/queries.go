package loadtest

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/platform/searchphrases"
)

// ShortQueries are search phrases of the kind people type.
var ShortQueries = searchphrases.Short

// LongQueries are whole titles and abstracts, used when no input file is
// given.
var LongQueries = []string{
	"Dense Passage Retrieval for Open-Domain Question Answering. Open-domain question answering relies on efficient passage retrieval to select candidate contexts, where traditional sparse vector space models, such as TF-IDF or BM25, are the de facto method. In this work, we show that retrieval can be practically implemented using dense representations alone, where embeddings are learned from a small number of questions and passages by a simple dual-encoder framework. When evaluated on a wide range of open-domain QA datasets, our dense retriever outperforms a strong Lucene-BM25 system largely by 9%-19% absolute in terms of top-20 passage retrieval accuracy.",
	"Attention Is All You Need. The dominant sequence transduction models are based on complex recurrent or convolutional neural networks that include an encoder and a decoder. The best performing models also connect the encoder and decoder through an attention mechanism. We propose a new simple network architecture, the Transformer, based solely on attention mechanisms, dispensing with recurrence and convolutions entirely. Experiments on two machine translation tasks show these models to be superior in quality while being more parallelizable and requiring significantly less time to train.",
	"Billion-scale similarity search with GPUs. Similarity search finds application in specialized database systems handling complex data such as images or videos, which are typically represented by high-dimensional features and require specific indexing structures. This paper tackles the problem of better utilizing GPUs for this task. While GPUs excel at data-parallel tasks, prior approaches are bottlenecked by algorithms that expose less parallelism, such as k-min selection, or make poor use of the memory hierarchy. We propose a design for k-selection that operates at up to 55% of theoretical peak performance, enabling a nearest neighbor implementation that is 8.5x faster than prior GPU state of the art.",
	"Observation of Gravitational Waves from a Binary Black Hole Merger. On September 14, 2015 at 09:50:45 UTC the two detectors of the Laser Interferometer Gravitational-Wave Observatory simultaneously observed a transient gravitational-wave signal. The signal sweeps upwards in frequency from 35 to 250 Hz with a peak gravitational-wave strain of 1.0e-21. It matches the waveform predicted by general relativity for the inspiral and merger of a pair of black holes and the ringdown of the resulting single black hole.",
	"Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks. BERT and RoBERTa have set a new state-of-the-art performance on sentence-pair regression tasks like semantic textual similarity. However, it requires that both sentences are fed into the network, which causes a massive computational overhead. We present Sentence-BERT, a modification of the pretrained BERT network that uses siamese and triplet network structures to derive semantically meaningful sentence embeddings that can be compared using cosine-similarity. This reduces the effort for finding the most similar pair from 65 hours with BERT to about 5 seconds with SBERT, while maintaining the accuracy from BERT.",
}

// ReadLongQueries reads up to limit papers of an input file (any format
// the dataset package reads) and returns "title. abstract" for each.
// Malformed records are skipped.
func ReadLongQueries(path string, limit int) ([]string, error) {
	src, err := dataset.Open(path, dataset.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []string
	for limit <= 0 || len(out) < limit {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *dataset.RecordError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		title := strings.Join(strings.Fields(rec.Paper.Title), " ")
		abstract := strings.Join(strings.Fields(rec.Paper.Abstract), " ")
		if title == "" && abstract == "" {
			continue
		}
		out = append(out, strings.TrimSpace(title+". "+abstract))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no paper with a title or abstract", path)
	}
	return out, nil
}
