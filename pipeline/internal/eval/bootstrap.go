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
	s := Summary{Queries: len(scores)}
	var mean Scores
	for _, q := range scores {
		for m := range mean {
			mean[m] += q[m]
		}
	}
	n := float64(max(len(scores), 1))
	for m := range mean {
		mean[m] /= n
	}
	lows, highs := mean, mean
	if resamples > 0 && len(scores) > 1 {
		r := rand.New(rand.NewPCG(seed, 0x626f6f74))
		samples := make([][]float64, numMetrics)
		for m := range samples {
			samples[m] = make([]float64, resamples)
		}
		for b := range resamples {
			var acc Scores
			for range len(scores) {
				q := &scores[r.IntN(len(scores))]
				for m := range acc {
					acc[m] += q[m]
				}
			}
			for m := range acc {
				samples[m][b] = acc[m] / n
			}
		}
		for m := range samples {
			slices.Sort(samples[m])
			lows[m] = percentile(samples[m], 0.025)
			highs[m] = percentile(samples[m], 0.975)
		}
	}
	for m, name := range Metrics {
		s.Metrics = append(s.Metrics, MetricCI{Name: name, Mean: mean[m], Low: lows[m], High: highs[m]})
	}
	return s
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
