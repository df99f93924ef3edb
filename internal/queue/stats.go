package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStats is one cluster's queue, for metrics and the admin UI.
type ClusterStats struct {
	Cluster string `json:"cluster"`
	// Depth counts available jobs, those waiting on blockers included.
	Depth int `json:"depth"`
	// OldestAvailable is how long the oldest available job has been
	// queued (since it was enqueued); 0 when none is.
	OldestAvailable time.Duration `json:"oldestAvailable"`
	// Leased counts jobs workers hold now.
	Leased int `json:"leased"`
}

// Stats returns every cluster with available or leased jobs, by name.
// It reads only live rows, through the partial indexes, however long the
// history of finished jobs.
func (q *Queue) Stats(ctx context.Context) ([]ClusterStats, error) {
	now := q.clock()
	by := map[string]*ClusterStats{}
	get := func(cluster string) *ClusterStats {
		s, ok := by[cluster]
		if !ok {
			s = &ClusterStats{Cluster: cluster}
			by[cluster] = s
		}
		return s
	}
	rows, err := q.db.QueryContext(ctx, `SELECT cluster, COUNT(*), MIN(created_at) FROM queue_jobs WHERE state = 'available' GROUP BY cluster`)
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	for rows.Next() {
		var cluster string
		var n int
		var oldest nullTime
		if err := rows.Scan(&cluster, &n, &oldest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue stats: %w", err)
		}
		s := get(cluster)
		s.Depth = n
		if oldest.Valid && now.After(oldest.Time) {
			s.OldestAvailable = now.Sub(oldest.Time)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}

	rows, err = q.db.QueryContext(ctx, `SELECT cluster, COUNT(*) FROM queue_jobs WHERE state = 'leased' GROUP BY cluster`)
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cluster string
		var n int
		if err := rows.Scan(&cluster, &n); err != nil {
			return nil, fmt.Errorf("queue stats: %w", err)
		}
		get(cluster).Leased = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	out := make([]ClusterStats, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b ClusterStats) int { return strings.Compare(a.Cluster, b.Cluster) })
	return out, nil
}

// metrics are the queue's counters; the gauges are read from Stats at
// scrape time (see Register).
type metrics struct {
	enqueued, leased, retried *prometheus.CounterVec
	finished, rescued         *prometheus.CounterVec
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return &metrics{
		enqueued: counter("jenkinds_queue_enqueued_total", "Jobs enqueued, per build cluster.", "cluster"),
		leased:   counter("jenkinds_queue_leased_total", "Leases handed to workers, per build cluster.", "cluster"),
		retried:  counter("jenkinds_queue_retried_total", "Jobs a worker failed with retry, back in the queue.", "cluster"),
		finished: counter("jenkinds_queue_finished_total", "Jobs finished, by final state (completed, failed, cancelled).", "cluster", "state"),
		rescued:  counter("jenkinds_queue_rescued_total", "Expired leases rescued, by outcome (requeued, failed at the delivery limit).", "cluster", "outcome"),
	}
}

// statsCollector turns Stats into gauges at scrape time.
type statsCollector struct {
	q                     *Queue
	depth, oldest, leased *prometheus.Desc
}

// Register registers the queue's counters, and gauges read from Stats at
// each scrape (depth, age of the oldest available job, leased jobs per
// cluster), on reg.
func (q *Queue) Register(reg prometheus.Registerer) {
	c := &statsCollector{
		q:      q,
		depth:  prometheus.NewDesc("jenkinds_queue_depth", "Available jobs, per build cluster.", []string{"cluster"}, nil),
		oldest: prometheus.NewDesc("jenkinds_queue_oldest_available_seconds", "Age of the oldest available job, per build cluster.", []string{"cluster"}, nil),
		leased: prometheus.NewDesc("jenkinds_queue_leased", "Jobs leased by workers now, per build cluster.", []string{"cluster"}, nil),
	}
	m := q.metrics
	reg.MustRegister(m.enqueued, m.leased, m.retried, m.finished, m.rescued, c)
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.leased
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.q.Stats(ctx)
	if err != nil {
		c.q.log.Warn("collect queue metrics", "err", err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(s.Depth), s.Cluster)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestAvailable.Seconds(), s.Cluster)
		ch <- prometheus.MustNewConstMetric(c.leased, prometheus.GaugeValue, float64(s.Leased), s.Cluster)
	}
}
