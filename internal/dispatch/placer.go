package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// placer places accepted builds on controllers (see doc.go,
// "Placement"): one per leader term.
type placer struct {
	*core
	fence    Fence
	slots    chan struct{} // triggers in flight, all controllers together
	polMu    sync.Mutex
	policies map[string]balance.Policy // by cluster and strategy: policies keep rotation state
}

func newPlacer(c *core, fence Fence) *placer {
	return &placer{core: c, fence: fence, slots: make(chan struct{}, c.cfg.Triggers), policies: map[string]balance.Policy{}}
}

// run places due builds whenever woken (Submit, a finished trigger, a
// re-dispatch, a health change, builds that ended) or every
// PlaceInterval, until ctx ends; then it waits for its triggers in
// flight. A cluster with no controller that can take a build is not even
// read: its builds wait without costing a query.
func (p *placer) run(ctx context.Context) {
	tick := time.NewTicker(p.cfg.PlaceInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		more, err := p.placeOnce(ctx, &wg)
		if err != nil && ctx.Err() == nil {
			p.log.Error("place builds", "err", err)
		}
		if more && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wakePlacer:
		case <-tick.C:
		}
	}
}

// placeOnce claims one batch of due builds and starts their triggers. It
// reports whether it made progress and there may be more to place right
// away; builds that nothing can take now do not count as progress, so a
// full cluster makes the placer sleep, not spin.
func (p *placer) placeOnce(ctx context.Context, wg *sync.WaitGroup) (bool, error) {
	free := cap(p.slots) - len(p.slots)
	if free == 0 {
		return false, nil
	}
	limit := min(p.cfg.BatchSize, free)
	var claims []claim
	var waiting []Build
	planned := map[int64]int{}
	full := false
	now := p.now()
	var pols policies
	for _, cluster := range p.pool.Clusters() {
		if limit-len(claims) <= 0 {
			full = true
			break
		}
		if !p.clusterOpen(cluster, now) {
			continue
		}
		due, err := p.st.due(ctx, cluster, limit-len(claims))
		if err != nil {
			return false, fmt.Errorf("read due builds of cluster %s: %w", cluster, err)
		}
		if len(due) > 0 && pols == nil {
			if pols, err = p.loadPolicies(ctx); err != nil {
				return false, err
			}
		}
		full = full || len(due) == limit-len(claims)
	builds:
		for _, b := range due {
			c, fail := p.choose(b, planned, now)
			switch {
			case fail != "":
				if err := p.st.failBuild(ctx, p.fence, b, fail); err != nil {
					return false, fmt.Errorf("fail build %d: %w", b.ID, err)
				}
				p.log.Warn("build failed: cannot be placed", "build", b.ID, "cluster", b.Cluster, "job", b.Job, "reason", fail)
			case c == nil && !p.roomLeft(cluster, planned, now):
				// The cluster is full: the builds left wait where they are,
				// first in line when a build ends (postponed, they would
				// miss the room it leaves).
				break builds
			case c == nil:
				waiting = append(waiting, b)
			default:
				c.policy = pols.of(b.Cluster, b.Job)
				planned[c.controller]++
				claims = append(claims, *c)
			}
		}
	}
	if len(waiting) > 0 {
		// Nothing can take them now: look again after PlaceInterval, so
		// they do not hide the builds behind them.
		if err := p.st.postpone(ctx, p.fence, waiting, p.cfg.PlaceInterval); err != nil {
			return false, fmt.Errorf("postpone builds: %w", err)
		}
	}
	if len(claims) == 0 {
		return false, nil
	}
	next := make([]attemptKey, len(claims))
	for i, c := range claims {
		next[i] = attemptKey{c.build.ID, c.build.CurrentAttempt + 1}
	}
	p.gate.Mark(true, next...)
	took, err := p.st.claimAll(ctx, p.fence, claims)
	p.gate.Mark(false, next...)
	for _, c := range took {
		p.gate.Mark(true, attemptKey{c.build.ID, c.build.CurrentAttempt}) // still in flight: the trigger follows
	}
	if err != nil {
		return false, fmt.Errorf("claim builds: %w", err)
	}
	groups := map[int64][]claim{}
	for _, c := range took {
		groups[c.controller] = append(groups[c.controller], c)
		p.slots <- struct{}{} // free slots were counted above; only the placer takes them
	}
	for id, cs := range groups {
		if rt := p.pool.Get(id); rt != nil {
			rt.AddLive(len(cs))
		}
		wg.Go(func() { p.triggerGroup(ctx, id, cs) })
	}
	return full, nil
}

// roomLeft reports whether some controller of cluster may take a build
// now besides those planned in this batch.
func (p *placer) roomLeft(cluster string, planned map[int64]int, now time.Time) bool {
	for _, r := range p.pool.Cluster(cluster) {
		if c := r.BuildCandidate(now); c.Excluded == "" && c.Load+planned[c.ID] < c.MaxConnections {
			return true
		}
	}
	return false
}

// clusterOpen reports whether some controller of cluster may take a
// build now.
func (p *placer) clusterOpen(cluster string, now time.Time) bool {
	for _, r := range p.pool.Cluster(cluster) {
		if ok, _ := r.Eligible(now); ok {
			return true
		}
	}
	return false
}

func (p *placer) policy(cluster string) balance.Policy {
	p.polMu.Lock()
	defer p.polMu.Unlock()
	strategy := p.cfg.Strategy(cluster)
	key := cluster + "\x00" + strategy
	if pol, ok := p.policies[key]; ok {
		return pol
	}
	pol, err := balance.ByName(strategy)
	if err != nil {
		p.log.Error("unknown balance strategy, using least-load", "cluster", cluster, "strategy", strategy, "err", err)
		pol = &balance.LeastLoad{}
	}
	p.policies[key] = pol
	return pol
}

// choose picks the controller for b's next attempt with the cluster's
// policy among those that have the job buildable and may take a build now
// (controller.Runtime.Eligible: active, not draining, not unhealthy, not
// quieting down, not cooling down, below its build capacity). Each is
// loaded by the larger of what Jenkins reports and the attempts jenkinds
// has there, plus those planned in this batch. It returns nil and no
// reason when nothing can take b now; a reason when b can never be placed.
func (p *placer) choose(b Build, planned map[int64]int, now time.Time) (*claim, string) {
	info, known := p.cat.Lookup(b.Cluster, b.Job)
	switch {
	case len(info.Controllers) == 0 && known:
		return nil, fmt.Sprintf("%v: no controller of cluster %q has job %q", ErrUnknownJob, b.Cluster, b.Job)
	case len(info.Controllers) == 0:
		return nil, ""
	case !info.Buildable && known:
		return nil, fmt.Sprintf("%v: job %q is disabled on every controller of cluster %q that has it (%s)", ErrNotBuildable, b.Job, b.Cluster, joinIDs(info.Controllers))
	}
	rs := p.pool.Cluster(b.Cluster)
	cands := make([]balance.Candidate, len(rs))
	for i, r := range rs {
		c := r.BuildCandidate(now)
		if m, ok := p.cat.JobOn(c.ID, b.Job); !ok {
			c.Excluded = "no job " + b.Job
		} else if !m.Buildable {
			c.Excluded = "job " + b.Job + " disabled"
		}
		c.Load += planned[c.ID]
		cands[i] = c
	}
	idx, ok := p.policy(b.Cluster).Pick(cands)
	if !ok {
		return nil, ""
	}
	rt := rs[idx]
	return &claim{build: b, controller: rt.ID(), session: rt.Session(), floor: p.cat.Floor(rt.ID(), b.Job)}, ""
}

// triggerGroup triggers claims on controller id, at most 16 at once, and
// stores the outcomes.
func (p *placer) triggerGroup(ctx context.Context, id int64, cs []claim) {
	leave := p.gate.Enter(id)
	results := make([]triggerResult, len(cs))
	be, err := p.backend(id)
	r := p.pool.Get(id)
	if err != nil || r == nil {
		if err == nil {
			err = errors.New("not registered")
		}
		for i, c := range cs {
			results[i] = triggerResult{claim: c, refusedBy: err.Error(), retries: c.build.CurrentAttempt}
		}
	} else {
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i, c := range cs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = p.trigger(ctx, be, r, c)
			})
		}
		wg.Wait()
	}
	var definite []triggerResult
	lost := 0
	for _, res := range results {
		switch {
		case res.ambiguous:
			p.log.Warn("trigger answer lost: the follower looks for its queue item", "build", res.build.ID,
				"attempt", res.build.CurrentAttempt, "controller", id, "err", res.err)
		default:
			definite = append(definite, res)
			if res.refusedBy != "" || res.merged {
				lost++
			}
		}
	}
	if err := p.st.recordTriggers(context.WithoutCancel(ctx), p.fence, definite, p.cfg.retryDelay); err != nil {
		p.log.Error("record triggers: the follower will look for their queue items", "controller", id, "err", err)
	}
	// Out of flight before the barrier is left: a round that passed the
	// barrier must see the ambiguous ones as ambiguous, to look for them.
	for _, c := range cs {
		p.gate.Mark(false, attemptKey{c.build.ID, c.build.CurrentAttempt})
	}
	leave()
	if r != nil {
		r.AddLive(-lost)
	}
	for range cs {
		<-p.slots
	}
	wake(p.wakePlacer)
}

// trigger sends one claim's trigger and classifies the answer.
func (p *placer) trigger(ctx context.Context, be *backend, r *controller.Runtime, c claim) triggerResult {
	res := triggerResult{claim: c, retries: c.build.CurrentAttempt}
	m, _ := p.cat.JobOn(c.controller, c.build.Job)
	tctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	ref, err := be.Trigger(tctx, c.build.Job, fromParams(c.build.Params), len(m.Params) > 0)
	qid, sess, merged := ref.ID, ref.Session, ref.Merged
	if err != nil {
		res.err = err
		switch jenkins.Classify(err) {
		case jenkins.NothingSent, jenkins.Unavailable, jenkins.Refused:
		default:
			res.ambiguous = true // it may have been queued: the follower looks for it
			return res
		}
		res.refusedBy = err.Error()
		var se *jenkins.StatusError
		switch class := jenkins.Classify(err); {
		case class == jenkins.NothingSent || class == jenkins.Unavailable || errors.As(err, &se) && se.Code >= 500:
			r.CoolDown(p.now().Add(p.cfg.Cooldown), "refused a trigger: "+err.Error())
		case errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusConflict || se.Code == http.StatusBadRequest):
			// The inventory was wrong about the job there: read it again.
			go func() { _, _ = p.cat.Refresh(context.WithoutCancel(ctx), c.controller) }()
		}
		return res
	}
	if sess == "" {
		sess = r.Session()
	}
	res.queueID, res.session, res.merged = qid, sess, merged
	return res
}
