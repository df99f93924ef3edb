package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// runFollower runs follow rounds of every controller as they fall due,
// at most Rounds at once, until ctx ends; then it waits for the rounds in
// flight.
func (s *Service) runFollower(ctx context.Context) {
	tick := time.NewTicker(max(5*time.Millisecond, min(s.cfg.FollowInterval/4, 250*time.Millisecond)))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastOrphans time.Time
	for {
		s.followDue(ctx, &wg)
		if now := s.now(); now.Sub(lastOrphans) >= s.cfg.FollowInterval {
			lastOrphans = now
			if err := s.checkOrphans(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("check builds of unregistered controllers", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wakeFollower:
		}
	}
}

// errSessionMoved: the controller restarted during the round; the round
// is repeated at once.
var errSessionMoved = errors.New("controller restarted during the follow round")

func (s *Service) followDue(ctx context.Context, wg *sync.WaitGroup) {
	now := s.now()
	for _, r := range s.pool.All() {
		st := s.ctl(r.ID())
		if s.unhealthy(ctx, r, st, now) {
			continue
		}
		st.mu.Lock()
		if st.running || now.Before(st.next) {
			st.mu.Unlock()
			continue
		}
		st.running = true
		st.mu.Unlock()
		wg.Go(func() {
			select {
			case s.roundSlots <- struct{}{}:
			case <-ctx.Done():
				st.mu.Lock()
				st.running = false
				st.mu.Unlock()
				return
			}
			err := s.round(ctx, r)
			<-s.roundSlots
			st.mu.Lock()
			defer st.mu.Unlock()
			st.running = false
			delay := s.cfg.FollowInterval
			switch {
			case errors.Is(err, errSessionMoved):
				delay = 0
			case err != nil:
				st.failures++
				delay = min(s.cfg.FollowInterval<<min(st.failures, 6), max(30*time.Second, s.cfg.FollowInterval))
				if st.failures == 1 && ctx.Err() == nil {
					s.log.Warn("follow controller", "controller", r.Instance().Name, "err", err)
				}
			default:
				st.failures = 0
			}
			st.next = s.now().Add(delay)
		})
	}
}

// roundData is what one round read from a controller.
type roundData struct {
	session   string
	running   map[string]map[int64]apiBuild // job → number → running build; nil when not read
	queue     map[int64]apiQueueItem        // nil when not read
	queueFull bool                          // items carry job and parameters
	jobs      map[string]*jobBuilds
}

// jobBuilds is what a round read of one job's builds.
type jobBuilds struct {
	next    int64
	byNum   map[int64]apiBuild
	lo      int64 // every build numbered lo or more is in byNum, if it exists
	missing bool  // the job is gone (404)
	single  map[int64]*apiBuild
}

// covers reports whether the round knows for sure about build n: seen, or
// in the read range and absent.
func (jb *jobBuilds) find(n int64) (apiBuild, bool, bool) {
	if b, ok := jb.byNum[n]; ok {
		return b, true, true
	}
	if b, ok := jb.single[n]; ok {
		if b == nil {
			return apiBuild{}, false, true
		}
		return *b, true, true
	}
	return apiBuild{}, false, jb.missing || n >= jb.lo
}

// sessionCheck collects the X-Jenkins-Session of every answer of a round.
func (d *roundData) sessionCheck(sess string) error {
	switch {
	case sess == "":
	case d.session == "":
		d.session = sess
	case d.session != sess:
		return errSessionMoved
	}
	return nil
}

// unhealthy tells whether controller r is unhealthy, so that it gets no
// follow round; once it has been for RedispatchAfter, its live attempts
// are superseded (and again every RedispatchAfter while it stays so, for
// triggers that were on their way). This runs outside the rounds, so a
// round stuck on a hung controller does not hold it up.
func (s *Service) unhealthy(ctx context.Context, r *controller.Runtime, st *ctlState, now time.Time) bool {
	st.mu.Lock()
	if r.Health() != balance.Unhealthy {
		st.unhealthySince, st.nextSupersede = time.Time{}, time.Time{}
		st.mu.Unlock()
		return false
	}
	if st.unhealthySince.IsZero() {
		st.unhealthySince = now
	}
	since, due := st.unhealthySince, !now.Before(st.nextSupersede) && now.Sub(st.unhealthySince) >= s.cfg.RedispatchAfter
	if due {
		st.nextSupersede = now.Add(max(s.cfg.RedispatchAfter, s.cfg.FollowInterval))
	}
	st.mu.Unlock()
	if due {
		reason := fmt.Sprintf("controller %s unhealthy since %s", r.Instance().Name, since.Format(time.RFC3339))
		if err := s.supersedeLive(ctx, r.ID(), reason); err != nil && ctx.Err() == nil {
			s.log.Error("re-dispatch builds of an unhealthy controller", "controller", r.Instance().Name, "err", err)
			st.mu.Lock()
			st.nextSupersede = time.Time{}
			st.mu.Unlock()
		}
	}
	return true
}

// round follows one controller once: see doc.go, "Following".
func (s *Service) round(ctx context.Context, r *controller.Runtime) error {
	id, name := r.ID(), r.Instance().Name
	st := s.ctl(id)
	now := s.now()
	be, err := s.backend(id)
	if err != nil {
		return err
	}
	inv := s.inv.get(id)
	if inv == nil || now.Sub(inv.at) >= s.cfg.InventoryInterval {
		fresh, err := s.refreshInventory(ctx, id)
		if err != nil {
			return err
		}
		inv = fresh
	}
	marks, err := s.marks(ctx, id)
	if err != nil {
		return err
	}
	ws, err := s.st.watchList(ctx, id)
	if err != nil {
		return err
	}
	s.countLive(st, ws)

	// 1. Read what the attempts and the direct-build scan need. Only the
	// queue ids known now may be looked for in what is read next: an id
	// recorded later may belong to an item the queue read missed.
	data := &roundData{jobs: map[string]*jobBuilds{}}
	readable := map[attemptKey]bool{}
	for i := range ws {
		if w := &ws[i]; w.BackendQueueID != 0 {
			readable[attemptKey{w.BuildID, w.Attempt.Attempt}] = true
		}
	}
	prev := st.sessionNow()
	needQueue, fullQueue := false, false
	for i := range ws {
		w := &ws[i]
		if s.skip(w) || w.BackendNumber != 0 {
			continue
		}
		needQueue = true
		if w.BackendQueueID == 0 || w.BackendSession != prev {
			fullQueue = true
		}
	}
	if needQueue {
		if err := s.readQueue(ctx, be, data, fullQueue); err != nil {
			return err
		}
		if !data.queueFull && data.session != prev {
			if err := s.readQueue(ctx, be, data, true); err != nil {
				return err
			}
		}
	}
	needRunning := false
	for i := range ws {
		if w := &ws[i]; !s.skip(w) && w.BackendNumber != 0 {
			needRunning = true
		}
	}
	if needRunning {
		running, sess, err := be.running(ctx)
		if err != nil {
			return fmt.Errorf("read running builds: %w", err)
		}
		if err := data.sessionCheck(sess); err != nil {
			return err
		}
		data.running = running
		for job, bs := range running {
			for n := range bs {
				s.inv.bumpNext(id, job, n+1)
			}
		}
	}
	lows := map[string]int64{}
	need := func(job string, low int64) {
		if v, ok := lows[job]; !ok || low < v {
			lows[job] = max(low, 1)
		}
	}
	for i := range ws {
		w := &ws[i]
		switch {
		case s.skip(w):
		case w.BackendNumber != 0:
			if _, ok := data.running[w.job][w.BackendNumber]; !ok {
				need(w.job, w.BackendNumber) // ended (or lost): read how
			}
		case w.BackendQueueID != 0 && w.BackendSession == data.session && data.queue != nil && inQueue(data, w.BackendQueueID):
		default:
			need(w.job, w.floor)
		}
	}
	for job, m := range inv.jobs {
		if mark, ok := marks[job]; ok && m.next-1 > mark {
			need(job, mark+1)
		}
	}
	for job, low := range lows {
		jb, err := s.readJob(ctx, be, data, job, low, s.inv.floor(id, job))
		if err != nil {
			return err
		}
		data.jobs[job] = jb
	}
	if err := s.readStragglers(ctx, be, data, ws); err != nil {
		return err
	}

	// 2. Barrier: every trigger that began before now has stored its
	// outcome once we hold the lock for a moment.
	st.trig.Lock()
	st.trig.Unlock() //nolint:staticcheck // an empty critical section is the barrier
	if ws, err = s.st.watchList(ctx, id); err != nil {
		return err
	}

	// 3. Decide, calling the controller where a decision needs it.
	claimed, err := s.claimedIn(ctx, id, data)
	if err != nil {
		return err
	}
	if err := s.readParams(ctx, be, data, ws, claimed, marks); err != nil {
		return err
	}
	rd := &resolver{s: s, be: be, data: data, claimed: claimed, now: s.now(), ws: ws, readable: readable}
	decs := rd.decide(ctx)
	directs, newMarks := rd.scan(marks)

	// 4. Store it all in one transaction.
	if err := s.apply(ctx, id, data.session, decs, directs, newMarks); err != nil {
		return err
	}
	if data.session != "" {
		st.mu.Lock()
		if st.session != "" && st.session != data.session {
			s.log.Warn("controller restarted: its attempts are found again or placed again", "controller", name, "session", data.session)
		}
		st.session = data.session
		st.mu.Unlock()
	}
	return nil
}

func (st *ctlState) sessionNow() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.session
}

// skip tells whether a round leaves w alone: its trigger is in flight.
func (s *Service) skip(w *watched) bool {
	return w.State == AttemptTriggering && s.isInflight(attemptKey{w.BuildID, w.Attempt.Attempt})
}

func (s *Service) countLive(st *ctlState, ws []watched) {
	n := 0
	for i := range ws {
		if ws[i].State.live() {
			n++
		}
	}
	st.mu.Lock()
	st.live = n
	st.mu.Unlock()
}

func inQueue(d *roundData, id int64) bool {
	_, ok := d.queue[id]
	return ok
}

func (s *Service) readQueue(ctx context.Context, be *backend, data *roundData, full bool) error {
	items, sess, err := be.queue(ctx, full)
	if err != nil {
		return fmt.Errorf("read queue: %w", err)
	}
	data.session = "" // a full re-read after a session change replaces the light one
	if err := data.sessionCheck(sess); err != nil {
		return err
	}
	data.queue, data.queueFull = make(map[int64]apiQueueItem, len(items)), full
	for _, it := range items {
		data.queue[it.ID] = it
	}
	return nil
}

// readJob reads the builds of job from the newest down to build low (at
// most Window of them), in pages sized by what the inventory expects.
func (s *Service) readJob(ctx context.Context, be *backend, data *roundData, job string, low, next int64) (*jobBuilds, error) {
	jb := &jobBuilds{byNum: map[int64]apiBuild{}, single: map[int64]*apiBuild{}, lo: 1 << 62}
	page := int(min(max(next-low+16, 32), int64(s.cfg.Window)))
	for from := 0; from < s.cfg.Window; {
		to := min(from+page, s.cfg.Window)
		builds, n, sess, err := be.builds(ctx, job, from, to, false)
		if jenkins.IsNotFound(err) {
			jb.missing = true
			// The job is gone there: read the inventory again, so that
			// the placer stops sending it there.
			go func() { _, _ = s.refreshInventory(context.WithoutCancel(ctx), be.id) }()
			return jb, data.sessionCheck(sess)
		}
		if err != nil {
			return nil, fmt.Errorf("read builds of %s: %w", job, err)
		}
		if err := data.sessionCheck(sess); err != nil {
			return nil, err
		}
		jb.next = max(jb.next, n)
		for _, b := range builds {
			jb.byNum[b.Number] = b
		}
		if len(builds) < to-from {
			jb.lo = 1 // reached the oldest build
			break
		}
		last := builds[len(builds)-1].Number
		jb.lo = last
		if last <= low {
			break
		}
		from, page = to, int(min(max(last-low+16, 32), int64(s.cfg.Window)))
	}
	if len(jb.byNum) == 0 && jb.lo > 1 {
		jb.lo = max(jb.next, 1)
	}
	s.inv.bumpNext(be.id, job, jb.next)
	return jb, nil
}

// readParams reads the parameters and causes of the builds a round must
// recognise by content, which the first read left out to stay light:
// builds no attempt holds (direct ones, or ours known only by content),
// for jobs with such builds or with attempts to find by content. Only
// builds the first read saw are completed: one that started since might
// be a trigger the barrier has not covered.
func (s *Service) readParams(ctx context.Context, be *backend, data *roundData, ws []watched, claimed map[string]map[int64]bool, marks map[string]int64) error {
	need := map[string]bool{}
	held := map[int64]bool{}
	for i := range ws {
		w := &ws[i]
		if w.BackendNumber != 0 || s.skip(w) {
			continue
		}
		if w.BackendQueueID == 0 || w.BackendSession != data.session {
			need[w.job] = true
		} else {
			held[w.BackendQueueID] = true
		}
	}
	for job, jb := range data.jobs {
		mark, ok := marks[job]
		if !ok || need[job] {
			continue
		}
		for n, b := range jb.byNum {
			if n > mark && !claimed[job][n] && !held[b.QueueID] {
				need[job] = true
				break
			}
		}
	}
	for job := range need {
		jb := data.jobs[job]
		if jb == nil || jb.missing || len(jb.byNum) == 0 {
			continue
		}
		lo := int64(1 << 62)
		for n := range jb.byNum {
			lo = min(lo, n)
		}
		for from := 0; from < s.cfg.Window; {
			to := min(from+int(min(max(jb.next-lo+16, 32), int64(s.cfg.Window))), s.cfg.Window)
			builds, _, sess, err := be.builds(ctx, job, from, to, true)
			if err != nil {
				return fmt.Errorf("read builds of %s: %w", job, err)
			}
			if err := data.sessionCheck(sess); err != nil {
				return err
			}
			for _, b := range builds {
				if _, ok := jb.byNum[b.Number]; ok {
					jb.byNum[b.Number] = b
				}
			}
			if len(builds) < to-from || builds[len(builds)-1].Number <= lo {
				break
			}
			from = to
		}
	}
	return nil
}

// maxStragglers bounds the builds read one by one per round: attempts
// older than the Window of their job.
const maxStragglers = 50

func (s *Service) readStragglers(ctx context.Context, be *backend, data *roundData, ws []watched) error {
	n := 0
	for i := range ws {
		w := &ws[i]
		jb := data.jobs[w.job]
		if w.BackendNumber == 0 || jb == nil || jb.missing || w.BackendNumber >= jb.lo {
			continue
		}
		if _, ok := data.running[w.job][w.BackendNumber]; ok {
			continue
		}
		if _, ok := jb.single[w.BackendNumber]; ok || n >= maxStragglers {
			continue
		}
		n++
		b, sess, err := be.build(ctx, w.job, w.BackendNumber)
		switch {
		case jenkins.IsNotFound(err):
			jb.single[w.BackendNumber] = nil
		case err != nil:
			return fmt.Errorf("read build %s #%d: %w", w.job, w.BackendNumber, err)
		default:
			jb.single[w.BackendNumber] = &b
		}
		if err := data.sessionCheck(sess); err != nil {
			return err
		}
	}
	return nil
}

// claimedIn returns, per job read, the backend build numbers in the read
// range that attempts already hold.
func (s *Service) claimedIn(ctx context.Context, id int64, data *roundData) (map[string]map[int64]bool, error) {
	out := map[string]map[int64]bool{}
	tx, err := s.st.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for job, jb := range data.jobs {
		if jb.missing || len(jb.byNum) == 0 {
			out[job] = map[int64]bool{}
			continue
		}
		lo, hi := int64(1<<62), int64(0)
		for n := range jb.byNum {
			lo, hi = min(lo, n), max(hi, n)
		}
		m, err := s.st.claimedNumbers(ctx, tx, id, job, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("claimed builds of %s: %w", job, err)
		}
		out[job] = m
	}
	return out, nil
}

// supersedeLive gives up every live attempt on controller id: each build
// goes back to be placed elsewhere (or fails, out of attempts). What the
// attempts still do on the controller is fenced when it answers again.
func (s *Service) supersedeLive(ctx context.Context, id int64, reason string) error {
	ws, err := s.st.watchList(ctx, id)
	if err != nil {
		return err
	}
	n := 0
	err = s.st.write(ctx, func(tx txn) error {
		n = 0
		for i := range ws {
			w := &ws[i]
			if !w.State.live() {
				continue
			}
			if _, err := s.st.lose(ctx, tx, w, reason); err != nil {
				return fmt.Errorf("re-dispatch build %d: %w", w.BuildID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Warn("re-dispatching builds of a failed controller", "controller", id, "builds", n, "reason", reason)
		wake(s.wakePlacer)
	}
	return nil
}

// checkOrphans handles attempts on controllers no longer registered: live
// ones are re-dispatched after RedispatchAfter, superseded ones given up
// as gone after FenceWindow (nobody can reach them to stop them).
func (s *Service) checkOrphans(ctx context.Context) error {
	rows, err := s.st.db.QueryContext(ctx, `SELECT DISTINCT controller_id FROM build_attempts
	WHERE state IN ('triggering', 'queued', 'running', 'superseded')`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := s.now()
	for _, id := range ids {
		if s.pool.Get(id) != nil {
			continue
		}
		st := s.ctl(id)
		st.mu.Lock()
		if st.unhealthySince.IsZero() {
			st.unhealthySince = now
		}
		since := st.unhealthySince
		st.mu.Unlock()
		if now.Sub(since) < s.cfg.RedispatchAfter {
			continue
		}
		if err := s.supersedeLive(ctx, id, fmt.Sprintf("controller %d is no longer registered", id)); err != nil {
			return err
		}
		ws, err := s.st.watchList(ctx, id)
		if err != nil {
			return err
		}
		err = s.st.write(ctx, func(tx txn) error {
			for i := range ws {
				w := &ws[i]
				if w.State == AttemptSuperseded && w.SupersededAt != nil && now.Sub(*w.SupersededAt) >= s.cfg.FenceWindow {
					if err := s.st.fenceAttempt(ctx, tx, w, FenceGone, "", 0, "controller no longer registered"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func sortedNums(m map[int64]apiBuild) []int64 {
	out := make([]int64, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
