package eval

import (
	"math/rand/v2"
	"slices"
)

// Summary is the mean of every metric over a set of queries with a
// bootstrap confidence interval.
type Summary struct {
	Queries int        `json:"queries"`
	Metrics []MetricCI `json:"metrics"`
	byName  map[string]int
}

// MetricCI is a mean and its 95% percentile bootstrap interval.
type MetricCI struct {
	Name string  `json:"name"`
	Mean float64 `json:"mean"`
	Low  float64 `json:"ci_low"`
	High float64 `json:"ci_high"`
}

// Get returns the named metric.
func (s *Summary) Get(name string) MetricCI {
	for _, m := range s.Metrics {
		if m.Name == name {
			return m
		}
	}
	return MetricCI{Name: name}
}

// Summarize averages scores and resamples the queries with replacement
// resamples times (seeded) for the 2.5th and 97.5th percentiles of each
// mean. resamples <= 0 gives means only (the interval is the mean).
func Summarize(scores []Scores, resamples int, seed uint64) Summary {
	mean, lows, highs := bootstrap(len(scores), numMetrics, func(q, m int) float64 { return scores[q][m] }, resamples, seed)
	s := Summary{Queries: len(scores)}
	for m, name := range Metrics {
		s.Metrics = append(s.Metrics, MetricCI{Name: name, Mean: mean[m], Low: lows[m], High: highs[m]})
	}
	return s
}

// SummarizeValues is Summarize for one per-query measure that is not a
// retrieval metric (a live index's recall against exact search): its mean
// and interval, from the same seeded resamples of the queries.
func SummarizeValues(name string, values []float64, resamples int, seed uint64) MetricCI {
	mean, lows, highs := bootstrap(len(values), 1, func(q, _ int) float64 { return values[q] }, resamples, seed)
	return MetricCI{Name: name, Mean: mean[0], Low: lows[0], High: highs[0]}
}

// bootstrap returns the means of cols columns over n queries (value(q, m))
// and the 2.5th and 97.5th percentiles of the means over resamples seeded
// resamples of the queries. The resampled query indices depend only on n
// and seed, so summaries of the same queries (a contender and a paired
// difference) use the same resamples.
func bootstrap(n, cols int, value func(q, m int) float64, resamples int, seed uint64) (mean, lows, highs []float64) {
	mean = make([]float64, cols)
	for q := range n {
		for m := range mean {
			mean[m] += value(q, m)
		}
	}
	denom := float64(max(n, 1))
	for m := range mean {
		mean[m] /= denom
	}
	lows, highs = slices.Clone(mean), slices.Clone(mean)
	if resamples <= 0 || n <= 1 {
		return mean, lows, highs
	}
	r := rand.New(rand.NewPCG(seed, 0x626f6f74))
	samples := make([][]float64, cols)
	for m := range samples {
		samples[m] = make([]float64, resamples)
	}
	acc := make([]float64, cols)
	for b := range resamples {
		clear(acc)
		for range n {
			q := r.IntN(n)
			for m := range acc {
				acc[m] += value(q, m)
			}
		}
		for m := range acc {
			samples[m][b] = acc[m] / denom
		}
	}
	for m := range samples {
		slices.Sort(samples[m])
		lows[m] = percentile(samples[m], 0.025)
		highs[m] = percentile(samples[m], 0.975)
	}
	return mean, lows, highs
}

// percentile interpolates linearly between closest ranks (numpy's
// default) in sorted xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	pos := p * float64(len(xs)-1)
	lo := int(pos)
	if lo+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	frac := pos - float64(lo)
	return xs[lo]*(1-frac) + xs[lo+1]*frac
}
