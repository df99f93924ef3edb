package dispatch

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// This file decides, from what a round read, where each watched attempt
// is and what to do about it (see doc.go, "Following" and "Fencing").

type locKind int

const (
	locUnknown   locKind = iota // the round cannot tell (not read, window exceeded, error)
	locQueued                   // waiting in the controller's queue
	locStarted                  // became a build (building or ended)
	locCancelled                // its queue item was cancelled on the controller
	locPending                  // left the queue, build not there yet
	locMissing                  // the controller has no trace of it
)

type location struct {
	kind    locKind
	queueID int64
	build   apiBuild
}

type decKind int

const (
	decQueued decKind = iota
	decRunning
	decFinished
	decLose
	decCancelledThere
	decFence
)

// decision is one state change a round stores.
type decision struct {
	w                 *watched
	kind              decKind
	queueID, number   int64
	result, reason    string
	fence             string
	started, finished time.Time
}

// resolver holds what a round needs while it decides.
type resolver struct {
	s       *Service
	be      *backend
	data    *roundData
	claimed map[string]map[int64]bool // job → backend numbers held by attempts, plus those matched this round
	now     time.Time
	ws      []watched
	// readable are the attempts whose queue id was known before the round
	// read the controller.
	readable map[attemptKey]bool

	items      []apiQueueItem               // the queue, by ascending id
	takenItems map[int64]bool               // queue items matched this round
	held       map[int64]bool               // queue ids of attempts in the current session
	byQueue    map[string]map[int64][]int64 // job → queue id → build numbers
	sorted     map[string][]int64           // job → build numbers read, ascending
	unresolved []*watched                   // attempts that may own a build the round read
}

func (rd *resolver) init() {
	rd.takenItems, rd.held = map[int64]bool{}, map[int64]bool{}
	rd.byQueue, rd.sorted = map[string]map[int64][]int64{}, map[string][]int64{}
	for _, it := range rd.data.queue {
		rd.items = append(rd.items, it)
	}
	sort.Slice(rd.items, func(i, j int) bool { return rd.items[i].ID < rd.items[j].ID })
	for i := range rd.ws {
		w := &rd.ws[i]
		if w.BackendQueueID != 0 && w.BackendSession == rd.data.session {
			rd.held[w.BackendQueueID] = true
		}
	}
	for job, jb := range rd.data.jobs {
		nums := sortedNums(jb.byNum)
		rd.sorted[job] = nums
		idx := map[int64][]int64{}
		for _, n := range nums {
			if q := jb.byNum[n].QueueID; q != 0 {
				idx[q] = append(idx[q], n)
			}
		}
		rd.byQueue[job] = idx
		if rd.claimed[job] == nil {
			rd.claimed[job] = map[int64]bool{}
		}
	}
}

// decide returns the decisions for every watched attempt, calling the
// controller where one needs it (left items, console footers, stop,
// cancel).
func (rd *resolver) decide(ctx context.Context) []decision {
	rd.init()
	var out []decision
	for i := range rd.ws {
		w := &rd.ws[i]
		if rd.s.skip(w) {
			continue
		}
		loc := rd.locate(ctx, w)
		if loc.kind == locStarted {
			if rd.claimed[w.job] == nil {
				rd.claimed[w.job] = map[int64]bool{}
			}
			rd.claimed[w.job][loc.build.Number] = true
		}
		var d *decision
		if w.State == AttemptSuperseded || !w.current {
			d = rd.fence(ctx, w, loc)
		} else {
			d = rd.follow(ctx, w, loc)
		}
		if d != nil {
			d.w = w
			out = append(out, *d)
		}
	}
	return out
}

func (rd *resolver) same(w *watched) bool {
	return rd.data.session != "" && w.BackendSession == rd.data.session
}

// locate finds where w is on the controller: by build number; by queue id
// within the session it was given in; else by content (job, parameters,
// a build number at or above the job's next number before the trigger),
// among queue items and builds no other attempt holds.
func (rd *resolver) locate(ctx context.Context, w *watched) location {
	data := rd.data
	jb := data.jobs[w.job]
	if w.BackendNumber != 0 {
		if b, ok := data.running[w.job][w.BackendNumber]; ok {
			return location{kind: locStarted, build: b}
		}
		if jb == nil {
			return location{}
		}
		if jb.missing {
			return location{kind: locMissing}
		}
		b, found, sure := jb.find(w.BackendNumber)
		switch {
		case found:
			return location{kind: locStarted, build: b}
		case sure:
			return location{kind: locMissing}
		}
		return location{}
	}
	if w.BackendQueueID != 0 && rd.same(w) {
		if data.queue == nil || jb == nil || !rd.readable[attemptKey{w.BuildID, w.Attempt.Attempt}] {
			return location{}
		}
		if inQueue(data, w.BackendQueueID) {
			return location{kind: locQueued, queueID: w.BackendQueueID}
		}
		if jb.missing {
			return location{kind: locMissing}
		}
		// Newest first: a restarted Jenkins reuses queue ids, so an older
		// build may carry the same one.
		ns := rd.byQueue[w.job][w.BackendQueueID]
		for i := len(ns) - 1; i >= 0; i-- {
			if n := ns[i]; n >= w.floor && !rd.claimed[w.job][n] {
				return location{kind: locStarted, build: jb.byNum[n]}
			}
		}
		return rd.leftItem(ctx, w, jb)
	}
	if data.queue == nil || !data.queueFull || jb == nil {
		return location{}
	}
	if jb.missing {
		return location{kind: locMissing}
	}
	for _, it := range rd.items {
		if rd.takenItems[it.ID] {
			continue
		}
		if w.BackendQueueID != 0 && it.ID != w.BackendQueueID || w.BackendQueueID == 0 && rd.held[it.ID] {
			continue
		}
		if it.job() != w.job || !paramsCover(actionParams(it.Actions), w.params) {
			continue
		}
		rd.takenItems[it.ID] = true
		return location{kind: locQueued, queueID: it.ID}
	}
	for _, n := range rd.sorted[w.job] {
		b := jb.byNum[n]
		if n < w.floor || rd.claimed[w.job][n] {
			continue
		}
		if w.BackendQueueID != 0 && b.QueueID != w.BackendQueueID || w.BackendQueueID == 0 && rd.held[b.QueueID] {
			continue
		}
		if paramsCover(b.params(), w.params) {
			return location{kind: locStarted, build: b}
		}
	}
	if jb.lo > max(w.floor, 1) {
		return location{} // the window did not reach back to the trigger
	}
	return location{kind: locMissing}
}

// leftItem asks for a queue item that left the queue (Jenkins answers for
// five minutes after): it became a build, was cancelled, or is on its way.
func (rd *resolver) leftItem(ctx context.Context, w *watched, jb *jobBuilds) location {
	it, sess, err := rd.be.queueItem(ctx, w.BackendQueueID)
	if sess != "" && sess != rd.data.session {
		return location{} // restarted meanwhile: next round
	}
	switch {
	case jenkins.IsNotFound(err):
		return location{kind: locMissing}
	case err != nil:
		return location{}
	case it.Cancelled:
		return location{kind: locCancelled, queueID: it.ID}
	case it.Executable == nil || it.Executable.Number == 0:
		return location{kind: locPending}
	}
	n := it.Executable.Number
	if rd.claimed[w.job][n] {
		return location{} // held by another attempt: not for this round to untangle
	}
	if b, ok := jb.byNum[n]; ok {
		return location{kind: locStarted, build: b}
	}
	b, _, err := rd.be.build(ctx, w.job, n)
	if err != nil {
		return location{}
	}
	return location{kind: locStarted, build: b}
}

// follow decides for the current attempt of a build.
func (rd *resolver) follow(ctx context.Context, w *watched, loc location) *decision {
	same := rd.same(w)
	switch loc.kind {
	case locQueued:
		if w.State == AttemptTriggering || !same || w.BackendQueueID != loc.queueID {
			return &decision{kind: decQueued, queueID: loc.queueID}
		}
	case locStarted:
		b := loc.build
		started := time.UnixMilli(b.Timestamp).UTC()
		if b.Timestamp == 0 {
			started = rd.now
		}
		if b.Building {
			if w.stopRequested {
				if err := rd.be.stop(ctx, w.job, b.Number); err != nil {
					rd.s.log.Warn("send stop again", "build", w.BuildID, "controller", w.ControllerID, "err", err)
				}
			}
			if w.State != AttemptRunning || !same || w.BackendNumber != b.Number {
				return &decision{kind: decRunning, queueID: b.QueueID, number: b.Number, started: started}
			}
			return nil
		}
		if !same && b.result() == "FAILURE" {
			// After a restart Jenkins reloads a build that was running as
			// FAILURE without the console's last line: that one is lost.
			footer, err := rd.be.hasFooter(ctx, w.job, b.Number)
			if err != nil {
				return nil
			}
			if !footer {
				return &decision{kind: decLose, number: b.Number,
					reason: fmt.Sprintf("build #%d was running when controller %d restarted (it came back FAILURE without a Finished line)", b.Number, w.ControllerID)}
			}
		}
		return &decision{kind: decFinished, queueID: b.QueueID, number: b.Number, result: b.result(), started: started, finished: rd.now}
	case locCancelled:
		return &decision{kind: decCancelledThere}
	case locMissing:
		switch {
		case w.State == AttemptTriggering:
			if rd.now.Sub(w.TriggeredAt) >= rd.s.cfg.AmbiguousGrace {
				return &decision{kind: decLose, reason: "the trigger's answer was lost and no queue item or build of it turned up"}
			}
		case w.BackendNumber != 0:
			return &decision{kind: decLose, reason: fmt.Sprintf("build #%d is gone from controller %d", w.BackendNumber, w.ControllerID)}
		case !same:
			return &decision{kind: decLose, reason: fmt.Sprintf("queue item %d did not survive the restart of controller %d", w.BackendQueueID, w.ControllerID)}
		default:
			return &decision{kind: decLose, reason: fmt.Sprintf("queue item %d vanished from controller %d without a build", w.BackendQueueID, w.ControllerID)}
		}
	}
	return nil
}

// fence decides for an attempt that no longer counts: cancel its queue
// item, stop its build, or note that it ended or is gone.
func (rd *resolver) fence(ctx context.Context, w *watched, loc location) *decision {
	switch loc.kind {
	case locQueued:
		gone, err := rd.be.cancelItem(ctx, loc.queueID)
		if err != nil || gone {
			return nil // it may have started: the next round sees its build
		}
		rd.s.log.Info("fenced: cancelled the queue item of a superseded attempt", "build", w.BuildID, "attempt", w.Attempt.Attempt,
			"controller", w.ControllerID, "queueItem", loc.queueID)
		return &decision{kind: decFence, fence: FenceCancelled, queueID: loc.queueID}
	case locStarted:
		b := loc.build
		if b.Building {
			if err := rd.be.stop(ctx, w.job, b.Number); err != nil {
				return nil
			}
			rd.s.log.Warn("fenced: stopped the build of a superseded attempt", "build", w.BuildID, "attempt", w.Attempt.Attempt,
				"controller", w.ControllerID, "backendBuild", b.Number)
			return &decision{kind: decFence, fence: FenceStopped, number: b.Number, result: "ABORTED"}
		}
		return &decision{kind: decFence, fence: FenceEnded, number: b.Number, result: b.result()}
	case locCancelled:
		return &decision{kind: decFence, fence: FenceCancelled}
	case locMissing:
		if w.BackendQueueID != 0 || w.BackendNumber != 0 || w.SupersededAt != nil && rd.now.Sub(*w.SupersededAt) >= rd.s.cfg.FenceWindow {
			return &decision{kind: decFence, fence: FenceGone}
		}
	}
	return nil
}

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
			rd.s.log.Warn("direct builds skipped: more new builds than the follow window", "controller", rd.be.id, "job", job,
				"from", mark+1, "to", jb.lo-1)
		}
		cluster := rd.s.clusterOf(rd.be.id)
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
func (rd *resolver) mightBeOurs(job string, b apiBuild) bool {
	for i := range rd.ws {
		w := &rd.ws[i]
		if w.job != job || w.BackendNumber != 0 || w.State == AttemptFenced {
			continue
		}
		if w.BackendQueueID != 0 && b.QueueID == w.BackendQueueID && (rd.same(w) || b.Number >= w.floor) {
			return true
		}
		if (w.BackendQueueID == 0 || !rd.same(w)) && b.Number >= w.floor && paramsCover(b.params(), w.params) {
			return true
		}
	}
	return false
}

func (s *Service) clusterOf(id int64) string {
	if r := s.pool.Get(id); r != nil {
		return r.Instance().ClusterID
	}
	return ""
}

// apply stores a round's decisions, direct builds and scan marks in one
// transaction.
func (s *Service) apply(ctx context.Context, id int64, session string, decs []decision, directs []direct, marks map[string]int64) error {
	if len(decs) == 0 && len(directs) == 0 && len(marks) == 0 {
		return nil
	}
	requeued := false
	err := s.st.write(ctx, func(tx txn) error {
		requeued = false
		if err := s.st.asyncCommit(ctx, tx); err != nil {
			return err
		}
		nb := s.st.numberer(tx)
		for _, d := range decs {
			var err error
			switch d.kind {
			case decQueued:
				err = s.st.toQueued(ctx, tx, d.w, d.queueID, session)
			case decRunning:
				err = s.st.toRunning(ctx, tx, nb, d.w, d.queueID, d.number, session, d.started)
			case decFinished:
				err = s.st.toFinished(ctx, tx, nb, d.w, d.queueID, d.number, session, d.result, d.started, d.finished)
			case decLose:
				var to State
				to, err = s.st.lose(ctx, tx, d.w, d.reason)
				requeued = requeued || to == StateAccepted
				if err == nil && d.number != 0 {
					err = s.st.noteSuperseded(ctx, tx, d.w, 0, d.number, session)
				}
			case decCancelledThere:
				err = s.st.cancelledThere(ctx, tx, d.w)
			case decFence:
				if err = s.st.noteSuperseded(ctx, tx, d.w, d.queueID, d.number, session); err == nil {
					err = s.st.fenceAttempt(ctx, tx, d.w, d.fence, d.result, d.number, "")
				}
			}
			if err != nil {
				return fmt.Errorf("build %d attempt %d: %w", d.w.BuildID, d.w.Attempt.Attempt, err)
			}
		}
		for _, d := range directs {
			if _, err := s.st.insertDirect(ctx, tx, nb, d); err != nil {
				return err
			}
		}
		for job, seen := range marks {
			if err := s.st.setMark(ctx, tx, id, job, seen); err != nil {
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
		s.log.Info("recorded builds started on the controller directly", "controller", id, "builds", len(directs))
	}
	// Builds seen raise the floor of later triggers there.
	for _, d := range decs {
		if d.number != 0 {
			s.inv.bumpNext(id, d.w.job, d.number+1)
		}
	}
	for _, d := range directs {
		s.inv.bumpNext(id, d.job, d.b.Number+1)
	}
	st := s.ctl(id)
	st.mu.Lock()
	for job, seen := range marks {
		if st.marks != nil && st.marks[job] < seen {
			st.marks[job] = seen
		}
	}
	st.mu.Unlock()
	if requeued {
		wake(s.wakePlacer)
	}
	return nil
}

// marks returns the direct-build scan marks of controller id (a copy),
// loading them on first use.
func (s *Service) marks(ctx context.Context, id int64) (map[string]int64, error) {
	st := s.ctl(id)
	st.mu.Lock()
	loaded := st.marks != nil
	st.mu.Unlock()
	if !loaded {
		m, err := s.st.scanMarks(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read scan marks of controller %d: %w", id, err)
		}
		st.mu.Lock()
		if st.marks == nil {
			st.marks = m
		}
		st.mu.Unlock()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]int64, len(st.marks))
	for k, v := range st.marks {
		out[k] = v
	}
	return out, nil
}

// initMarks gives every job of inv that has no scan mark one just below
// its next build number: builds from before jenkinds first saw a job are
// not imported.
func (s *Service) initMarks(ctx context.Context, id int64, inv *inventory) error {
	marks, err := s.marks(ctx, id)
	if err != nil {
		return err
	}
	fresh := map[string]int64{}
	for job, m := range inv.jobs {
		if _, ok := marks[job]; !ok {
			fresh[job] = max(m.next-1, 0)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	err = s.st.write(ctx, func(tx txn) error {
		for job, seen := range fresh {
			if _, err := s.st.execTx(ctx, tx, `INSERT INTO build_scan_marks (controller_id, job, seen) VALUES (?, ?, ?)
			ON CONFLICT (controller_id, job) DO NOTHING`, id, job, seen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start scan marks of controller %d: %w", id, err)
	}
	m, err := s.st.scanMarks(ctx, id)
	if err != nil {
		return err
	}
	st := s.ctl(id)
	st.mu.Lock()
	st.marks = m
	st.mu.Unlock()
	return nil
}
