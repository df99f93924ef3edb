package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Service owns the life of builds: it accepts them (Submit), places them
// on controllers, follows them to their end and places them again when a
// controller loses them. Run must be active on one jenkinds replica at a
// time (the server runs it under the leader lease); the read and write
// methods work on every replica.
type Service struct {
	cfg  Config
	st   *store
	pool *controller.Pool
	hc   *http.Client
	log  *slog.Logger
	now  func() time.Time

	inv inventories

	clientMu sync.Mutex
	clients  map[int64]clientEntry

	ctlMu sync.Mutex
	ctls  map[int64]*ctlState

	policyMu sync.Mutex
	policies map[string]balance.Policy

	inflightMu sync.Mutex
	inflight   map[attemptKey]bool // triggers in flight in this process

	wakePlacer   chan struct{}
	wakeFollower chan struct{}
	triggerSlots chan struct{}
	roundSlots   chan struct{}
}

type attemptKey struct {
	build   int64
	attempt int
}

type clientEntry struct {
	url, user, token string
	b                *backend
}

// ctlState is what the dispatcher keeps about one controller between
// rounds.
type ctlState struct {
	// trig is held shared by every trigger to the controller, from before
	// the request until its outcome is stored, and taken exclusively for a
	// moment by a follow round between reading the controller and reading
	// the attempts: so every build the round saw that a trigger of ours
	// caused is already recorded as ours when the round classifies it.
	trig sync.RWMutex

	mu             sync.Mutex
	session        string    // X-Jenkins-Session last seen by a round
	quieting       bool      // quieting down, from health results
	unhealthySince time.Time // zero when not unhealthy
	nextSupersede  time.Time // next re-dispatch of its live attempts while unhealthy
	cooldown       time.Time // no placement before
	next           time.Time // next round
	failures       int       // rounds failed in a row
	running        bool
	live           int              // queued or running attempts here, as of the last round, plus placements since
	marks          map[string]int64 // direct-build scan marks by job; nil until loaded
}

// New returns a Service over d (migrated with Migrations) that places
// builds on the controllers of pool, talking to them with hc (nil: a
// default client), logging to log and reading the time from now.
func New(d *db.DB, pool *controller.Pool, hc *http.Client, log *slog.Logger, now func() time.Time, cfg Config) *Service {
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = &http.Client{}
	}
	// Our own copy: never follow redirects (stop and cancelItem answer 302).
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{
		cfg: cfg, st: newStore(d, now), pool: pool, hc: &own, log: log, now: now,
		clients:      map[int64]clientEntry{},
		ctls:         map[int64]*ctlState{},
		policies:     map[string]balance.Policy{},
		inflight:     map[attemptKey]bool{},
		wakePlacer:   make(chan struct{}, 1),
		wakeFollower: make(chan struct{}, 1),
		triggerSlots: make(chan struct{}, cfg.Triggers),
		roundSlots:   make(chan struct{}, cfg.Rounds),
	}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Service) ctl(id int64) *ctlState {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	c, ok := s.ctls[id]
	if !ok {
		c = &ctlState{}
		s.ctls[id] = c
	}
	return c
}

// backend returns the client of controller id, rebuilt when its URL,
// user or token changed.
func (s *Service) backend(id int64) (*backend, error) {
	r := s.pool.Get(id)
	if r == nil {
		return nil, fmt.Errorf("controller %d is not registered", id)
	}
	inst, tok := r.Instance(), r.Token()
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if e, ok := s.clients[id]; ok && e.url == inst.URL && e.user == inst.Username && e.token == tok {
		return e.b, nil
	}
	c, err := jenkins.New(inst.URL, inst.Username, tok, s.hc)
	if err != nil {
		return nil, err
	}
	b := &backend{id: id, client: c, timeout: s.cfg.RequestTimeout}
	s.clients[id] = clientEntry{url: inst.URL, user: inst.Username, token: tok, b: b}
	return b, nil
}

func (s *Service) markInflight(k attemptKey, on bool) {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	if on {
		s.inflight[k] = true
	} else {
		delete(s.inflight, k)
	}
}

func (s *Service) isInflight(k attemptKey) bool {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	return s.inflight[k]
}

// Observe takes a health result (health.Monitor.Observe(svc.Observe)): a
// restart makes the controller's next follow round due now; unhealthy
// starts the RedispatchAfter clock; quieting down keeps new builds away.
// It does not block.
func (s *Service) Observe(res health.Result) {
	c := s.ctl(res.InstanceID)
	c.mu.Lock()
	switch {
	case res.Status == balance.Unhealthy:
		if c.unhealthySince.IsZero() {
			c.unhealthySince = res.CheckedAt
		}
	default:
		c.unhealthySince = time.Time{}
		c.quieting = res.Jenkins.QuietingDown
	}
	if res.Restarted || res.Status != res.Previous {
		c.next = time.Time{}
	}
	c.mu.Unlock()
	if res.Restarted || res.Status != res.Previous {
		wake(s.wakeFollower)
		wake(s.wakePlacer)
	}
}

// Submit accepts a build: the row is committed before Submit returns, and
// placement follows at once in the background. It answers ErrUnknownJob
// when no controller of the cluster has the job (unless some controller
// of the cluster has never answered: then the build is accepted and the
// placer decides), ErrNotBuildable and ErrNotParameterized as Jenkins
// would.
func (s *Service) Submit(ctx context.Context, req Request) (Build, error) {
	if req.Cluster == "" {
		req.Cluster = controller.DefaultCluster
	}
	req.Job = strings.Trim(req.Job, "/")
	if req.Job == "" {
		return Build{}, &ValidationError{Field: "job", Rule: "required: the full name of a job, e.g. folder/job"}
	}
	if req.Delay < 0 {
		return Build{}, &ValidationError{Field: "delay", Rule: "must not be negative"}
	}
	info, err := s.resolveJob(ctx, req.Cluster, req.Job)
	if err != nil {
		return Build{}, fmt.Errorf("submit build of %s: %w", req.Job, err)
	}
	if len(info.Controllers) > 0 {
		if !info.Buildable {
			return Build{}, fmt.Errorf("submit build of %s: %w", req.Job, ErrNotBuildable)
		}
		if req.WithParameters && !info.Parameterized {
			return Build{}, fmt.Errorf("submit build of %s: %w", req.Job, ErrNotParameterized)
		}
	}
	if req.Params == nil {
		req.Params = []Param{}
	}
	if req.Coalesce {
		b, err := s.st.waitingTwin(ctx, req.Cluster, req.Job, req.Params)
		if err == nil {
			b.Coalesced = true
			return b, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Build{}, fmt.Errorf("submit build of %s: %w", req.Job, err)
		}
	}
	b, err := s.st.insertBuild(ctx, Build{
		Cluster: req.Cluster, Job: req.Job, Params: req.Params, Cause: req.Cause,
		MaxAttempts: s.cfg.MaxAttempts, NotBefore: s.now().Add(req.Delay),
	})
	if err != nil {
		return Build{}, err
	}
	wake(s.wakePlacer)
	return b, nil
}

// Get returns build id with its attempts.
func (s *Service) Get(ctx context.Context, id int64) (Build, error) {
	b, err := s.st.get(ctx, id)
	if err != nil {
		return Build{}, fmt.Errorf("get build %d: %w", id, err)
	}
	return b, nil
}

// GetByNumber returns the build of cluster/job with global number.
func (s *Service) GetByNumber(ctx context.Context, cluster, job string, number int64) (Build, error) {
	b, err := s.st.getWhere(ctx, `cluster = ? AND job = ? AND number = ?`, cluster, job, number)
	if err != nil {
		return Build{}, fmt.Errorf("get build %s #%d of cluster %s: %w", job, number, cluster, err)
	}
	return b, nil
}

// List returns the builds f selects, by ascending id, without attempts.
func (s *Service) List(ctx context.Context, f Filter) ([]Build, error) {
	switch {
	case f.Limit < 0 || f.Limit > 1000:
		return nil, &ValidationError{Field: "limit", Rule: fmt.Sprintf("%d: must be between 1 and 1000", f.Limit)}
	case f.State != "" && !f.State.valid():
		return nil, &ValidationError{Field: "state", Rule: fmt.Sprintf("%q: must be accepted, placed, running, finished, failed or cancelled", f.State)}
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	out, err := s.st.list(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list builds: %w", err)
	}
	return out, nil
}

// Log returns the progressive console of the build's current attempt
// from byte start, fetched from its controller: the text, the total size
// (X-Text-Size) and whether more is coming (X-More-Data). Before the
// build runs it is empty with more true. After a re-dispatch the console
// is the new attempt's, starting again at 0.
func (s *Service) Log(ctx context.Context, id int64, start int64) ([]byte, int64, bool, error) {
	b, err := s.Get(ctx, id)
	if err != nil {
		return nil, 0, false, err
	}
	a, ok := b.Current()
	if !ok || a.BackendNumber == 0 {
		return nil, 0, !b.State.Terminal(), nil
	}
	be, err := s.backend(a.ControllerID)
	if err != nil {
		return nil, 0, false, &BackendError{ControllerID: a.ControllerID, Op: "read console", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	text, size, more, err := be.progressive(ctx, b.Job, a.BackendNumber, start)
	if err != nil {
		return nil, 0, false, &BackendError{ControllerID: a.ControllerID, Op: fmt.Sprintf("read console of build %d", id), Err: err}
	}
	// The build is not over for jenkinds until the follower says so.
	return text, size, more || !b.State.Terminal(), nil
}

// Cancel cancels a build that has not started: an accepted one at once, a
// placed one with its backend queue item (cancelled now if the controller
// answers, else by fencing later). A running build is stopped (Stop).
// ErrFinished when it already ended.
func (s *Service) Cancel(ctx context.Context, id int64) (Build, error) {
	b, err := s.Get(ctx, id)
	if err != nil {
		return Build{}, err
	}
	switch b.State {
	case StateRunning:
		return s.Stop(ctx, id)
	case StateFinished, StateFailed, StateCancelled:
		return b, fmt.Errorf("cancel build %d: %w", id, ErrFinished)
	}
	var superseded *watched
	err = s.st.write(ctx, func(tx *sql.Tx) error {
		now := s.st.clock()
		n, err := s.st.execTx(ctx, tx, `UPDATE builds SET state = 'cancelled', reason = 'cancelled', finished_at = ?, updated_at = ?
		WHERE id = ? AND state IN ('accepted', 'placed') AND current_attempt = ?`, now, now, id, b.CurrentAttempt)
		if err != nil || n == 0 {
			if n == 0 && err == nil {
				err = errRetry
			}
			return err
		}
		if a, ok := b.Current(); ok && a.State.live() {
			w := &watched{Attempt: a, job: b.Job}
			if _, err := s.st.execTx(ctx, tx, `UPDATE build_attempts SET state = 'superseded', reason = 'build cancelled', superseded_at = ?, updated_at = ?
			WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'queued', 'running')`, now, now, id, a.Attempt); err != nil {
				return err
			}
			superseded = w
		}
		return nil
	})
	if errors.Is(err, errRetry) {
		return s.Cancel(ctx, id) // it moved on meanwhile: decide again
	}
	if err != nil {
		return Build{}, fmt.Errorf("cancel build %d: %w", id, err)
	}
	if superseded != nil && superseded.BackendQueueID != 0 {
		s.cancelNow(ctx, superseded)
	}
	return s.Get(ctx, id)
}

// errRetry says a conditional update found the row moved on.
var errRetry = errors.New("build changed meanwhile")

// cancelNow cancels a superseded attempt's queue item right away, and
// fences it when that worked; otherwise the follower fences it later.
func (s *Service) cancelNow(ctx context.Context, w *watched) {
	be, err := s.backend(w.ControllerID)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if gone, err := be.cancelItem(cctx, w.BackendQueueID); err != nil || gone {
		return // not cancellable here (it may have started): fencing decides
	}
	_ = s.st.write(ctx, func(tx *sql.Tx) error {
		return s.st.fenceAttempt(ctx, tx, w, FenceCancelled, "", 0, "build cancelled")
	})
}

// Stop stops a running build: the stop is recorded (so it survives
// controller trouble and re-dispatch: a stopped build is never placed
// again) and sent to the controller; the build then finishes ABORTED as
// the follower sees it. A build not yet running is cancelled; an ended
// one is returned as it is.
func (s *Service) Stop(ctx context.Context, id int64) (Build, error) {
	b, err := s.Get(ctx, id)
	if err != nil {
		return Build{}, err
	}
	switch b.State {
	case StateAccepted, StatePlaced:
		b, err := s.Cancel(ctx, id)
		if errors.Is(err, ErrFinished) {
			return b, nil
		}
		return b, err
	case StateFinished, StateFailed, StateCancelled:
		return b, nil
	}
	err = s.st.writeOne(ctx, func() error {
		_, err := s.st.db.ExecContext(ctx, s.st.db.Rebind(`UPDATE builds SET stop_requested = TRUE, updated_at = ? WHERE id = ?`), s.st.clock(), id)
		return err
	})
	if err != nil {
		return Build{}, fmt.Errorf("stop build %d: %w", id, err)
	}
	if a, ok := b.Current(); ok && a.BackendNumber != 0 {
		be, err := s.backend(a.ControllerID)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			err = be.stop(cctx, b.Job, a.BackendNumber)
			cancel()
		}
		if err != nil {
			s.log.Warn("stop build: controller did not take the stop; the follower will send it again",
				"build", id, "controller", a.ControllerID, "err", err)
		}
	}
	wake(s.wakeFollower)
	return s.Get(ctx, id)
}

// Run places and follows builds until ctx ends. Unfinished builds in the
// database, from this process or an earlier one, are picked up where they
// are.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.runPlacer(ctx) })
	wg.Go(func() { s.runFollower(ctx) })
	wg.Wait()
	return nil
}

// Close releases prepared statements. Call it after Run returned.
func (s *Service) Close() { s.st.close() }

// Counts returns how many builds are in each state (for stats and
// metrics).
func (s *Service) Counts(ctx context.Context) (map[State]int, error) {
	rows, err := s.st.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM builds GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count builds: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count builds: %w", err)
		}
		out[State(st)] = n
	}
	return out, rows.Err()
}
