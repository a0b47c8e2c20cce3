package collection

import (
	"strconv"
	"time"

	"github.com/arxivsearch/arxivsearch/services/index/internal/faiss"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports per-shard gauges at scrape time, from the shards'
// in-memory state (no store query): index size and kind, versions,
// snapshot age, pending changes and training.
func (c *Collection) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Collection }

var (
	descVectors = prometheus.NewDesc("index_shard_indexed_vectors", "Vectors in the shard's FAISS index (equals its papers once caught up).", []string{"shard"}, nil)
	descNlist   = prometheus.NewDesc("index_shard_nlist", "IVF lists of the shard's index; 0 for flat.", []string{"shard"}, nil)
	descIVF     = prometheus.NewDesc("index_shard_ivf", "1 when the shard's index is IVF, 0 when flat.", []string{"shard"}, nil)
	descApplied = prometheus.NewDesc("index_shard_applied_version", "Store version the shard's in-memory index holds.", []string{"shard"}, nil)
	descSnapVer = prometheus.NewDesc("index_shard_snapshot_version", "Store version of the shard's latest snapshot.", []string{"shard"}, nil)
	descSnapAge = prometheus.NewDesc("index_shard_snapshot_age_seconds", "Seconds since the shard's latest snapshot was written; absent when it has none.", []string{"shard"}, nil)
	descPending = prometheus.NewDesc("index_shard_changes_since_snapshot", "Vectors added or removed since the shard's latest snapshot (replayed at the next start).", []string{"shard"}, nil)
	descTrain   = prometheus.NewDesc("index_shard_training", "1 while the shard trains a new IVF index in the background.", []string{"shard"}, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVectors, descNlist, descIVF, descApplied, descSnapVer, descSnapAge, descPending, descTrain} {
		ch <- d
	}
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	shards, err := k.c.Shards(nil)
	if err != nil {
		return
	}
	now := time.Now()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range shards {
		g := s.Gauges()
		l := strconv.Itoa(g.Shard)
		ch <- prometheus.MustNewConstMetric(descVectors, prometheus.GaugeValue, float64(g.IndexedVectors), l)
		ch <- prometheus.MustNewConstMetric(descNlist, prometheus.GaugeValue, float64(g.Nlist), l)
		ch <- prometheus.MustNewConstMetric(descIVF, prometheus.GaugeValue, b2f(g.Kind == faiss.KindIVFFlat), l)
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(g.Applied), l)
		ch <- prometheus.MustNewConstMetric(descSnapVer, prometheus.GaugeValue, float64(g.SnapshotVersion), l)
		if !g.SnapshotTime.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSnapAge, prometheus.GaugeValue, now.Sub(g.SnapshotTime).Seconds(), l)
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(g.ChangesSinceSnapshot), l)
		ch <- prometheus.MustNewConstMetric(descTrain, prometheus.GaugeValue, b2f(g.Training), l)
	}
}
