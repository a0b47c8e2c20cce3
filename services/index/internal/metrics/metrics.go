// Package metrics defines the index service's Prometheus metrics. One
// Metrics value is shared by the server, the collection and every shard.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the index's collectors. Per-shard gauges (sizes, snapshot
// age) are not here: the collection exports them at scrape time from the
// shards' own state (see collection.Collector).
type Metrics struct {
	// SearchSeconds times Search calls by mode (dense, lexical, hybrid).
	SearchSeconds *prometheus.HistogramVec
	// SearchQueries counts queries (not calls) by mode.
	SearchQueries *prometheus.CounterVec
	// Nprobe is the nprobe used per IVF shard search, after clamping.
	Nprobe prometheus.Histogram
	// ScannedVectors estimates the vectors compared per query per shard:
	// all of them for flat, ntotal*nprobe/nlist for IVF.
	ScannedVectors prometheus.Histogram
	// FilterFallbacks counts filtered IVF searches re-run with nprobe =
	// nlist because the probed lists held fewer than k matches.
	FilterFallbacks prometheus.Counter
	// UpsertedPapers counts upserted papers by outcome (created, replaced,
	// updated, unchanged).
	UpsertedPapers *prometheus.CounterVec
	// DeletedPapers counts deleted papers.
	DeletedPapers prometheus.Counter
	// SnapshotSeconds times snapshot writes; Snapshots counts them by
	// result (ok, error).
	SnapshotSeconds prometheus.Histogram
	Snapshots       *prometheus.CounterVec
	// LoadSeconds times shard loads (snapshot plus replay, or rebuild).
	LoadSeconds prometheus.Histogram
	// ReplayedChanges counts changes replayed onto snapshots at load or
	// reload, by kind (added, removed).
	ReplayedChanges *prometheus.CounterVec
	// Rebuilds counts indexes rebuilt from a full store scan, by reason
	// (no_snapshot, corrupt, compacted, version_ahead, model_mismatch,
	// apply_failed).
	Rebuilds *prometheus.CounterVec
	// TrainSeconds times IVF trainings (sample, k-means, fill, swap);
	// Trainings counts them by result.
	TrainSeconds prometheus.Histogram
	Trainings    *prometheus.CounterVec
}

// New returns the metrics, registered on reg unless reg is nil.
func New(reg prometheus.Registerer) *Metrics {
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	slow := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	m := &Metrics{
		SearchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "index_search_seconds", Help: "Time to answer a Search call (all its queries, all shards), by mode.",
			Buckets: latency,
		}, []string{"mode"}),
		SearchQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_search_queries_total", Help: "Queries searched, by mode.",
		}, []string{"mode"}),
		Nprobe: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "index_search_nprobe", Help: "IVF lists probed per shard search, after clamping to nlist.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		ScannedVectors: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "index_search_scanned_vectors", Help: "Estimated vectors compared per query per shard (flat: all; IVF: ntotal*nprobe/nlist).",
			Buckets: prometheus.ExponentialBuckets(100, 4, 10),
		}),
		FilterFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "index_search_filter_fallbacks_total", Help: "Filtered IVF shard searches re-run exhaustively (nprobe = nlist) because the probed lists held fewer than k matches.",
		}),
		UpsertedPapers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_upserted_papers_total", Help: "Papers upserted, by outcome (created, replaced, updated, unchanged).",
		}, []string{"op"}),
		DeletedPapers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "index_deleted_papers_total", Help: "Papers deleted.",
		}),
		SnapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "index_snapshot_seconds", Help: "Time to write one shard snapshot durably.", Buckets: slow,
		}),
		Snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_snapshots_total", Help: "Shard snapshots written, by result (ok, error).",
		}, []string{"result"}),
		LoadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "index_shard_load_seconds", Help: "Time to load a shard: snapshot plus replay, or a rebuild from the store.", Buckets: slow,
		}),
		ReplayedChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_replayed_changes_total", Help: "Store changes replayed onto loaded snapshots, by kind (added, removed).",
		}, []string{"kind"}),
		Rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_rebuilds_total", Help: "Shard indexes rebuilt from a full store scan, by reason.",
		}, []string{"reason"}),
		TrainSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "index_train_seconds", Help: "Time to (re)train a shard's IVF index: sample, k-means, fill and swap.", Buckets: slow,
		}),
		Trainings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "index_trainings_total", Help: "IVF trainings, by result (ok, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.SearchSeconds, m.SearchQueries, m.Nprobe, m.ScannedVectors, m.FilterFallbacks,
			m.UpsertedPapers, m.DeletedPapers, m.SnapshotSeconds, m.Snapshots, m.LoadSeconds,
			m.ReplayedChanges, m.Rebuilds, m.TrainSeconds, m.Trainings)
	}
	return m
}
