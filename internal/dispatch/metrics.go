package dispatch

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Register exports the builds' figures to reg, read from the database at
// scrape time (so every replica reports the same):
//
//	jenkinds_builds{cluster,state}          builds in each state
//	jenkinds_build_attempts{state,fence}    attempts in each state; re-dispatch shows as superseded/fenced
//
// and, counted by this replica:
//
//	jenkinds_dispatch_stale_writes_total         writes of the placer or follower refused because their leader term had ended
//	jenkinds_dispatch_redispatch_withheld_total  times a freeze held back the re-dispatch of a silent controller's builds
func (s *Service) Register(reg prometheus.Registerer) {
	reg.MustRegister(&collector{s: s}, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "jenkinds_dispatch_stale_writes_total",
		Help: "Writes of the placer or the follower refused because their leader term had ended (another replica leads).",
	}, func() float64 { return float64(s.StaleWrites()) }), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "jenkinds_dispatch_redispatch_withheld_total",
		Help: "Times the follower held back the re-dispatch of an unhealthy controller's builds because of a freeze (mass failure, or jenkinds starved).",
	}, func() float64 { n, _ := s.Withheld(); return float64(n) }))
}

// StaleWrites is how many writes of this replica's placer and follower
// were refused because their leader term had ended.
func (s *Service) StaleWrites() int64 { return s.st.stale.Load() }

type collector struct{ s *Service }

var (
	buildsDesc = prometheus.NewDesc("jenkinds_builds", "Builds accepted for Jenkins controllers, by cluster and state.",
		[]string{"cluster", "state"}, nil)
	attemptsDesc = prometheus.NewDesc("jenkinds_build_attempts", "Attempts of builds on controllers, by state and, for fenced ones, what fencing found.",
		[]string{"state", "fence"}, nil)
	scrapeErrDesc = prometheus.NewDesc("jenkinds_builds_scrape_errors", "1 when the build figures could not be read from the database at this scrape.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- buildsDesc
	ch <- attemptsDesc
	ch <- scrapeErrDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	if err := c.collect(ctx, ch); err != nil {
		c.s.log.Warn("read build metrics", "err", err)
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
}

func (c *collector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	db := c.s.st.db
	rows, err := db.QueryContext(ctx, `SELECT cluster, state, COUNT(*) FROM builds GROUP BY cluster, state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cluster, state string
		var n float64
		if err := rows.Scan(&cluster, &state, &n); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(buildsDesc, prometheus.GaugeValue, n, cluster, state)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	arows, err := db.QueryContext(ctx, `SELECT state, fence, COUNT(*) FROM build_attempts GROUP BY state, fence`)
	if err != nil {
		return err
	}
	defer arows.Close()
	for arows.Next() {
		var state, fence string
		var n float64
		if err := arows.Scan(&state, &fence, &n); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.GaugeValue, n, state, fence)
	}
	return arows.Err()
}
