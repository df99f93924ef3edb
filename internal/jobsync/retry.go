package jobsync

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// RetryStats says what one retry round did.
type RetryStats struct {
	Sent    int // pending writes sent to their controller
	Applied int // of those, applied there (the row is gone)
	Failed  int // of those, not applied (back-off)
	Dropped int // pending writes of controllers no longer registered, dropped
}

// Retry runs one retry round now: the pending writes of controllers that
// came back from unhealthy become due; the due pending writes of every
// active controller that is not unhealthy (at most BatchSize, oldest
// first) are sent, at most Concurrency at once, each under its job's lock
// and only if no newer write replaced it meanwhile; an applied one is
// removed, a failed one waits RetryBase·2^(attempts-1), at most RetryMax.
// Run calls it every PollInterval; tests and tools may call it directly.
// One round runs at a time.
func (s *Service) Retry(ctx context.Context) (RetryStats, error) {
	s.roundMu.Lock()
	defer s.roundMu.Unlock()
	var stats RetryStats
	var eligible []int64
	seen := map[int64]bool{}
	for _, rt := range s.pool.All() {
		id, h := rt.ID(), rt.Health()
		seen[id] = true
		if back := rt.RecoveredAt(); !back.IsZero() && !back.Before(s.lastRound) && h != balance.Unhealthy {
			if err := s.st.makeDue(ctx, id); err != nil {
				return stats, err
			}
			s.log.Info("controller is back: its pending job writes are due", "controller", rt.Instance().Name)
		}
		if rt.Instance().IsActive && h != balance.Unhealthy {
			eligible = append(eligible, id)
		}
	}
	s.lastRound = time.Now() // the health authority's clock, which dates RecoveredAt: the real one
	n, err := s.forgetUnknown(ctx, seen)
	stats.Dropped = n
	if err != nil {
		return stats, err
	}

	due, err := s.st.due(ctx, eligible, s.cfg.BatchSize)
	if err != nil {
		return stats, err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, s.cfg.Concurrency)
	)
	for _, p := range due {
		rt := s.pool.Get(p.ControllerID)
		if rt == nil {
			continue // removed since the pool was read
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return stats, ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			sent, ok, err := s.retryOne(ctx, rt, p)
			mu.Lock()
			defer mu.Unlock()
			if sent {
				stats.Sent++
				if ok {
					stats.Applied++
				} else {
					stats.Failed++
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if stats.Sent > 0 || stats.Dropped > 0 {
		s.refreshPending(ctx)
	}
	return stats, errors.Join(errs...)
}

// retryOne sends one pending write. sent is false when another round or a
// newer write took it first.
func (s *Service) retryOne(ctx context.Context, rt *controller.Runtime, p Pending) (sent, ok bool, err error) {
	claimed, err := s.st.claim(ctx, p, s.cfg.lease())
	if err != nil || !claimed {
		return false, false, err
	}
	unlock := s.locks.lock(p.Cluster, p.Job)
	defer unlock()
	cur, found, err := s.st.get(ctx, p.ID, p.version)
	if err != nil || !found {
		return false, false, err // a front-door write replaced it while this round waited for the lock
	}
	name := rt.Instance().Name
	var a answer
	if b, berr := s.backend(rt); berr != nil {
		a = answer{kind: unavailable, err: berr}
	} else {
		a = b.converge(ctx, cur.Op, cur.Job, cur.config)
	}
	if a.kind == applied {
		s.log.Info("pending job write applied", "cluster", cur.Cluster, "controller", name, "job", cur.Job, "op", cur.Op,
			"attempts", cur.Attempts+1)
		return true, true, s.st.done(ctx, cur)
	}
	s.metrics.failures.WithLabelValues(cur.Cluster).Inc()
	next := s.now().Add(s.cfg.retryDelay(cur.Attempts + 1))
	s.log.Debug("pending job write failed again", "cluster", cur.Cluster, "controller", name, "job", cur.Job, "op", cur.Op,
		"attempts", cur.Attempts+1, "next", next, "err", a.reason())
	return true, false, s.st.failed(ctx, cur, a.reason(), next)
}

// forgetUnknown drops the pending writes of controllers the pool has not
// known for ForgetAfter (deleted ones; a controller this replica has not
// learnt of yet is kept that long).
func (s *Service) forgetUnknown(ctx context.Context, known map[int64]bool) (int, error) {
	ids, err := s.st.controllers(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	if s.unknownSince == nil {
		s.unknownSince = map[int64]time.Time{}
	}
	dropped := 0
	current := map[int64]bool{}
	for _, id := range ids {
		if known[id] {
			continue
		}
		current[id] = true
		since, ok := s.unknownSince[id]
		if !ok {
			s.unknownSince[id] = now
			continue
		}
		if now.Sub(since) < s.cfg.ForgetAfter {
			continue
		}
		n, err := s.st.forget(ctx, id)
		if err != nil {
			return dropped, err
		}
		dropped += int(n)
		s.log.Warn("dropped the pending job writes of a controller that is no longer registered",
			"controller_id", id, "writes", n)
	}
	for id := range s.unknownSince {
		if !current[id] {
			delete(s.unknownSince, id)
		}
	}
	return dropped, nil
}
