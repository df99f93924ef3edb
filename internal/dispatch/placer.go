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

// runPlacer places due builds whenever woken (Submit, a finished trigger,
// a re-dispatch, a health change) or every PlaceInterval, until ctx ends;
// then it waits for its triggers in flight.
func (s *Service) runPlacer(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PlaceInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		more, err := s.placeOnce(ctx, &wg)
		if err != nil && ctx.Err() == nil {
			s.log.Error("place builds", "err", err)
		}
		if more && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wakePlacer:
		case <-tick.C:
		}
	}
}

// placeOnce claims one batch of due builds and starts their triggers. It
// reports whether there may be more to place right away.
func (s *Service) placeOnce(ctx context.Context, wg *sync.WaitGroup) (bool, error) {
	free := cap(s.triggerSlots) - len(s.triggerSlots)
	if free == 0 {
		return false, nil
	}
	limit := min(s.cfg.BatchSize, free)
	var claims []claim
	var waiting []Build
	planned := map[int64]int{}
	full := false
	for _, cluster := range s.pool.Clusters() {
		if limit-len(claims) <= 0 {
			full = true
			break
		}
		if !s.clusterOpen(cluster) {
			continue
		}
		due, err := s.st.due(ctx, cluster, limit-len(claims))
		if err != nil {
			return false, fmt.Errorf("read due builds of cluster %s: %w", cluster, err)
		}
		full = full || len(due) == limit-len(claims)
		for _, b := range due {
			c, fail := s.choose(b, planned)
			switch {
			case fail != "":
				if err := s.st.failBuild(ctx, b, fail); err != nil {
					return false, fmt.Errorf("fail build %d: %w", b.ID, err)
				}
				s.log.Warn("build failed: cannot be placed", "build", b.ID, "cluster", b.Cluster, "job", b.Job, "reason", fail)
			case c == nil:
				waiting = append(waiting, b)
			default:
				planned[c.controller]++
				claims = append(claims, *c)
			}
		}
	}
	if len(waiting) > 0 {
		// Nothing can take them now: look again after PlaceInterval, so
		// they do not hide the builds behind them.
		if err := s.st.postpone(ctx, waiting, s.cfg.PlaceInterval); err != nil {
			return false, fmt.Errorf("postpone builds: %w", err)
		}
	}
	if len(claims) == 0 {
		return full && len(waiting) > 0, nil
	}
	for _, c := range claims {
		s.markInflight(attemptKey{c.build.ID, c.build.CurrentAttempt + 1}, true)
	}
	took, err := s.st.claimAll(ctx, claims)
	taken := map[attemptKey]bool{}
	for _, c := range took {
		taken[attemptKey{c.build.ID, c.build.CurrentAttempt}] = true
		s.markInflight(attemptKey{c.build.ID, c.build.CurrentAttempt}, true)
	}
	for _, c := range claims {
		if k := (attemptKey{c.build.ID, c.build.CurrentAttempt + 1}); !taken[k] {
			s.markInflight(k, false)
		}
	}
	if err != nil {
		return false, fmt.Errorf("claim builds: %w", err)
	}
	groups := map[int64][]claim{}
	for _, c := range took {
		groups[c.controller] = append(groups[c.controller], c)
		s.triggerSlots <- struct{}{} // free slots were counted above; only the placer takes them
	}
	for id, cs := range groups {
		st := s.ctl(id)
		st.mu.Lock()
		st.live += len(cs)
		st.mu.Unlock()
		wg.Go(func() { s.triggerGroup(ctx, id, cs) })
	}
	return full, nil
}

// clusterOpen reports whether some controller of cluster may take work.
func (s *Service) clusterOpen(cluster string) bool {
	for _, r := range s.pool.Cluster(cluster) {
		if r.Available() {
			return true
		}
	}
	return false
}

func (s *Service) policy(cluster string) balance.Policy {
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	strategy := s.cfg.Strategy(cluster)
	key := cluster + "\x00" + strategy
	if p, ok := s.policies[key]; ok {
		return p
	}
	p, err := balance.ByName(strategy)
	if err != nil {
		s.log.Error("unknown balance strategy, using least-load", "cluster", cluster, "strategy", strategy, "err", err)
		p = &balance.LeastLoad{}
	}
	s.policies[key] = p
	return p
}

// choose picks the controller for b's next attempt with the cluster's
// policy among those that have the job buildable, are eligible (active,
// not draining, not unhealthy, below capacity), not quieting down and
// not cooling down after a refused trigger. The load of each is the
// larger of what the health monitor measured and the attempts jenkinds
// has there, plus those planned in this batch. It returns nil and no
// reason when nothing can take b now; a reason when b can never be placed.
func (s *Service) choose(b Build, planned map[int64]int) (*claim, string) {
	info, known := s.lookup(b.Cluster, b.Job)
	switch {
	case len(info.Controllers) == 0 && known:
		return nil, fmt.Sprintf("%v: no controller of cluster %q has job %q", ErrUnknownJob, b.Cluster, b.Job)
	case len(info.Controllers) == 0:
		return nil, ""
	case !info.Buildable && known:
		return nil, fmt.Sprintf("%v: job %q is disabled on every controller of cluster %q that has it (%s)", ErrNotBuildable, b.Job, b.Cluster, joinIDs(info.Controllers))
	}
	now := s.now()
	rs := s.pool.Cluster(b.Cluster)
	cands := make([]balance.Candidate, len(rs))
	floors := make([]int64, len(rs))
	sessions := make([]string, len(rs))
	for i, r := range rs {
		c := r.Candidate()
		st := s.ctl(c.ID)
		st.mu.Lock()
		quiet, cool, live, sess := st.quieting, st.cooldown, st.live, st.session
		st.mu.Unlock()
		m, ok := jobMeta{}, false
		if inv := s.inv.get(c.ID); inv != nil {
			m, ok = inv.jobs[b.Job]
		}
		if !ok || !m.buildable || now.Before(cool) {
			c.Active = false
		}
		if quiet {
			c.Draining = true
		}
		c.Load = max(c.Load, live+planned[c.ID])
		cands[i], floors[i], sessions[i] = c, s.inv.floor(c.ID, b.Job), sess
	}
	idx, ok := s.policy(b.Cluster).Pick(cands)
	if !ok {
		return nil, ""
	}
	return &claim{build: b, controller: rs[idx].ID(), session: sessions[idx], floor: floors[idx]}, ""
}

// triggerGroup triggers claims on controller id, at most 16 at once, and
// stores the outcomes.
func (s *Service) triggerGroup(ctx context.Context, id int64, cs []claim) {
	st := s.ctl(id)
	st.trig.RLock()
	results := make([]triggerResult, len(cs))
	be, err := s.backend(id)
	r := s.pool.Get(id)
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
				results[i] = s.trigger(ctx, be, r, c)
			})
		}
		wg.Wait()
	}
	var definite []triggerResult
	lost := 0
	for _, res := range results {
		switch {
		case res.ambiguous:
			s.log.Warn("trigger answer lost: the follower looks for its queue item", "build", res.build.ID,
				"attempt", res.build.CurrentAttempt, "controller", id, "err", res.err)
		default:
			definite = append(definite, res)
			if res.refusedBy != "" || res.merged {
				lost++
			}
		}
	}
	if err := s.st.recordTriggers(context.WithoutCancel(ctx), definite, s.cfg.retryDelay); err != nil {
		s.log.Error("record triggers: the follower will look for their queue items", "controller", id, "err", err)
	}
	// Out of flight before the lock is released: a round that passed the
	// barrier must see the ambiguous ones as ambiguous, to look for them.
	for _, c := range cs {
		s.markInflight(attemptKey{c.build.ID, c.build.CurrentAttempt}, false)
	}
	st.trig.RUnlock()
	st.mu.Lock()
	st.live -= lost
	st.mu.Unlock()
	for range cs {
		<-s.triggerSlots
	}
	wake(s.wakePlacer)
}

// trigger sends one claim's trigger and classifies the answer.
func (s *Service) trigger(ctx context.Context, be *backend, r *controller.Runtime, c claim) triggerResult {
	res := triggerResult{claim: c, retries: c.build.CurrentAttempt}
	parameterized := false
	if inv := s.inv.get(c.controller); inv != nil {
		parameterized = len(inv.jobs[c.build.Job].params) > 0
	}
	release := r.Acquire()
	defer release()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	qid, sess, merged, err := be.trigger(tctx, c.build.Job, c.build.Params, parameterized)
	if err != nil {
		res.err = err
		if classifyTrigger(err) == ambiguous {
			res.ambiguous = true
			return res
		}
		res.refusedBy = err.Error()
		var se *jenkins.StatusError
		switch {
		case jenkins.IsUnavailable(err):
			st := s.ctl(c.controller)
			st.mu.Lock()
			st.cooldown = s.now().Add(s.cfg.Cooldown)
			st.mu.Unlock()
		case errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusConflict || se.Code == http.StatusBadRequest):
			// The inventory was wrong about the job there: read it again.
			go func() { _, _ = s.refreshInventory(context.WithoutCancel(ctx), c.controller) }()
		}
		return res
	}
	if sess == "" {
		st := s.ctl(c.controller)
		st.mu.Lock()
		sess = st.session
		st.mu.Unlock()
	}
	res.queueID, res.session, res.merged = qid, sess, merged
	return res
}
