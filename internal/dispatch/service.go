package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/health"
)

// Service owns the life of builds: it accepts them (Submit), places them
// on controllers, follows them to their end and places them again when a
// controller loses them. Run must be active on one jenkinds replica at a
// time (the server runs it under the leader lease); the read and write
// methods work on every replica.
type Service struct {
	*core
}

// core is what every part of the package shares: the store, the pool of
// controllers (their live records), the health authority, the job
// inventory, the gate between placer and follower, and how to wake each.
type core struct {
	cfg    Config
	st     *store
	pool   *controller.Pool
	health Health
	log    *slog.Logger
	now    func() time.Time

	cat  *catalog.Catalog // the controllers' jobs
	gate *gate

	wakePlacer   chan struct{}
	wakeFollower chan struct{}

	// withheld counts the times the follower found an unhealthy
	// controller's builds held back by a freeze (mass failure, or jenkinds
	// starved); lastWithheld is when it last did (unix nanos).
	withheld, lastWithheld atomic.Int64
}

// Withheld returns how many times re-dispatch of an unhealthy
// controller's builds was held back by a freeze, and when last.
func (s *Service) Withheld() (int64, time.Time) {
	n, at := s.withheld.Load(), s.lastWithheld.Load()
	if at == 0 {
		return n, time.Time{}
	}
	return n, time.Unix(0, at)
}

// Health is what the dispatcher asks the health authority
// (*health.Monitor): whether the builds on an unhealthy controller may be
// placed again.
type Health interface {
	Verdict(rt *controller.Runtime, after time.Duration, now time.Time) health.Verdict
}

var _ Health = (*health.Monitor)(nil)

// Fence refuses the writes of a leader whose term ended (leader.Term):
// Check runs inside every write transaction of the placer and the
// follower.
type Fence interface {
	Check(ctx context.Context, tx *sql.Tx) error
}

// NoFence is the Fence of a dispatcher that runs alone (tests, one
// replica without a lease).
type NoFence struct{}

// Check implements Fence.
func (NoFence) Check(context.Context, *sql.Tx) error { return nil }

// Options are what New needs.
type Options struct {
	Config Config
	// DB is migrated with Migrations.
	DB *db.DB
	// Pool holds the controllers: their live records and their clients.
	Pool *controller.Pool
	// Health answers whether an unhealthy controller's builds may move.
	Health Health
	// Catalog knows the controllers' jobs; nil: one of the dispatcher's
	// own over Pool.
	Catalog *catalog.Catalog
	// Log defaults to discarding; Now to time.Now.
	Log *slog.Logger
	Now func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	cfg := o.Config.withDefaults()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Catalog == nil {
		o.Catalog = catalog.New(catalog.Options{Pool: o.Pool, Log: o.Log, Now: o.Now,
			Config: catalog.Config{RequestTimeout: cfg.RequestTimeout}})
	}
	return &Service{core: &core{
		cfg: cfg, st: newStore(o.DB, o.Now), pool: o.Pool, health: o.Health, log: o.Log, now: o.Now, cat: o.Catalog,
		gate:         newGate(),
		wakePlacer:   make(chan struct{}, 1),
		wakeFollower: make(chan struct{}, 1),
	}}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// backend returns the client of controller id: its runtime's.
func (c *core) backend(id int64) (*backend, error) {
	_, cl, err := c.pool.Client(id)
	if err != nil {
		return nil, err
	}
	return &backend{id: id, Client: cl.WithTimeout(c.cfg.RequestTimeout)}, nil
}

// Observe takes the health authority's events
// (health.Monitor.Observe(svc.Observe)): a restart or a change of health
// makes the follower and the placer look again at once. It does not
// block.
func (s *Service) Observe(e health.Event) {
	if e.Kind == health.KindRestart || e.Kind == health.KindTransition || e.Kind == health.KindThaw {
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
	info, err := s.cat.Resolve(ctx, req.Cluster, req.Job)
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
		b, err := retryTransient(ctx, s.st.db, func() (Build, error) { return s.st.waitingTwin(ctx, req.Cluster, req.Job, req.Params) })
		if err == nil {
			b.Coalesced = true
			return b, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Build{}, fmt.Errorf("submit build of %s: %w", req.Job, err)
		}
	}
	done := s.cat.Changing(req.Cluster) // the queue and the job's JSON show it from the commit on
	b, err := s.st.insertBuild(ctx, Build{
		Cluster: req.Cluster, Job: req.Job, Params: req.Params, Cause: req.Cause,
		MaxAttempts: s.cfg.MaxAttempts, NotBefore: s.now().Add(req.Delay),
	})
	done()
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
	chunk, _, err := be.ProgressiveLog(ctx, b.Job, a.BackendNumber, start)
	text, size, more := chunk.Text, chunk.Size, chunk.More
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
	done := s.cat.Changing(b.Cluster) // the queue and the job's JSON show it from the commit on
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
	done()
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
	if gone, err := be.CancelItem(cctx, w.BackendQueueID); err != nil || gone {
		return // not cancellable here (it may have started): fencing decides
	}
	_ = s.st.write(ctx, func(tx *sql.Tx) error {
		return s.st.fenceAttempt(ctx, tx, w, outcome{fence: FenceCancelled, note: "build cancelled"})
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
	done := s.cat.Changing(b.Cluster)
	err = s.st.writeOne(ctx, func() error {
		_, err := s.st.db.ExecContext(ctx, s.st.db.Rebind(`UPDATE builds SET stop_requested = TRUE, updated_at = ? WHERE id = ?`), s.st.clock(), id)
		return err
	})
	done()
	if err != nil {
		return Build{}, fmt.Errorf("stop build %d: %w", id, err)
	}
	if a, ok := b.Current(); ok && a.BackendNumber != 0 {
		be, err := s.backend(a.ControllerID)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			err = be.Stop(cctx, b.Job, a.BackendNumber)
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

// Run places and follows builds until ctx ends, as one leader term:
// every write of the placer and the follower passes fence first, so a
// stale leader's late write changes nothing. Unfinished builds in the
// database, from this process or an earlier one, are picked up where
// they are; what a previous term cached (job inventories, scan marks) is
// read again.
func (s *Service) Run(ctx context.Context, fence Fence) error {
	if fence == nil {
		fence = NoFence{}
	}
	s.cat.Forget()
	s.readInventories(ctx)
	p, f := newPlacer(s.core, fence), newFollower(s.core, fence)
	var wg sync.WaitGroup
	wg.Go(func() { p.run(ctx) })
	wg.Go(func() { f.run(ctx) })
	wg.Wait()
	return nil
}

// readInventories reads the job inventory of every controller not known
// unhealthy, all at once, before a term places anything: placed while
// only some had answered, the first builds would all go to those. It
// waits at most min(RequestTimeout, 2s); reads still under way then go
// on, and the follower uses them when they land.
func (s *Service) readInventories(ctx context.Context) {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, min(s.cfg.RequestTimeout, 2*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range s.pool.All() {
		if r.Health() == balance.Unhealthy || !r.Instance().IsActive {
			continue
		}
		done := make(chan struct{})
		go func() { defer close(done); _, _ = s.cat.Refresh(ctx, r.ID()) }()
		wg.Go(func() {
			select {
			case <-done:
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	s.log.Debug("read job inventories for the term", "took", s.now().Sub(start))
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
