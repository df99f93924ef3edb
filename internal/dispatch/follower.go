package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// follower follows the attempts on every controller to their end (see
// doc.go, "Following" and "Re-dispatch"): one per leader term.
type follower struct {
	*core
	fence Fence
	slots chan struct{} // rounds running at once

	mu      sync.Mutex
	ctls    map[int64]*followState
	backlog map[string]bool // clusters whose builds wait for room
}

// followState is the follower's schedule of one controller, and the
// direct-build scan marks it read (a cache of build_scan_marks).
type followState struct {
	running       bool
	next          time.Time // next round
	ended         time.Time // when the last round ended, if it succeeded; zero otherwise
	failures      int       // rounds failed in a row
	nextSupersede time.Time // next re-dispatch of its live attempts while it stays lost
	marks         map[string]int64
}

func newFollower(c *core, fence Fence) *follower {
	return &follower{core: c, fence: fence, slots: make(chan struct{}, c.cfg.Rounds), ctls: map[int64]*followState{}}
}

func (f *follower) state(id int64) *followState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.ctls[id]
	if !ok {
		st = &followState{}
		f.ctls[id] = st
	}
	return st
}

// run runs follow rounds of every controller as they fall due, at most
// Rounds at once, until ctx ends; then it waits for the rounds in flight.
func (f *follower) run(ctx context.Context) {
	tick := time.NewTicker(max(5*time.Millisecond, min(f.cfg.BusyFollowInterval/2, f.cfg.FollowInterval/4, 250*time.Millisecond)))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastOrphans, lastBacklog time.Time
	for {
		if now := f.now(); now.Sub(lastBacklog) >= f.cfg.BusyFollowInterval {
			lastBacklog = now
			f.readBacklog(ctx)
		}
		f.followDue(ctx, &wg)
		if now := f.now(); now.Sub(lastOrphans) >= f.cfg.FollowInterval {
			lastOrphans = now
			if err := f.checkOrphans(ctx); err != nil && ctx.Err() == nil {
				f.log.Error("check builds of unregistered controllers", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-f.wakeFollower:
		}
	}
}

// errSessionMoved: the controller restarted during the round; the round
// is repeated at once.
var errSessionMoved = errors.New("controller restarted during the follow round")

func (f *follower) followDue(ctx context.Context, wg *sync.WaitGroup) {
	now := f.now()
	for _, r := range f.pool.All() {
		st := f.state(r.ID())
		if f.unreadable(ctx, r, st, now) {
			continue
		}
		f.mu.Lock()
		busy := f.backlog[r.Instance().ClusterID] && full(r, now) && !st.ended.IsZero()
		if st.running || now.Before(st.next) && !(busy && !now.Before(st.ended.Add(f.cfg.BusyFollowInterval))) {
			f.mu.Unlock()
			continue
		}
		st.running = true
		f.mu.Unlock()
		wg.Go(func() {
			select {
			case f.slots <- struct{}{}:
			case <-ctx.Done():
				f.mu.Lock()
				st.running = false
				f.mu.Unlock()
				return
			}
			err := f.round(ctx, r)
			<-f.slots
			f.mu.Lock()
			defer f.mu.Unlock()
			st.running, st.ended = false, time.Time{}
			delay := f.cfg.FollowInterval
			switch {
			case errors.Is(err, errSessionMoved):
				delay = 0
			case err != nil:
				st.failures++
				delay = min(f.cfg.FollowInterval<<min(st.failures, 6), max(30*time.Second, f.cfg.FollowInterval))
				if st.failures == 1 && ctx.Err() == nil {
					f.log.Warn("follow controller", "controller", r.Name(), "err", err)
				}
			default:
				st.failures = 0
				st.ended = f.now()
			}
			st.next = f.now().Add(delay)
		})
	}
}

// full reports whether controller r is at its build capacity with
// jenkinds' builds: only the end of one of them makes room there.
func full(r *controller.Runtime, now time.Time) bool {
	c := r.BuildCandidate(now)
	return r.Live() > 0 && c.Load >= c.MaxConnections
}

// readBacklog notes which clusters have builds waiting to be placed while
// some of their controllers are full: those are followed every
// BusyFollowInterval, so that the room a build leaves is seen sooner. One
// indexed query per such cluster; none for a cluster with room (its
// waiting builds are the placer's to place, not the follower's to
// hasten).
func (f *follower) readBacklog(ctx context.Context) {
	backlog := map[string]bool{}
	now := f.now()
	for _, cluster := range f.pool.Clusters() {
		if !slices.ContainsFunc(f.pool.Cluster(cluster), func(r *controller.Runtime) bool { return full(r, now) }) {
			continue
		}
		waiting, err := f.st.anyWaiting(ctx, cluster)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Debug("read the backlog", "cluster", cluster, "err", err)
			}
			continue
		}
		backlog[cluster] = waiting
	}
	f.mu.Lock()
	f.backlog = backlog
	f.mu.Unlock()
}

// unreadable tells whether controller r is unhealthy, so that it gets no
// follow round. While it is, the health authority's Verdict says whether
// its attempts may be placed again: on evidence that it is gone (a
// refused or reset connection), or after RedispatchAfter of silence; not
// for being slow, and not — for builds that already started — while
// re-dispatch is frozen (a mass failure of its cluster). Its live attempts
// are then superseded, and again every RedispatchAfter while the verdict
// holds (for triggers that were on their way). This runs outside the
// rounds, so a round stuck on a hung controller does not hold it up.
func (f *follower) unreadable(ctx context.Context, r *controller.Runtime, st *followState, now time.Time) bool {
	if r.Health() != balance.Unhealthy {
		f.mu.Lock()
		st.nextSupersede = time.Time{}
		f.mu.Unlock()
		return false
	}
	f.mu.Lock()
	due := !now.Before(st.nextSupersede)
	f.mu.Unlock()
	if !due || f.health == nil {
		return true
	}
	v := f.health.Verdict(r, f.cfg.RedispatchAfter, now)
	if v.Frozen != "" {
		f.withheld.Add(1) // a freeze holds back what silence alone would move
		f.lastWithheld.Store(now.UnixNano())
	}
	if !v.Lost {
		return true
	}
	onlyQueued := v.Frozen != "" && !v.Hard
	reason := fmt.Sprintf("controller %s lost: %s", r.Name(), v.Evidence)
	f.mu.Lock()
	st.nextSupersede = now.Add(max(f.cfg.RedispatchAfter, f.cfg.FollowInterval))
	f.mu.Unlock()
	n, kept, err := f.supersedeLive(ctx, r.ID(), reason, onlyQueued)
	if err != nil && ctx.Err() == nil {
		f.log.Error("re-dispatch builds of a lost controller", "controller", r.Name(), "err", err)
		f.mu.Lock()
		st.nextSupersede = time.Time{}
		f.mu.Unlock()
	}
	if kept > 0 {
		f.log.Warn("running builds of a silent controller kept where they are: re-dispatch is frozen", "controller", r.Name(),
			"builds", kept, "frozen", v.Frozen, "moved", n)
	}
	return true
}

// supersedeLive gives up the live attempts on controller id (with
// onlyQueued, those whose build has not started): each build goes back
// to be placed elsewhere (or fails: out of attempts, or started under
// PolicyQueuedOnly). What the attempts still do on the controller is
// fenced when it answers again. It returns how many it gave up and how
// many it kept.
func (f *follower) supersedeLive(ctx context.Context, id int64, reason string, onlyQueued bool) (n, kept int, err error) {
	ws, err := f.st.watchList(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	err = f.st.writeAs(ctx, f.fence, func(tx txn) error {
		n, kept = 0, 0
		for i := range ws {
			w := &ws[i]
			switch {
			case !w.State.live():
				continue
			case onlyQueued && (w.BackendNumber != 0 || w.State == AttemptRunning):
				kept++
				continue
			}
			if _, err := f.st.lose(ctx, tx, w, reason, false); err != nil {
				return fmt.Errorf("re-dispatch build %d: %w", w.BuildID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if n > 0 {
		f.log.Warn("re-dispatching builds of a lost controller", "controller", id, "builds", n, "reason", reason)
		wake(f.wakePlacer)
	}
	return n, kept, nil
}

// checkOrphans handles attempts on controllers no longer registered: live
// ones are re-dispatched after RedispatchAfter, superseded ones given up
// as gone after FenceWindow (nobody can reach them to stop them).
func (f *follower) checkOrphans(ctx context.Context) error {
	ids, err := f.st.watchedControllers(ctx)
	if err != nil {
		return err
	}
	now := f.now()
	for _, id := range ids {
		if f.pool.Get(id) != nil {
			continue
		}
		st := f.state(id)
		f.mu.Lock()
		if st.nextSupersede.IsZero() {
			st.nextSupersede = now.Add(f.cfg.RedispatchAfter) // first seen unregistered now
		}
		due := !now.Before(st.nextSupersede)
		f.mu.Unlock()
		if !due {
			continue
		}
		if _, _, err := f.supersedeLive(ctx, id, fmt.Sprintf("controller %d is no longer registered", id), false); err != nil {
			return err
		}
		ws, err := f.st.watchList(ctx, id)
		if err != nil {
			return err
		}
		err = f.st.writeAs(ctx, f.fence, func(tx txn) error {
			for i := range ws {
				w := &ws[i]
				if w.State == AttemptSuperseded && w.SupersededAt != nil && now.Sub(*w.SupersededAt) >= f.cfg.FenceWindow {
					if err := f.st.fenceAttempt(ctx, tx, w, outcome{fence: FenceGone, note: "controller no longer registered"}); err != nil {
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

// skip tells whether a round leaves w alone: its trigger is in flight.
func (f *follower) skip(w *watched) bool {
	return w.State == AttemptTriggering && f.gate.InFlight(attemptKey{w.BuildID, w.Attempt.Attempt})
}

// countLive records on the controller's runtime how many attempts are
// live there.
func (f *follower) countLive(id int64, ws []watched) {
	n := 0
	for i := range ws {
		if ws[i].State.live() {
			n++
		}
	}
	if r := f.pool.Get(id); r != nil {
		r.SetLive(n)
	}
}
