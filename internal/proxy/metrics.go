package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/controller"
)

// Metrics are the front door's collectors.
type Metrics struct {
	requests    *prometheus.CounterVec // shared jenkins_requests_total
	duration    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	hedges      *prometheus.CounterVec
	unavailable *prometheus.CounterVec
}

// NewMetrics registers the proxy's collectors on reg. requests is the
// jenkins_requests_total counter (instance, cluster, code) the health
// monitor also counts into.
func NewMetrics(reg prometheus.Registerer, requests *prometheus.CounterVec) *Metrics {
	m := &Metrics{
		requests: requests,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jenkins_request_duration_seconds", Help: "Time to response headers of requests proxied to a controller.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"instance", "cluster"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_proxy_retries_total", Help: "Requests retried on another controller.",
		}, []string{"cluster"}),
		hedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_proxy_hedges_total", Help: "Slow idempotent requests also sent to another controller.",
		}, []string{"cluster"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jenkinds_proxy_unavailable_total", Help: "Requests answered 503 because no controller was eligible.",
		}, []string{"cluster"}),
	}
	reg.MustRegister(m.duration, m.retries, m.hedges, m.unavailable)
	return m
}

var codeLabels = func() map[int]string {
	m := map[int]string{}
	for c := 100; c < 600; c++ {
		m[c] = strconv.Itoa(c)
	}
	return m
}()

func (m *Metrics) observe(rt *controller.Runtime, cluster string, resp *http.Response, err error, d time.Duration) {
	name := rt.Instance().Name
	code := "error"
	if err == nil {
		if s, ok := codeLabels[resp.StatusCode]; ok {
			code = s
		}
	}
	if m.requests != nil {
		m.requests.WithLabelValues(name, cluster, code).Inc()
	}
	m.duration.WithLabelValues(name, cluster).Observe(d.Seconds())
}
