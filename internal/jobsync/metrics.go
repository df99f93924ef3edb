package jobsync

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the package's collectors; New makes them, Register puts
// them on a registry.
type metrics struct {
	drift    *prometheus.GaugeVec
	pending  *prometheus.GaugeVec
	failures *prometheus.CounterVec

	mu           sync.Mutex
	pendingSeen  map[string]bool // clusters with a pending series
	refreshMu    sync.Mutex      // one pending refresh at a time
	driftCluster map[string]bool
}

func newMetrics() *metrics {
	return &metrics{
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jenkinds_job_drift",
			Help: "Jobs whose config.xml differs between the controllers of the cluster, or that some controller lacks, as of the last drift check.",
		}, []string{"cluster"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jenkinds_job_sync_pending",
			Help: "Job writes accepted by the front door that some controller of the cluster has not applied yet (one per controller and job).",
		}, []string{"cluster"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_job_sync_failures_total",
			Help: "Sends of an accepted job write that a controller did not apply (first sends and retries).",
		}, []string{"cluster"}),
		pendingSeen:  map[string]bool{},
		driftCluster: map[string]bool{},
	}
}

// Register puts the service's collectors on reg: jenkinds_job_drift,
// jenkinds_job_sync_pending (both by cluster) and
// jenkinds_job_sync_failures_total.
func (s *Service) Register(reg prometheus.Registerer) {
	reg.MustRegister(s.metrics.drift, s.metrics.pending, s.metrics.failures)
}

// refreshPending sets the pending gauge of every cluster from the table
// (0 for clusters that had pending writes and have none left).
func (s *Service) refreshPending(ctx context.Context) {
	m := s.metrics
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	counts, err := s.st.counts(ctx)
	if err != nil {
		s.log.Warn("count pending job writes", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.pendingSeen {
		if _, ok := counts[c]; !ok {
			m.pending.WithLabelValues(c).Set(0)
		}
	}
	for c, n := range counts {
		m.pending.WithLabelValues(c).Set(float64(n))
		m.pendingSeen[c] = true
	}
}

// setDrift records the drift count of a cluster's last check.
func (s *Service) setDrift(cluster string, n int) {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	s.metrics.drift.WithLabelValues(cluster).Set(float64(n))
	s.metrics.driftCluster[cluster] = true
}

// forgetDrift drops the drift series of clusters that no longer exist.
func (s *Service) forgetDrift(clusters []string) {
	keep := map[string]bool{}
	for _, c := range clusters {
		keep[c] = true
	}
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	for c := range s.metrics.driftCluster {
		if !keep[c] {
			s.metrics.drift.DeleteLabelValues(c)
			delete(s.metrics.driftCluster, c)
		}
	}
}
