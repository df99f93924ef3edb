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
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

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
	// Inconclusive: the probe timed out or was slow while jenkinds itself
	// was starved, so it changed nothing.
	Inconclusive bool
	CheckedAt    time.Time
	Jenkins      jenkins.Status
}

// Options are what New needs.
type Options struct {
	Config Config
	Pool   *controller.Pool
	// Recorder keeps each probe's outcome on the controller's row; nil
	// keeps nothing.
	Recorder Recorder
	// DB holds the event log (migrated with Migrations); nil keeps the
	// newest events in memory only.
	DB *db.DB
	// Replica names this jenkinds in the events it records.
	Replica string
	Log     *slog.Logger
	Now     func() time.Time
	// Transport carries the probes; nil is a pooled transport of the
	// monitor's own.
	Transport http.RoundTripper
	// Metrics may be nil.
	Metrics *Metrics
	// Starvation tells when jenkinds was starved; nil measures it (Run
	// runs the measurement).
	Starvation Starvation
}

// Monitor is the health authority of a pool of controllers: it probes
// them (active health), takes the failures and answers the front door
// and jenkinds' own clients report (passive health), decides every
// transition with its thresholds, records each in the event log, and
// tells the dispatcher when the builds of a controller may be placed
// again (Verdict). See doc.go.
type Monitor struct {
	cfg     Config
	pool    *controller.Pool
	rec     Recorder
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	metrics *Metrics
	sem     chan struct{}
	events  eventLog
	starv   Starvation
	lag     *Lag     // nil when Starvation was given
	pings   sync.Map // controller id → *pinger: a Watch ping under way

	// bg counts work started from any goroutine (event writes, records,
	// probes): Run waits for it when it returns, and from then on such
	// work runs in its caller (spawn). wg is the Run loop's own.
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	bgClosed bool

	mu        sync.Mutex
	track     map[int64]*tracker
	clusters  map[string]*freeze // clusters whose re-dispatch is frozen
	starved   *freeze            // jenkinds' own starvation, when in effect
	observers []func(Event)
	pending   []Event // to be written to the event log, in order
	writing   bool    // a goroutine is writing them
	wg        sync.WaitGroup
}

// tracker is what the authority keeps about one controller between
// decisions.
type tracker struct {
	ok, fail  int // probes in a row
	next      time.Time
	running   bool
	firstSeen time.Time
	failures  []time.Time // passive failures within the window
	late      bool        // a probe that timed out still waits for its answer
}

// New returns a monitor of o.Pool. It becomes the pool's hooks: every
// runtime's client reports its failures and restarts to it.
func New(o Options) *Monitor {
	cfg := o.Config.withDefaults()
	transport := o.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.MaxIdleConnsPerHost = 4
		t.ResponseHeaderTimeout = max(cfg.Timeout, cfg.Patience) // the probe's context bounds each wait
		transport = t
	}
	if o.Metrics != nil {
		transport = o.Metrics.countRequests(transport)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		cfg: cfg, pool: o.Pool, rec: o.Recorder, log: o.Log, now: o.Now, metrics: o.Metrics,
		client:   &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		sem:      make(chan struct{}, cfg.Concurrency),
		events:   eventLog{db: o.DB, replica: o.Replica},
		starv:    o.Starvation,
		track:    map[int64]*tracker{},
		clusters: map[string]*freeze{},
	}
	if m.starv == nil {
		m.lag = NewLag(cfg.LagTick, cfg.StarvedLag, m.NoteStarved)
		m.starv = m.lag
	}
	if o.Metrics != nil {
		o.Metrics.monitor = m
	}
	o.Pool.SetHooks(controller.Hooks{Restarted: m.restarted, Failed: m.Failure})
	return m
}

// Config returns the effective configuration.
func (m *Monitor) Config() Config { return m.cfg }

// Observe registers f to be called with every event the authority
// records (transitions, restarts, freezes, thaws). f must not block.
func (m *Monitor) Observe(f func(Event)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observers = append(m.observers, f)
}

// Events returns the events f selects, newest first.
func (m *Monitor) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	cluster := ""
	if f.ControllerID != 0 {
		if rt := m.pool.Get(f.ControllerID); rt != nil {
			cluster = rt.Instance().ClusterID
		}
	}
	return m.events.list(ctx, f, cluster)
}

// Run probes controllers as they fall due, measures jenkinds' own
// starvation and keeps the freezes current until ctx ends, then waits
// for the probes and event writes in flight.
func (m *Monitor) Run(ctx context.Context) error {
	if m.lag != nil {
		m.wg.Go(func() { m.lag.Run(ctx) })
	}
	tick := time.NewTicker(max(20*time.Millisecond, min(time.Second, m.cfg.UnhealthyInterval/4)))
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		m.dispatchDue(ctx)
		now := m.now()
		m.reviewFreezes(now)
		if now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			m.wg.Go(func() {
				if err := m.events.prune(context.WithoutCancel(ctx), now.Add(-eventRetention)); err != nil {
					m.log.Warn("prune health events", "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			m.wg.Wait()
			m.bgMu.Lock()
			m.bgClosed = true
			m.bgMu.Unlock()
			m.bg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// eventRetention is how long events are kept.
const eventRetention = 30 * 24 * time.Hour

// trackerLocked returns the tracker of id; m.mu is held.
func (m *Monitor) trackerLocked(id int64) *tracker {
	t, ok := m.track[id]
	if !ok {
		t = &tracker{firstSeen: m.now()}
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
		t := m.trackerLocked(id)
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
		m.wg.Go(func() {
			select {
			case m.sem <- struct{}{}:
			case <-ctx.Done():
				m.mu.Lock()
				m.trackerLocked(r.ID()).running = false
				m.mu.Unlock()
				return
			}
			defer func() { <-m.sem }()
			m.Check(ctx, r)
		})
	}
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
		wg.Go(func() {
			m.sem <- struct{}{}
			defer func() { <-m.sem }()
			results[i] = m.Check(ctx, r)
		})
	}
	wg.Wait()
	return results
}

// Check probes one controller, concludes its health and records it.
func (m *Monitor) Check(ctx context.Context, r *controller.Runtime) Result {
	inst := r.Instance()
	res := Result{InstanceID: inst.ID, Name: inst.Name, ClusterID: inst.ClusterID, Previous: r.Health()}
	start := m.now()
	st, err := m.probeOf(ctx, r)
	res.CheckedAt = m.now()
	res.Latency = res.CheckedAt.Sub(start)
	res.Jenkins, res.Version, res.Session = st, st.Version, st.Session
	var se *jenkins.StatusError
	answered := err == nil || errors.As(err, &se)
	if answered {
		r.Answered(res.CheckedAt)
	} else if jenkins.ProcessGone(err) {
		r.NoteGone(res.CheckedAt, jenkins.Explain(err, m.cfg.Timeout))
	}
	if prev := r.Session(); st.Session != "" {
		res.Restarted = prev != "" && prev != st.Session
		r.NoteSession(st.Session) // a restart is recorded by the hook
	}

	observed, timedOut := balance.Healthy, false
	switch {
	case err != nil:
		observed, res.Err = balance.Unhealthy, jenkins.Explain(err, m.cfg.Timeout)
		timedOut = !answered && jenkins.Classify(err) == jenkins.Ambiguous
	case st.QuietingDown:
		observed, res.Err = balance.Degraded, "quieting down: Jenkins accepts no new builds"
	case st.TotalExecutors == 0:
		observed, res.Err = balance.Degraded, "no online executors"
	case res.Latency > m.cfg.Slow:
		observed, res.Err = balance.Degraded, fmt.Sprintf("slow: answered in %s (degraded above %s)", res.Latency.Round(time.Millisecond), m.cfg.Slow)
		timedOut = true
	}
	// A probe that ran out of time while jenkinds itself was starved says
	// nothing about the controller. (Unlike passive evidence, a probe does
	// not count another controller's answer as proof that jenkinds was
	// reading: when every controller is slow, the answers of some would
	// make the others look gone one by one, and no mass-failure freeze
	// would hold their builds.)
	res.Inconclusive = timedOut && m.starvedWithin(start.Add(-m.cfg.LagTick), res.CheckedAt.Add(m.cfg.LagTick))

	m.mu.Lock()
	t := m.trackerLocked(inst.ID)
	if res.Inconclusive {
		res.Status = res.Previous
	} else {
		res.Status = m.conclude(t, res.Previous, observed)
	}
	if res.Status == balance.Unhealthy || res.Inconclusive {
		t.next = res.CheckedAt.Add(m.cfg.UnhealthyInterval)
	} else {
		t.next = res.CheckedAt.Add(m.cfg.Interval)
	}
	t.running = false
	m.mu.Unlock()

	r.Checked(res.CheckedAt)
	if err == nil {
		r.Probed(res.CheckedAt, st)
	}
	if res.Inconclusive {
		m.log.Debug("probe inconclusive: jenkinds was starved", "controller", inst.Name, "err", res.Err)
	} else {
		m.transition(r, res.Status, res.Err, SourceProbe, res.CheckedAt) // also the newer reason of the same health
	}
	if m.metrics != nil {
		m.metrics.observe(res)
	}
	m.record(ctx, r, res.Status, res.Err, res.Version, res.Session)
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

// probeOf probes r and returns what it found within Timeout. A probe
// that takes longer has failed (timed out), but, unless one already does,
// it goes on in the background for up to Patience: an answer that comes
// late still proves the controller is there, slow, not gone (Verdict
// counts silence from the last answer, however late).
func (m *Monitor) probeOf(ctx context.Context, r *controller.Runtime) (jenkins.Status, error) {
	inst := r.Instance()
	c, err := jenkins.New(inst.URL, inst.Username, r.Token(), m.client)
	if err != nil {
		return jenkins.Status{}, err
	}
	m.mu.Lock()
	t := m.trackerLocked(inst.ID)
	patient := !t.late && m.cfg.Patience > m.cfg.Timeout
	if patient {
		t.late = true
	}
	m.mu.Unlock()
	if !patient {
		ctx, cancel := context.WithTimeout(withLabels(ctx, inst.Name, inst.ClusterID), m.cfg.Timeout)
		defer cancel()
		return c.Probe(ctx, inst.HealthCheckURL)
	}
	type outcome struct {
		st  jenkins.Status
		err error
	}
	done := make(chan outcome, 1)
	var handOff sync.Mutex // orders the hand-off of the result against giving up on it
	abandoned := false
	pctx, cancel := context.WithTimeout(withLabels(context.WithoutCancel(ctx), inst.Name, inst.ClusterID), m.cfg.Patience)
	stop := context.AfterFunc(ctx, cancel) // the monitor stopping ends it
	m.spawn(func() {
		defer cancel()
		defer stop()
		st, err := c.Probe(pctx, inst.HealthCheckURL)
		m.mu.Lock()
		m.trackerLocked(inst.ID).late = false
		m.mu.Unlock()
		handOff.Lock()
		defer handOff.Unlock()
		if !abandoned {
			done <- outcome{st, err}
			return
		}
		var se *jenkins.StatusError
		if err == nil || errors.As(err, &se) { // a late answer: the controller is there
			r.Answered(m.now())
			r.NoteSession(st.Session)
		}
	})
	timer := time.NewTimer(m.cfg.Timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.st, o.err
	case <-timer.C:
		handOff.Lock()
		defer handOff.Unlock()
		select {
		case o := <-done:
			return o.st, o.err
		default:
			abandoned = true
			return jenkins.Status{}, fmt.Errorf("probe %s: %w", inst.Name, context.DeadlineExceeded)
		}
	}
}

// record stores a verdict on the controller's row.
func (m *Monitor) record(ctx context.Context, r *controller.Runtime, h balance.Health, why, version, session string) {
	if m.rec == nil {
		return
	}
	err := m.rec.RecordHealth(context.WithoutCancel(ctx), r.ID(), controller.HealthRecord{
		Status: h, Error: why, CurrentLoad: r.Load(), Version: version, JenkinsSession: session,
	})
	if err != nil && !errors.Is(err, controller.ErrNotFound) {
		m.log.Error("record health", "controller", r.Name(), "err", err)
	}
}

// transition moves r to h for why, decided from source at at: the one
// place a controller's health changes. It logs, counts and records the
// change and tells the observers; it reports whether r changed.
func (m *Monitor) transition(r *controller.Runtime, h balance.Health, why, source string, at time.Time) bool {
	from := r.Health()
	if !r.Transition(h, why, at) {
		return false
	}
	inst := r.Instance()
	lvl := slog.LevelInfo
	if h == balance.Unhealthy {
		lvl = slog.LevelWarn
	}
	m.log.Log(context.Background(), lvl, "controller health changed", "controller", inst.Name, "cluster", inst.ClusterID,
		"from", from.String(), "to", h.String(), "source", source, "reason", why)
	if m.metrics != nil {
		m.metrics.transitions.WithLabelValues(inst.Name, inst.ClusterID, h.String(), source).Inc()
	}
	m.emit(Event{At: at, Kind: KindTransition, ControllerID: inst.ID, Controller: inst.Name, Cluster: inst.ClusterID,
		From: from.String(), To: h.String(), Source: source, Reason: why})
	if h == balance.Unhealthy {
		m.checkMassFailure(inst.ClusterID, at)
	}
	return true
}

// restarted is the runtimes' hook: a new X-Jenkins-Session.
func (m *Monitor) restarted(r *controller.Runtime, from, to string) {
	inst := r.Instance()
	m.log.Warn("controller restarted", "controller", inst.Name, "cluster", inst.ClusterID, "session", to)
	if m.metrics != nil {
		m.metrics.restarts.WithLabelValues(inst.Name, inst.ClusterID).Inc()
	}
	m.emit(Event{At: m.now(), Kind: KindRestart, ControllerID: inst.ID, Controller: inst.Name, Cluster: inst.ClusterID,
		Source: SourcePassive, Reason: fmt.Sprintf("new X-Jenkins-Session %s (was %s)", to, from)})
	m.Expedite(inst.ID)
}

// emit records e and tells the observers. Events reach the database in
// the order they were emitted, written by one goroutine at a time that
// lives while there are events to write.
func (m *Monitor) emit(e Event) {
	m.mu.Lock()
	obs := m.observers
	start := false
	if m.events.db != nil {
		m.pending = append(m.pending, e)
		start = !m.writing
		m.writing = true
	}
	m.mu.Unlock()
	if m.events.db == nil {
		_, _ = m.events.add(context.Background(), e)
	} else if start {
		m.spawn(m.writeEvents)
	}
	for _, f := range obs {
		f(e)
	}
}

// spawn runs f in its own goroutine, counted in bg so that Run returns
// only after it; once Run has returned (or while it returns), f runs in
// the caller's goroutine instead. Work started from the request paths
// uses it: WaitGroup.Add racing with Run's Wait would be a data race.
func (m *Monitor) spawn(f func()) {
	m.bgMu.Lock()
	if m.bgClosed {
		m.bgMu.Unlock()
		f()
		return
	}
	m.bg.Add(1)
	m.bgMu.Unlock()
	go func() {
		defer m.bg.Done()
		f()
	}()
}

// writeEvents writes the pending events, in order, until none is left.
func (m *Monitor) writeEvents() {
	for {
		m.mu.Lock()
		batch := m.pending
		m.pending = nil
		if len(batch) == 0 {
			m.writing = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		for _, e := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := m.events.add(ctx, e); err != nil {
				m.log.Error("record health event", "kind", e.Kind, "controller", e.Controller, "err", err)
			}
			cancel()
		}
	}
}

// Expedite makes controller id due for a probe now.
func (m *Monitor) Expedite(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackerLocked(id).next = time.Time{}
}
