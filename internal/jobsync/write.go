package jobsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// target is one controller of a write and what it answered.
type target struct {
	rt       *controller.Runtime
	id       int64
	name     string
	asked    bool
	answered bool // judge got its answer (the caller's credentials)
	a        answer
}

// outcome is what one front-door write came to.
type outcome struct {
	op       Op
	targets  []*target // every active controller of the cluster, by id
	accepted bool      // some controller applied it: every other one gets it as a pending write
	// pass is, when the write was not accepted, the controller answer to
	// give the client; nil when no controller judged the write (503).
	pass *answer
	// recordErr is set when an accepted write's pending writes could not
	// be stored: the client must be told it failed.
	recordErr error
}

// applied counts the controllers that hold the write.
func (o *outcome) applied() int {
	n := 0
	for _, t := range o.targets {
		if t.a.kind == applied {
			n++
		}
	}
	return n
}

// behind lists the controllers that do not hold the write.
func (o *outcome) behind() []*target {
	var out []*target
	for _, t := range o.targets {
		if t.a.kind != applied {
			out = append(out, t)
		}
	}
	return out
}

// syncHeader is the X-Jenkinds-Sync value: "2/3 controllers; retrying on
// jenkins-2".
func (o *outcome) syncHeader() string {
	h := fmt.Sprintf("%d/%d controllers", o.applied(), len(o.targets))
	if o.accepted && o.recordErr == nil {
		if behind := o.behind(); len(behind) > 0 {
			names := make([]string, len(behind))
			for i, t := range behind {
				names[i] = t.name
			}
			h += "; retrying on " + strings.Join(names, ", ")
		}
	}
	return jenkins.HeaderSafe(h)
}

// targets returns the active controllers of cluster, by id.
func (s *Service) targets(cluster string) []*target {
	var out []*target
	for _, rt := range s.pool.Cluster(cluster) {
		inst := rt.Instance()
		if !inst.IsActive {
			continue
		}
		out = append(out, &target{rt: rt, id: inst.ID, name: inst.Name})
	}
	return out
}

// each runs fn for every target in parallel and waits.
func each(ts []*target, fn func(t *target)) {
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { fn(t) })
	}
	wg.Wait()
}

var (
	errUnhealthy    = errors.New("controller is unhealthy: not asked")
	errNoController = errors.New("no active controller that is not unhealthy")
)

// send sends one phase of a write to t, unless t is known to be down.
func (s *Service) send(ctx context.Context, t *target, fn func(b *backend) answer) {
	if t.rt.Health() == balance.Unhealthy {
		t.a = answer{kind: unavailable, err: errUnhealthy}
		return
	}
	b, err := s.backend(t.rt)
	if err != nil {
		t.a = answer{kind: unavailable, err: err}
		return
	}
	t.asked = true
	t.a = fn(b)
}

// write applies op on job (its full name) to every active controller of
// cluster in parallel, records the pending writes of the controllers that
// did not apply it when some did, and says what came of it. The client
// going away does not stop it: what a controller accepted is recorded.
//
// caller is the client's Authorization header ("" for jenkinds' own writes,
// such as retries): the write is first sent with it, to one controller
// after the other until one applies it, so that Jenkins itself decides
// whether the caller may create, configure or delete the job; only then
// does jenkinds write it to the remaining controllers with their API
// tokens. A refusal of the caller's credentials (401, 403) or of the
// request is passed on and nothing else is written.
func (s *Service) write(ctx context.Context, cluster, job string, op Op, config, caller string) *outcome {
	ctx = context.WithoutCancel(ctx)
	unlock := s.locks.lock(cluster, job)
	defer unlock()

	o := &outcome{op: op, targets: s.targets(cluster)}
	apply := func(b *backend) answer {
		switch op {
		case OpCreate:
			return b.create(ctx, job, config)
		case OpUpdate:
			return b.update(ctx, job, config)
		default:
			return b.remove(ctx, job)
		}
	}
	rest := o.targets
	if caller != "" {
		var no *target
		if rest, no = s.judge(ctx, cluster, job, o.targets, func(b *backend) answer { return apply(b.as(caller)) }); no != nil {
			o.pass = &no.a // the caller may not, or Jenkins refused it: as that controller said
			s.logRefused(cluster, job, o)
			return o
		}
	}
	each(rest, func(t *target) { s.send(ctx, t, apply) })
	if o.applied() == 0 {
		o.pass = refusal(o)
		s.logRefused(cluster, job, o)
		return o
	}
	o.accepted = true
	// Second phase: make the controllers that already had (create) or
	// lacked (update) the job hold this definition too, and count a
	// delete of a job that was not there as done.
	each(o.targets, func(t *target) {
		switch {
		case op == OpCreate && t.a.kind == exists:
			s.send(ctx, t, func(b *backend) answer { return b.update(ctx, job, config) })
		case op == OpUpdate && t.a.kind == notFound:
			s.send(ctx, t, func(b *backend) answer { return b.create(ctx, job, config) })
		case op == OpDelete && t.a.kind == notFound:
			t.a.kind, t.a.err = applied, nil
		}
	})
	var done []int64
	var failed []failedSend
	for _, t := range o.targets {
		if t.a.kind == applied {
			done = append(done, t.id)
		} else {
			failed = append(failed, failedSend{controllerID: t.id, attempted: t.asked, err: t.a.reason()})
		}
	}
	if o.recordErr = s.st.record(ctx, cluster, job, op, config, done, failed, s.cfg.RetryBase); o.recordErr != nil {
		s.log.Error("job write applied on some controllers but its pending writes could not be stored: answering 500",
			"cluster", cluster, "job", job, "op", op, "sync", o.syncHeader(), "err", o.recordErr)
		return o
	}
	s.refreshPending(ctx)
	if len(failed) == 0 {
		s.log.Info("job written on every controller", "cluster", cluster, "job", job, "op", op, "controllers", len(done))
		return o
	}
	s.metrics.failures.WithLabelValues(cluster).Add(float64(len(failed)))
	for _, t := range o.behind() {
		s.log.Warn("job write pending on a controller", "cluster", cluster, "job", job, "op", op,
			"controller", t.name, "sync", o.syncHeader(), "err", t.a.reason())
	}
	return o
}

// errHedged marks a controller a write was sent to with the caller's
// credentials and that had not answered when another one did: its answer
// is not waited for, and the write is retried there (a retry converges
// whether or not that send was applied).
var errHedged = errors.New("no answer within the hedge deadline, while another controller answered: retried later")

// judge sends a write with the caller's credentials (send) to the targets
// one after the other until one applies it: that is Jenkins saying the
// caller may do it. A controller where the job already is (create) or is
// not (update, delete) keeps that answer and the next is asked; one that
// has not answered within HedgeAfter is not waited for before the next is
// asked too. judge returns the targets never asked, for the write with
// jenkinds' tokens, or the target whose refusal (the caller's credentials
// rejected, or the write refused) is the answer. Sends still under way
// when it returns finish on their own; their targets say errHedged.
func (s *Service) judge(ctx context.Context, cluster, job string, ts []*target, send func(b *backend) answer) (rest []*target, no *target) {
	proven := false
	n, underWay, late := s.hedgedSends(ctx, ts, send, func(r sent) bool {
		t := ts[r.i]
		t.a, t.asked, t.answered = r.a, r.asked, true
		switch {
		case jenkins.CredentialsRejected(r.a.err) || r.a.kind == refused:
			no = t
		case r.a.kind == applied:
			proven = true
		}
		return no != nil || proven
	})
	for _, t := range ts[:n] {
		if !t.answered {
			t.a, t.asked = answer{kind: unavailable, err: errHedged}, true
		}
	}
	if underWay > 0 && no != nil {
		go func() {
			for range underWay {
				if r := <-late; r.a.kind == applied {
					s.log.Warn("job write applied by a controller after another refused the caller: the drift check will show it",
						"cluster", cluster, "job", job, "controller", ts[r.i].name)
				}
			}
		}()
	}
	switch {
	case no != nil:
		return nil, no
	case proven:
		return ts[n:], nil
	}
	return nil, nil
}

// sent is one target's answer to a send of hedgedSends.
type sent struct {
	i     int // the target's index
	a     answer
	asked bool
}

// hedgedSends sends fn to ts one after the other, each in its own
// goroutine on a copy of its target: the next one once the last sent
// answered without deciding (decide returns false), or once it has not
// answered within HedgeAfter (the one that did not answer may still
// answer first). decide sees, in this goroutine, every answer that
// arrives until one decides. hedgedSends returns how many targets it
// sent to, and how many sends are still under way: their answers arrive
// on late.
func (s *Service) hedgedSends(ctx context.Context, ts []*target, fn func(b *backend) answer, decide func(r sent) bool) (n, underWay int, late <-chan sent) {
	done := make(chan sent, len(ts))
	var hedge <-chan time.Time
	sendNext := func() bool {
		hedge = nil
		if n == len(ts) {
			return false
		}
		own, i := *ts[n], n // t itself is written only from this goroutine
		go func() {
			s.send(ctx, &own, fn)
			done <- sent{i, own.a, own.asked}
		}()
		n, underWay = n+1, underWay+1
		if s.cfg.HedgeAfter > 0 && n < len(ts) {
			hedge = time.After(s.cfg.HedgeAfter)
		}
		return true
	}
	if !sendNext() {
		return n, underWay, done
	}
	for {
		select {
		case r := <-done:
			underWay--
			if decide(r) || underWay == 0 && !sendNext() {
				return n, underWay, done
			}
		case <-hedge:
			s.log.Debug("no answer within the hedge deadline: asking the next controller too",
				"controller", ts[n-1].name, "after", s.cfg.HedgeAfter)
			sendNext()
		}
	}
}

// refusal picks the answer of a write no controller applied: for a
// create, "already exists" from a controller that has the job; else the
// answer most controllers that judged the write gave (404 when none has
// the job), the first controller's on a tie; nil when none judged it.
func refusal(o *outcome) *answer {
	type group struct {
		first *target
		n     int
	}
	var groups []*group
	for _, t := range o.targets {
		if o.op == OpCreate && t.a.kind == exists {
			return &t.a
		}
		if t.a.kind == unavailable || t.a.kind == applied {
			continue
		}
		i := slices.IndexFunc(groups, func(g *group) bool {
			return g.first.a.code == t.a.code && g.first.a.xError() == t.a.xError()
		})
		if i < 0 {
			groups = append(groups, &group{first: t})
			i = len(groups) - 1
		}
		groups[i].n++
	}
	if len(groups) == 0 {
		return nil
	}
	best := slices.MaxFunc(groups, func(a, b *group) int {
		if c := cmp.Compare(a.n, b.n); c != 0 {
			return c
		}
		return cmp.Compare(b.first.id, a.first.id) // the lower id wins a tie
	})
	return &best.first.a
}

func (s *Service) logRefused(cluster, job string, o *outcome) {
	var reasons []string
	for _, t := range o.targets {
		reasons = append(reasons, t.name+": "+t.a.reason())
	}
	if o.pass == nil {
		s.log.Warn("job write reached no controller", "cluster", cluster, "job", job, "op", o.op,
			"controllers", len(o.targets), "err", strings.Join(reasons, "; "))
		return
	}
	s.log.Info("job write refused by the controllers", "cluster", cluster, "job", job, "op", o.op,
		"status", o.pass.code, "err", strings.Join(reasons, "; "))
}

// read reads job's config.xml from one controller of cluster: first the
// ones with no pending write of the job (they hold its latest accepted
// definition), healthy before degraded or unknown, then by load; the next
// when one does not answer. The answer is unavailable when none did.
// With a caller's Authorization header, the controllers are asked with it,
// so that Jenkins decides whether the caller may read the definition; its
// 401 or 403 is the answer.
func (s *Service) read(ctx context.Context, cluster, job, caller string) answer {
	pending, err := s.st.pendingOn(ctx, cluster, job)
	if err != nil {
		s.log.Warn("read pending writes", "cluster", cluster, "job", job, "err", err)
	}
	var ts []*target
	for _, t := range s.targets(cluster) {
		if t.rt.Health() != balance.Unhealthy {
			ts = append(ts, t)
		}
	}
	rank := func(h balance.Health) int {
		if h == balance.Healthy {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(ts, func(a, b *target) int {
		if c := cmp.Compare(boolInt(pending[a.id]), boolInt(pending[b.id])); c != 0 {
			return c
		}
		if c := cmp.Compare(rank(a.rt.Health()), rank(b.rt.Health())); c != 0 {
			return c
		}
		return cmp.Compare(a.rt.Load()+a.rt.InFlight(), b.rt.Load()+b.rt.InFlight())
	})
	// One controller after the other, in that order; one that has not
	// answered within HedgeAfter is not waited for before the next is
	// asked (it may still answer first). The first answer that is not
	// "unavailable" is the answer.
	last := answer{kind: unavailable, err: errNoController}
	var got *answer
	s.hedgedSends(ctx, ts, func(b *backend) answer {
		if caller != "" {
			b = b.as(caller)
		}
		return b.readConfig(ctx, job)
	}, func(r sent) bool {
		a := r.a
		if caller != "" && (a.code == http.StatusUnauthorized || a.code == http.StatusForbidden) {
			a.kind = refused
		}
		if a.kind != unavailable {
			got = &a
			return true
		}
		last = a
		return false
	})
	if got != nil {
		return *got
	}
	return last
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keyedMutex serialises the writes of one job within this process: a
// front-door write and a retry of the same job never interleave, so a
// retry can never land an older definition after a newer one.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(cluster, job string) (unlock func()) {
	key := cluster + "\x00" + job
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
