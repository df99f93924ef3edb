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
	build   jenkins.Build
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
	w    *watched
	kind decKind
	outcome
}

// resolver holds what a round needs while it decides.
type resolver struct {
	f       *follower
	be      *backend
	data    *roundData
	claimed map[string]map[int64]bool // job → backend numbers held by attempts, plus those matched this round
	now     time.Time
	ws      []watched
	// readable are the attempts whose queue id was known before the round
	// read the controller.
	readable map[attemptKey]bool

	items      []jenkins.QueueItem          // the queue, by ascending id
	takenItems map[int64]bool               // queue items matched this round
	held       map[int64]bool               // queue ids of attempts in the current session
	byQueue    map[string]map[int64][]int64 // job → queue id → build numbers
	sorted     map[string][]int64           // job → build numbers read, ascending
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
		if rd.f.skip(w) {
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
		if it.Job != w.job || !paramsCover(toParams(it.Params), w.params) {
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
		if paramsCover(toParams(b.Params), w.params) {
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
	it, r, err := rd.be.QueueItem(ctx, w.BackendQueueID)
	sess := jenkins.SessionOf(r)
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
	case it.Executable == 0:
		return location{kind: locPending}
	}
	n := it.Executable
	if rd.claimed[w.job][n] {
		return location{} // held by another attempt: not for this round to untangle
	}
	if b, ok := jb.byNum[n]; ok {
		return location{kind: locStarted, build: b}
	}
	b, _, err := rd.be.Build(ctx, w.job, n)
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
			return &decision{kind: decQueued, outcome: outcome{queueID: loc.queueID}}
		}
	case locStarted:
		b := loc.build
		started := time.UnixMilli(b.Timestamp).UTC()
		if b.Timestamp == 0 {
			started = rd.now
		}
		if b.Building {
			if w.stopRequested {
				if err := rd.be.Stop(ctx, w.job, b.Number); err != nil {
					rd.f.log.Warn("send stop again", "build", w.BuildID, "controller", w.ControllerID, "err", err)
				}
			}
			if w.State != AttemptRunning || !same || w.BackendNumber != b.Number {
				return &decision{kind: decRunning, outcome: outcome{queueID: b.QueueID, number: b.Number, started: started}}
			}
			return nil
		}
		if !same && b.Result == "FAILURE" {
			// After a restart Jenkins reloads a build that was running as
			// FAILURE without the console's last line: that one is lost.
			footer, err := rd.be.HasFinishedFooter(ctx, w.job, b.Number)
			if err != nil {
				return nil
			}
			if !footer {
				return &decision{kind: decLose, outcome: outcome{number: b.Number,
					note: fmt.Sprintf("build #%d was running when controller %d restarted (it came back FAILURE without a Finished line)", b.Number, w.ControllerID)}}
			}
		}
		return &decision{kind: decFinished, outcome: outcome{queueID: b.QueueID, number: b.Number, result: b.Result, started: started, finished: rd.now}}
	case locCancelled:
		return &decision{kind: decCancelledThere}
	case locMissing:
		switch {
		case w.State == AttemptTriggering:
			if rd.now.Sub(w.TriggeredAt) >= rd.f.cfg.AmbiguousGrace {
				return &decision{kind: decLose, outcome: outcome{note: "the trigger's answer was lost and no queue item or build of it turned up"}}
			}
		case w.BackendNumber != 0:
			return &decision{kind: decLose, outcome: outcome{note: fmt.Sprintf("build #%d is gone from controller %d", w.BackendNumber, w.ControllerID)}}
		case !same:
			return &decision{kind: decLose, outcome: outcome{note: fmt.Sprintf("queue item %d did not survive the restart of controller %d", w.BackendQueueID, w.ControllerID)}}
		default:
			return &decision{kind: decLose, outcome: outcome{note: fmt.Sprintf("queue item %d vanished from controller %d without a build", w.BackendQueueID, w.ControllerID)}}
		}
	}
	return nil
}

// fence decides for an attempt that no longer counts: cancel its queue
// item, stop its build, or note that it ended or is gone.
func (rd *resolver) fence(ctx context.Context, w *watched, loc location) *decision {
	switch loc.kind {
	case locQueued:
		gone, err := rd.be.CancelItem(ctx, loc.queueID)
		if err != nil || gone {
			return nil // it may have started: the next round sees its build
		}
		rd.f.log.Info("fenced: cancelled the queue item of a superseded attempt", "build", w.BuildID, "attempt", w.Attempt.Attempt,
			"controller", w.ControllerID, "queueItem", loc.queueID)
		return &decision{kind: decFence, outcome: outcome{fence: FenceCancelled, queueID: loc.queueID}}
	case locStarted:
		b := loc.build
		if b.Building {
			if err := rd.be.Stop(ctx, w.job, b.Number); err != nil {
				return nil
			}
			rd.f.log.Warn("fenced: stopped the build of a superseded attempt", "build", w.BuildID, "attempt", w.Attempt.Attempt,
				"controller", w.ControllerID, "backendBuild", b.Number)
			return &decision{kind: decFence, outcome: outcome{fence: FenceStopped, number: b.Number, result: "ABORTED"}}
		}
		return &decision{kind: decFence, outcome: outcome{fence: FenceEnded, number: b.Number, result: b.Result}}
	case locCancelled:
		return &decision{kind: decFence, outcome: outcome{fence: FenceCancelled}}
	case locMissing:
		if w.BackendQueueID != 0 || w.BackendNumber != 0 || w.SupersededAt != nil && rd.now.Sub(*w.SupersededAt) >= rd.f.cfg.FenceWindow {
			return &decision{kind: decFence, outcome: outcome{fence: FenceGone}}
		}
	}
	return nil
}
