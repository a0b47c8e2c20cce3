// Package train trains the static embedding model with
// MultipleNegativesRankingLoss on pairs of papers that share a primary
// category, with no false negatives in the softmax, using Adam with lazy
// (sparse) updates of the rows a step touches. Training is deterministic:
// the same data, configuration and seed give a bit-identical table, for
// any number of threads.
package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

// Negatives is how a batch avoids same-category negatives.
type Negatives string

const (
	// Masked samples pairs frequency-weighted and removes every
	// same-category column from each anchor's softmax.
	Masked Negatives = "masked"
	// Distinct builds batches in which no two pairs share a category
	// (so a batch holds at most one pair per category).
	Distinct Negatives = "distinct"
)

// Init is how the table starts.
type Init string

const (
	// InitNormal draws every kept row from N(0, InitStd²).
	InitNormal Init = "normal"
	// InitIDF scales each row of InitNormal by the token's inverse
	// document frequency in the training split (divided by the mean idf),
	// so the untrained model is a random projection of a TF-IDF vector.
	InitIDF Init = "idf"
)

// Config is every setting that changes the trained table.
type Config struct {
	Dim       int       `json:"dim"`
	Steps     int       `json:"steps"`
	Batch     int       `json:"batch"` // pairs per step
	LR        float64   `json:"lr"`
	LRDecay   string    `json:"lr_decay"` // "constant" or "linear" (to zero)
	Warmup    int       `json:"warmup_steps"`
	Beta1     float64   `json:"beta1"`
	Beta2     float64   `json:"beta2"`
	Eps       float64   `json:"eps"`
	Scale     float64   `json:"scale"` // MNRL logit scale on cosine similarity
	Negatives Negatives `json:"negatives"`
	// CategoryPower weights categories by size^power when drawing pairs:
	// 1 is frequency-weighted (as a uniform draw of anchor papers), 0 is
	// uniform over categories.
	CategoryPower float64          `json:"category_power"`
	MaxSeqLen     int              `json:"max_seq_length"`
	Text          dataset.TextRule `json:"text"`
	Init          Init             `json:"init"`
	InitStd       float64          `json:"init_std"`
	// MinDF drops tokens seen in fewer training papers (they map to the
	// zero row).
	MinDF int    `json:"min_df"`
	Seed  uint64 `json:"seed"`
}

// Defaults returns the default configuration (docs/evaluation.md has the
// measurements behind each choice).
func Defaults() Config {
	return Config{
		Dim:           256,
		Steps:         2000,
		Batch:         256,
		LR:            0.01,
		LRDecay:       "constant",
		Beta1:         0.9,
		Beta2:         0.999,
		Eps:           1e-8,
		Scale:         20,
		Negatives:     Masked,
		CategoryPower: 1,
		MaxSeqLen:     512,
		Text:          dataset.TitleAbstract,
		Init:          InitNormal,
		InitStd:       1,
		MinDF:         1,
		Seed:          42,
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("dim %d: want > 0", c.Dim)
	case c.Steps < 0:
		return fmt.Errorf("steps %d: want >= 0", c.Steps)
	case c.Batch < 2:
		return fmt.Errorf("batch %d: want >= 2 pairs", c.Batch)
	case c.LR <= 0:
		return fmt.Errorf("lr %g: want > 0", c.LR)
	case c.LRDecay != "constant" && c.LRDecay != "linear":
		return fmt.Errorf("lr decay %q: want constant or linear", c.LRDecay)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %d: want >= 0", c.Warmup)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("betas %g, %g: want in [0, 1)", c.Beta1, c.Beta2)
	case c.Eps <= 0:
		return fmt.Errorf("eps %g: want > 0", c.Eps)
	case c.Scale <= 0:
		return fmt.Errorf("scale %g: want > 0", c.Scale)
	case c.Negatives != Masked && c.Negatives != Distinct:
		return fmt.Errorf("negatives %q: want %s or %s", c.Negatives, Masked, Distinct)
	case c.MaxSeqLen < 3:
		return fmt.Errorf("max sequence length %d: want >= 3", c.MaxSeqLen)
	case c.Init != InitNormal && c.Init != InitIDF:
		return fmt.Errorf("init %q: want %s or %s", c.Init, InitNormal, InitIDF)
	case c.InitStd <= 0:
		return fmt.Errorf("init std %g: want > 0", c.InitStd)
	case c.MinDF < 1:
		return fmt.Errorf("min df %d: want >= 1", c.MinDF)
	}
	if _, err := dataset.ParseTextRule(string(c.Text)); err != nil {
		return err
	}
	return nil
}

// Version changes whenever the trainer's arithmetic changes, so cached
// models from an older trainer are not reused.
const Version = "static-mnrl/1"

// CacheKey identifies a training run and its export: trainer version,
// configuration, training data, vocabulary and table storage. Equal keys
// mean an identical model directory.
func CacheKey(c Config, trainSHA256, vocabSHA256, dtype string) string {
	b, _ := json.Marshal(struct {
		Version string `json:"version"`
		Config  Config `json:"config"`
		Train   string `json:"train_sha256"`
		Vocab   string `json:"vocab_sha256"`
		DType   string `json:"dtype"`
	}{Version, c, trainSHA256, vocabSHA256, dtype})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
