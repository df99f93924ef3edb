package health

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// Metrics are the health monitor's Prometheus collectors. Pool-level
// gauges (load, health, utilization, cluster size) are read from the pool
// at scrape time, so removed controllers leave no stale series.
type Metrics struct {
	pool        *controller.Pool
	monitor     *Monitor // set by New
	checks      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	restarts    *prometheus.CounterVec
	requests    *prometheus.CounterVec
	transitions *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	starved     prometheus.Counter

	load, health, util, size, frozen *prometheus.Desc
}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer, pool *controller.Pool) *Metrics {
	m := &Metrics{
		pool: pool,
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkins_health_checks_total", Help: "Health checks by outcome (healthy, degraded, unhealthy).",
		}, []string{"instance", "cluster", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jenkins_health_check_duration_seconds", Help: "Duration of one health probe.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"instance", "cluster"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkins_instance_restarts_total", Help: "Controller restarts seen (a new X-Jenkins-Session).",
		}, []string{"instance", "cluster"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkins_requests_total", Help: "Requests jenkinds sent to a controller, by status code (\"error\" when none came back).",
		}, []string{"instance", "cluster", "code"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_health_transitions_total", Help: "Health transitions the authority decided, by the health reached and the source of the evidence (probe, passive).",
		}, []string{"controller", "cluster", "to", "source"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_passive_ejections_total", Help: "Controllers made unhealthy by passive health (failed requests of the front door or of jenkinds' own).",
		}, []string{"controller", "cluster"}),
		starved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jenkinds_starved_total", Help: "Times a timer of jenkinds' own fired late by at least the starvation threshold.",
		}),
		frozen: prometheus.NewDesc("jenkinds_redispatch_frozen", "1 while re-dispatch of running builds is frozen: per cluster (mass failure), or cluster=\"\" (jenkinds starved).", []string{"cluster"}, nil),
		load:   prometheus.NewDesc("jenkins_instance_load", "Current load: running builds + queued items + online agents + jenkinds' in-flight requests.", []string{"instance", "cluster"}, nil),
		health: prometheus.NewDesc("jenkins_instance_health", "1 when the controller is healthy, 0 otherwise.", []string{"instance", "cluster"}, nil),
		util:   prometheus.NewDesc("jenkins_instance_utilization", "Current load divided by maxConnections (0–1).", []string{"instance", "cluster"}, nil),
		size:   prometheus.NewDesc("jenkins_cluster_size", "Registered controllers per cluster.", []string{"cluster"}, nil),
	}
	reg.MustRegister(m.checks, m.duration, m.restarts, m.requests, m.transitions, m.ejections, m.starved, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.load
	ch <- m.health
	ch <- m.util
	ch <- m.size
	ch <- m.frozen
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	sizes := map[string]int{}
	for _, r := range m.pool.All() {
		inst := r.Instance()
		sizes[inst.ClusterID]++
		c := r.Candidate()
		h := 0.0
		if c.Health == balance.Healthy {
			h = 1
		}
		ch <- prometheus.MustNewConstMetric(m.load, prometheus.GaugeValue, float64(c.Load), inst.Name, inst.ClusterID)
		ch <- prometheus.MustNewConstMetric(m.health, prometheus.GaugeValue, h, inst.Name, inst.ClusterID)
		if c.MaxConnections > 0 {
			ch <- prometheus.MustNewConstMetric(m.util, prometheus.GaugeValue, float64(c.Load)/float64(c.MaxConnections), inst.Name, inst.ClusterID)
		}
	}
	for cl, n := range sizes {
		ch <- prometheus.MustNewConstMetric(m.size, prometheus.GaugeValue, float64(n), cl)
	}
	if m.monitor != nil {
		for cl := range m.monitor.Frozen() {
			ch <- prometheus.MustNewConstMetric(m.frozen, prometheus.GaugeValue, 1, cl)
		}
	}
}

func (m *Metrics) observe(res Result) {
	outcome := res.Status.String()
	if res.Inconclusive {
		outcome = "inconclusive"
	}
	m.checks.WithLabelValues(res.Name, res.ClusterID, outcome).Inc()
	m.duration.WithLabelValues(res.Name, res.ClusterID).Observe(res.Latency.Seconds())
}

// Forget drops the series of a removed controller.
func (m *Metrics) Forget(name, cluster string) {
	m.checks.DeletePartialMatch(prometheus.Labels{"instance": name, "cluster": cluster})
	m.duration.DeleteLabelValues(name, cluster)
	m.restarts.DeleteLabelValues(name, cluster)
	m.requests.DeletePartialMatch(prometheus.Labels{"instance": name, "cluster": cluster})
	m.transitions.DeletePartialMatch(prometheus.Labels{"controller": name, "cluster": cluster})
	m.ejections.DeleteLabelValues(name, cluster)
}

type labelKey struct{}

type labels struct{ instance, cluster string }

func withLabels(ctx context.Context, instance, cluster string) context.Context {
	return context.WithValue(ctx, labelKey{}, labels{instance, cluster})
}

// countRequests wraps a transport so every request made for a labelled
// context is counted in jenkins_requests_total.
func (m *Metrics) countRequests(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if l, ok := req.Context().Value(labelKey{}).(labels); ok {
			code := "error"
			if err == nil {
				code = strconv.Itoa(resp.StatusCode)
			}
			m.requests.WithLabelValues(l.instance, l.cluster, code).Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Requests is jenkins_requests_total, for other code that sends requests
// to controllers (the front door) to count into.
func (m *Metrics) Requests() *prometheus.CounterVec { return m.requests }
