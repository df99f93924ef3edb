package leader

import (
	"context"
	"fmt"
	"time"
)

// Run campaigns for the lease and runs work during every term it wins,
// until ctx ends. It tries to take the lease at once and then every Renew;
// while it holds the lease it renews it as often, and runs work(wctx) in a
// goroutine. wctx is cancelled, with the cause ErrLost, as soon as
//
//   - a renewal fails or finds that another replica took the lease over, or
//   - the term's deadline (expiry minus the margin, Renew/2) passes without
//     a renewal, even while the renewal is stuck in the database;
//
// and with ctx's cause when ctx ends. Run then waits for work to return
// (work must return promptly once wctx is done) and campaigns again: the
// next term it wins runs work afresh, with a new epoch.
//
// When ctx ends Run stops work, releases the lease so that another replica
// takes over at its next try, and returns nil. If work returns by itself
// before wctx is done, Run releases the lease and returns work's error
// (wrapped) or nil. Errors taking or renewing the lease are logged, not
// returned: the database may come back.
func (l *Lease) Run(ctx context.Context, work func(ctx context.Context) error) error {
	defer l.releaseAfter(ctx)
	tick := time.NewTicker(l.renew)
	defer tick.Stop()
	failing := false // log the first of a run of failures only
	for {
		_, err := l.try(ctx)
		switch {
		case err == nil:
			failing = false
		case ctx.Err() == nil && !failing:
			failing = true
			l.log.WarnContext(ctx, "leader lease: cannot take or renew, retrying every renewal interval",
				"lease", l.name, "holder", l.holder, "err", err)
		}
		if epoch, ok := l.Held(); ok {
			if stop, err := l.lead(ctx, epoch, tick.C, work); stop {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// lead runs work during the term epoch, renewing it on every tick, until
// the term ends, ctx ends or work returns by itself. It reports whether Run
// must return, and what.
func (l *Lease) lead(ctx context.Context, epoch int64, tick <-chan time.Time, work func(context.Context) error) (bool, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- work(wctx) }()
	// The watchdog stops the work at the deadline even when the renewal
	// that would move the deadline is stuck.
	watchdog := time.AfterFunc(l.untilDeadline(), func() {
		cancel(fmt.Errorf("%w: its deadline passed before a renewal", ErrLost))
	})
	defer watchdog.Stop()

	for {
		select {
		case err := <-done:
			switch {
			case wctx.Err() == nil: // returned by itself, the term still on
				if err != nil {
					return true, fmt.Errorf("work of leader lease %s: %w", l.name, err)
				}
				return true, nil
			case ctx.Err() != nil:
				return true, nil
			}
			l.end("its deadline passed before a renewal", nil) // the watchdog fired
			return false, nil
		case <-ctx.Done():
			<-done
			return true, nil
		case <-tick:
			ok, err := l.try(ctx)
			if e, held := l.Held(); err == nil && ok && held && e == epoch {
				watchdog.Reset(l.untilDeadline())
				continue
			}
			if ctx.Err() != nil {
				<-done
				return true, nil
			}
			cause := fmt.Errorf("%w: another replica holds it, or its deadline passed", ErrLost)
			if err != nil {
				l.end("renewal failed", err)
				cause = fmt.Errorf("%w: renewal failed: %w", ErrLost, err)
			}
			cancel(cause)
			<-done
			return false, nil
		}
	}
}

// try is TryAcquire bounded by the TTL: past it, the answer is moot.
func (l *Lease) try(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl)
	defer cancel()
	return l.TryAcquire(ctx)
}

// untilDeadline is how long the current term has left (negative when
// there is none), by the lease's clock.
func (l *Lease) untilDeadline() time.Duration {
	l.mu.Lock()
	deadline := l.deadline
	l.mu.Unlock()
	return deadline.Sub(l.now())
}

// releaseAfter releases the lease once Run is done with it, even though
// ctx has ended, and logs a failure: the lease then expires by itself.
func (l *Lease) releaseAfter(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl)
	defer cancel()
	if err := l.Release(ctx); err != nil {
		l.log.WarnContext(ctx, "leader lease: cannot release, it will expire by itself",
			"lease", l.name, "holder", l.holder, "err", err)
	}
}
