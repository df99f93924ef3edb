package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Config tunes the monitor.
type Config struct {
	// Interval is how often a reachable controller is probed
	// (HEALTH_CHECK_INTERVAL). Default: 30s.
	Interval time.Duration
	// Timeout bounds one probe (HEALTH_CHECK_TIMEOUT). Default: 5s.
	Timeout time.Duration
	// UnhealthyInterval is how often an unhealthy controller is probed.
	// Default: 5s, or Interval if that is shorter.
	UnhealthyInterval time.Duration
	// Rise is how many good probes in a row bring an unhealthy controller
	// back. Default: 2.
	Rise int
	// Fall is how many failed probes in a row make a controller unhealthy.
	// Default: 2.
	Fall int
	// Slow is the probe latency above which a controller is degraded.
	// Default: half the Timeout.
	Slow time.Duration
	// Concurrency bounds probes in flight. Default: 64.
	Concurrency int
}

// Default returns the configuration with every default applied.
func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.UnhealthyInterval <= 0 {
		c.UnhealthyInterval = 5 * time.Second
	}
	c.UnhealthyInterval = min(c.UnhealthyInterval, c.Interval)
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.Fall <= 0 {
		c.Fall = 2
	}
	if c.Slow <= 0 {
		c.Slow = c.Timeout / 2
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	return c
}

// Recorder keeps check results (implemented by *controller.Store).
type Recorder interface {
	RecordHealth(ctx context.Context, id int64, r controller.HealthRecord) error
}

// Result is the outcome of one probe.
type Result struct {
	InstanceID int64
	Name       string
	ClusterID  string
	Status     balance.Health
	Previous   balance.Health
	Latency    time.Duration
	Version    string
	Session    string
	Restarted  bool
	Err        string // why it failed or is degraded
	CheckedAt  time.Time
	Jenkins    jenkins.Status
}

// Monitor probes the controllers of a pool.
type Monitor struct {
	cfg     Config
	pool    *controller.Pool
	rec     Recorder
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	metrics *Metrics
	sem     chan struct{}

	mu        sync.Mutex
	track     map[int64]*tracker
	observers []func(Result)
	wg        sync.WaitGroup
}

type tracker struct {
	ok, fail int
	next     time.Time
	running  bool
	session  string
}

// New returns a monitor. transport may be nil (a dedicated, pooled
// transport is made); metrics may be nil.
func New(cfg Config, pool *controller.Pool, rec Recorder, log *slog.Logger, now func() time.Time, transport http.RoundTripper, metrics *Metrics) *Monitor {
	cfg = cfg.withDefaults()
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		t.ResponseHeaderTimeout = cfg.Timeout
		transport = t
	}
	if metrics != nil {
		transport = metrics.countRequests(transport)
	}
	if now == nil {
		now = time.Now
	}
	return &Monitor{
		cfg: cfg, pool: pool, rec: rec, log: log, now: now, metrics: metrics,
		client: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		sem:    make(chan struct{}, cfg.Concurrency),
		track:  map[int64]*tracker{},
	}
}

// Config returns the effective configuration.
func (m *Monitor) Config() Config { return m.cfg }

// Observe registers f to be called with every probe result (transitions
// and restarts included). f must not block.
func (m *Monitor) Observe(f func(Result)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observers = append(m.observers, f)
}

// Run probes controllers as they fall due until ctx ends, then waits for
// the probes in flight.
func (m *Monitor) Run(ctx context.Context) error {
	tick := time.NewTicker(max(50*time.Millisecond, min(time.Second, m.cfg.UnhealthyInterval/4)))
	defer tick.Stop()
	for {
		m.dispatchDue(ctx)
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

func (m *Monitor) tracker(id int64) *tracker {
	t, ok := m.track[id]
	if !ok {
		t = &tracker{}
		m.track[id] = t
	}
	return t
}

// dispatchDue starts a probe for every active controller that is due.
func (m *Monitor) dispatchDue(ctx context.Context) {
	now := m.now()
	all := m.pool.All()
	m.mu.Lock()
	live := make(map[int64]bool, len(all))
	var due []*controller.Runtime
	for _, r := range all {
		id := r.ID()
		live[id] = true
		t := m.tracker(id)
		if t.running || now.Before(t.next) || !r.Instance().IsActive {
			continue
		}
		t.running = true
		due = append(due, r)
	}
	for id := range m.track {
		if !live[id] {
			delete(m.track, id)
		}
	}
	m.mu.Unlock()
	for _, r := range due {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			select {
			case m.sem <- struct{}{}:
			case <-ctx.Done():
				m.finish(r.ID())
				return
			}
			defer func() { <-m.sem }()
			m.Check(ctx, r)
		}()
	}
}

func (m *Monitor) finish(id int64) {
	m.mu.Lock()
	m.tracker(id).running = false
	m.mu.Unlock()
}

// CheckNow probes every active controller of cluster ("" = all) now, at
// most Concurrency at once, and returns the results in id order.
func (m *Monitor) CheckNow(ctx context.Context, cluster string) []Result {
	var rs []*controller.Runtime
	if cluster == "" {
		rs = m.pool.All()
	} else {
		rs = m.pool.Cluster(cluster)
	}
	results := make([]Result, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		if !r.Instance().IsActive {
			inst := r.Instance()
			results[i] = Result{InstanceID: inst.ID, Name: inst.Name, ClusterID: inst.ClusterID, Status: r.Health(), Previous: r.Health(), Err: "inactive: not probed", CheckedAt: m.now()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.sem <- struct{}{}
			defer func() { <-m.sem }()
			results[i] = m.Check(ctx, r)
		}()
	}
	wg.Wait()
	return results
}

// Check probes one controller, concludes its health and records it.
func (m *Monitor) Check(ctx context.Context, r *controller.Runtime) Result {
	inst := r.Instance()
	res := Result{InstanceID: inst.ID, Name: inst.Name, ClusterID: inst.ClusterID, Previous: r.Health()}
	start := m.now()
	st, err := m.probe(ctx, inst, r.Token())
	res.CheckedAt = m.now()
	res.Latency = res.CheckedAt.Sub(start)
	res.Jenkins, res.Version, res.Session = st, st.Version, st.Session

	observed := balance.Healthy
	switch {
	case err != nil:
		observed, res.Err = balance.Unhealthy, describe(err, m.cfg.Timeout)
	case st.QuietingDown:
		observed, res.Err = balance.Degraded, "quieting down: Jenkins accepts no new builds"
	case st.TotalExecutors == 0:
		observed, res.Err = balance.Degraded, "no online executors"
	case res.Latency > m.cfg.Slow:
		observed, res.Err = balance.Degraded, fmt.Sprintf("slow: answered in %s (degraded above %s)", res.Latency.Round(time.Millisecond), m.cfg.Slow)
	}

	m.mu.Lock()
	t := m.tracker(inst.ID)
	if t.session == "" {
		t.session = inst.JenkinsSession
	}
	if st.Session != "" {
		res.Restarted = t.session != "" && st.Session != t.session
		t.session = st.Session
	}
	res.Status = m.conclude(t, res.Previous, observed)
	if res.Status == balance.Unhealthy {
		t.next = res.CheckedAt.Add(m.cfg.UnhealthyInterval)
	} else {
		t.next = res.CheckedAt.Add(m.cfg.Interval)
	}
	t.running = false
	observers := m.observers
	m.mu.Unlock()

	r.SetHealth(res.Status, res.CheckedAt)
	if err == nil {
		r.SetLoad(st.Load())
	}
	m.record(ctx, r, res)
	for _, f := range observers {
		f(res)
	}
	return res
}

// conclude applies the rise/fall thresholds.
func (m *Monitor) conclude(t *tracker, prev, observed balance.Health) balance.Health {
	if observed == balance.Unhealthy {
		t.fail++
		t.ok = 0
		if prev == balance.Unknown || prev == balance.Unhealthy || t.fail >= m.cfg.Fall {
			return balance.Unhealthy
		}
		return prev
	}
	t.ok++
	t.fail = 0
	if prev == balance.Unhealthy && t.ok < m.cfg.Rise {
		return balance.Unhealthy
	}
	return observed
}

func (m *Monitor) probe(ctx context.Context, inst controller.Instance, token string) (jenkins.Status, error) {
	c, err := jenkins.New(inst.URL, inst.Username, token, m.client)
	if err != nil {
		return jenkins.Status{}, err
	}
	ctx, cancel := context.WithTimeout(withLabels(ctx, inst.Name, inst.ClusterID), m.cfg.Timeout)
	defer cancel()
	return c.Probe(ctx, inst.HealthCheckURL)
}

// describe turns a probe error into a short reason for humans.
func describe(err error, timeout time.Duration) string {
	var se *jenkins.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusServiceUnavailable:
		return "HTTP 503: Jenkins is starting or restarting"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %s", timeout)
	}
	return err.Error()
}

func (m *Monitor) record(ctx context.Context, r *controller.Runtime, res Result) {
	if res.Status != res.Previous {
		lvl := slog.LevelInfo
		if res.Status == balance.Unhealthy {
			lvl = slog.LevelWarn
		}
		m.log.Log(ctx, lvl, "controller health changed", "controller", res.Name, "cluster", res.ClusterID,
			"from", res.Previous.String(), "to", res.Status.String(), "reason", res.Err)
	}
	if res.Restarted {
		m.log.Warn("controller restarted", "controller", res.Name, "cluster", res.ClusterID, "session", res.Session)
	}
	if m.metrics != nil {
		m.metrics.observe(res)
	}
	if m.rec == nil {
		return
	}
	err := m.rec.RecordHealth(context.WithoutCancel(ctx), res.InstanceID, controller.HealthRecord{
		Status: controller.StatusFromHealth(res.Status), Error: res.Err, CurrentLoad: r.Load(),
		Version: res.Version, JenkinsSession: res.Session,
	})
	if err != nil && !errors.Is(err, controller.ErrNotFound) {
		m.log.Error("record health", "controller", res.Name, "err", err)
	}
}

// Expedite makes controller id due for a probe now (the front door calls
// it when passive health took the controller out of the pool).
func (m *Monitor) Expedite(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tracker(id).next = time.Time{}
}
