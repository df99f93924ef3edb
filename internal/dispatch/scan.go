package dispatch

import (
	"context"
	"fmt"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// This file holds the end of a follow round: the direct-build scan, and
// storing what the round decided.

// scan finds the builds a round read that no attempt holds: builds
// started on the controller directly. A build that could still be one of
// our unresolved attempts is left for a later round, and the mark stops
// below it.
func (rd *resolver) scan(marks map[string]int64) ([]direct, map[string]int64) {
	var out []direct
	newMarks := map[string]int64{}
	for job, jb := range rd.data.jobs {
		mark, ok := marks[job]
		if !ok || jb.missing {
			continue
		}
		if jb.lo > mark+1 {
			// The read did not reach back to the mark: scanning what it read
			// would skip the builds between. The next round tries again.
			rd.f.log.Error("direct builds not scanned: more new builds than one round reads", "controller", rd.be.id, "job", job,
				"from", mark+1, "to", jb.lo-1)
			continue
		}
		cluster := rd.f.clusterOf(rd.be.id)
		newMark, deferred := mark, false
		for _, n := range rd.sorted[job] {
			if n <= mark {
				continue
			}
			b := jb.byNum[n]
			switch {
			case rd.claimed[job][n]:
			case rd.mightBeOurs(job, b):
				deferred = true
				continue
			case cluster == "":
				deferred = true
				continue
			default:
				out = append(out, direct{cluster: cluster, job: job, controller: rd.be.id, session: rd.data.session, b: b})
				rd.claimed[job][n] = true
			}
			if !deferred {
				newMark = n
			}
		}
		if newMark > mark {
			newMarks[job] = newMark
		}
	}
	return out, newMarks
}

// mightBeOurs tells whether build b of job could belong to one of the
// watched attempts that has no build number yet: its queue id is one of
// theirs, or (for those known only by content) its parameters fit. Such a
// build is never taken for a direct one; a later round settles it. (The
// queue snapshot of a round is older than its builds snapshot, so an
// attempt the round saw queued may already own a build the round read.)
func (rd *resolver) mightBeOurs(job string, b jenkins.Build) bool {
	for i := range rd.ws {
		w := &rd.ws[i]
		if w.job != job || w.BackendNumber != 0 || w.State == AttemptFenced {
			continue
		}
		if w.BackendQueueID != 0 && b.QueueID == w.BackendQueueID && (rd.same(w) || b.Number >= w.floor) {
			return true
		}
		if (w.BackendQueueID == 0 || !rd.same(w)) && b.Number >= w.floor && paramsCover(toParams(b.Params), w.params) {
			return true
		}
	}
	return false
}

func (f *follower) clusterOf(id int64) string {
	if r := f.pool.Get(id); r != nil {
		return r.Instance().ClusterID
	}
	return ""
}

// apply stores a round's decisions, direct builds and scan marks in one
// transaction.
func (f *follower) apply(ctx context.Context, id int64, session string, decs []decision, directs []direct, marks map[string]int64) error {
	if len(decs) == 0 && len(directs) == 0 && len(marks) == 0 {
		return nil
	}
	requeued, ended, changed := false, 0, len(directs) > 0
	for _, d := range decs {
		changed = changed || d.kind != decQueued && d.kind != decFence
	}
	if changed {
		// Builds start, end or appear: what the front door rendered of the
		// cluster's jobs and queue is out of date from the commit on (a
		// client that saw a build start never reads an older job after).
		done := f.cat.Changing(f.clusterOf(id))
		defer done()
	}
	err := f.st.writeAs(ctx, f.fence, func(tx txn) error {
		requeued, ended = false, 0
		if err := f.st.asyncCommit(ctx, tx); err != nil {
			return err
		}
		nb := f.st.numberer(tx)
		for _, d := range decs {
			o := d.outcome
			o.session = session
			var err error
			switch d.kind {
			case decQueued:
				err = f.st.toQueued(ctx, tx, d.w, o)
			case decRunning:
				err = f.st.toRunning(ctx, tx, nb, d.w, o)
			case decFinished:
				err = f.st.toFinished(ctx, tx, nb, d.w, o)
				ended += liveOne(d.w)
			case decLose:
				var to State
				to, err = f.st.lose(ctx, tx, d.w, o.note, o.number != 0)
				requeued = requeued || to == StateAccepted
				ended += liveOne(d.w)
				if err == nil && o.number != 0 {
					err = f.st.noteSuperseded(ctx, tx, d.w, outcome{number: o.number, session: session})
				}
			case decCancelledThere:
				err = f.st.cancelledThere(ctx, tx, d.w)
				ended += liveOne(d.w)
			case decFence:
				if err = f.st.noteSuperseded(ctx, tx, d.w, o); err == nil {
					err = f.st.fenceAttempt(ctx, tx, d.w, o)
				}
			}
			if err != nil {
				return fmt.Errorf("build %d attempt %d: %w", d.w.BuildID, d.w.Attempt.Attempt, err)
			}
		}
		for _, d := range directs {
			if _, err := f.st.insertDirect(ctx, tx, nb, d); err != nil {
				return err
			}
		}
		for job, seen := range marks {
			if err := f.st.setMark(ctx, tx, id, job, seen); err != nil {
				return fmt.Errorf("scan mark of %s: %w", job, err)
			}
		}
		_, err := nb.flush(ctx) // last: it holds the counters until the commit
		return err
	})
	if err != nil {
		return fmt.Errorf("store follow round of controller %d: %w", id, err)
	}
	if len(directs) > 0 {
		f.log.Info("recorded builds started on the controller directly", "controller", id, "builds", len(directs))
	}
	// Builds seen raise the floor of later triggers there.
	for _, d := range decs {
		if d.number != 0 {
			f.cat.SawNext(id, d.w.job, d.number+1)
		}
	}
	for _, d := range directs {
		f.cat.SawNext(id, d.job, d.b.Number+1)
	}
	st := f.state(id)
	f.mu.Lock()
	for job, seen := range marks {
		if st.marks != nil && st.marks[job] < seen {
			st.marks[job] = seen
		}
	}
	f.mu.Unlock()
	if r := f.pool.Get(id); r != nil && ended > 0 {
		// The room they leave is free now, not at the next round's count.
		r.AddLive(-ended)
	}
	if requeued || ended > 0 {
		wake(f.wakePlacer) // builds to place again, or room for more
	}
	return nil
}

// marksOf returns the direct-build scan marks of controller id (a copy);
// initMarks loads them.
func (f *follower) marksOf(id int64) map[string]int64 {
	st := f.state(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(st.marks))
	for k, v := range st.marks {
		out[k] = v
	}
	return out
}

// initMarks loads controller id's scan marks on the term's first round
// and gives every job of inv that has none one just below its next build
// number: builds from before jenkinds first saw a job are not imported.
func (f *follower) initMarks(ctx context.Context, id int64, jobs map[string]catalog.Job) error {
	st := f.state(id)
	f.mu.Lock()
	loaded := st.marks
	f.mu.Unlock()
	if loaded == nil {
		m, err := f.st.scanMarks(ctx, id)
		if err != nil {
			return fmt.Errorf("read scan marks of controller %d: %w", id, err)
		}
		f.mu.Lock()
		st.marks, loaded = m, m
		f.mu.Unlock()
	}
	fresh := map[string]int64{}
	f.mu.Lock()
	for job, m := range jobs {
		if _, ok := loaded[job]; !ok {
			fresh[job] = max(m.Next-1, 0)
		}
	}
	f.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	err := f.st.writeAs(ctx, f.fence, func(tx txn) error {
		for job, seen := range fresh {
			if _, err := f.st.execTx(ctx, tx, `INSERT INTO build_scan_marks (controller_id, job, seen) VALUES (?, ?, ?)
			ON CONFLICT (controller_id, job) DO NOTHING`, id, job, seen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start scan marks of controller %d: %w", id, err)
	}
	m, err := f.st.scanMarks(ctx, id)
	if err != nil {
		return err
	}
	f.mu.Lock()
	st.marks = m
	f.mu.Unlock()
	return nil
}

// liveOne is 1 when w's attempt counted as live on its controller.
func liveOne(w *watched) int {
	if w.State.live() {
		return 1
	}
	return 0
}
