package workerapi

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// unknownCluster is the cluster label of a request whose cluster is not
// registered: a name chosen by the caller must not become a label value.
const unknownCluster = "(unknown)"

// Metrics are the worker API's counters. The queue counts the rest of a
// cluster's picture (jenkinds_queue_depth, _oldest_available_seconds,
// _rescued_total for leases that expired).
type Metrics struct {
	rejections *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	leaseLost  *prometheus.CounterVec
}

// NewMetrics creates the worker API's counters and registers them on reg
// (nil: not registered, for tests that read them directly).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_workerapi_rejections_total",
			Help: "Worker requests refused at authentication, per build cluster and reason (expired, replayed, cluster_mismatch…).",
		}, []string{"cluster", "reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_workerapi_deliveries_total",
			Help: "Jobs handed to workers by a claim, per build cluster; redelivery is yes from the second attempt on.",
		}, []string{"cluster", "redelivery"}),
		leaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_workerapi_lease_lost_total",
			Help: "Extend, complete, fail or log calls refused because the worker's lease no longer holds the job (expired and rescued, cancelled, finished).",
		}, []string{"cluster", "call"}),
	}
	if reg != nil {
		reg.MustRegister(m.rejections, m.deliveries, m.leaseLost)
	}
	return m
}

// Rejections returns the count of rejections of cluster for reason.
func (m *Metrics) Rejections(cluster, reason string) float64 {
	return counterValue(m.rejections.WithLabelValues(cluster, reason))
}

// Deliveries returns the count of first deliveries and of redeliveries of
// cluster's jobs.
func (m *Metrics) Deliveries(cluster string) (first, again float64) {
	return counterValue(m.deliveries.WithLabelValues(cluster, "no")), counterValue(m.deliveries.WithLabelValues(cluster, "yes"))
}

// LeaseLost returns the count of calls refused for a lost lease.
func (m *Metrics) LeaseLost(cluster, call string) float64 {
	return counterValue(m.leaseLost.WithLabelValues(cluster, call))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
