package leader

import (
	"context"
	"fmt"
	"time"
)

// expirySlack is how long after the lease it saw expire a replica tries
// to take it: enough for the expiry to have passed by the statement's
// clock reading, rounded to the microsecond as the database keeps it.
const expirySlack = 5 * time.Millisecond

// Run campaigns for the lease and runs work during every term it wins,
// until ctx ends. It tries to take the lease at once and then every Renew,
// and, while another replica holds it, also the moment that replica's
// lease expires (plus a few milliseconds): a holder that dies is replaced
// at most the TTL after its last renewal, not a renewal interval later.
// While it holds the lease it renews it every Renew and runs work(wctx,
// term) in a goroutine; term fences the work's writes (Term.Check). wctx
// is cancelled, with the cause ErrLost, as soon as
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
func (l *Lease) Run(ctx context.Context, work func(ctx context.Context, t Term) error) error {
	defer l.releaseAfter(ctx)
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
			if stop, err := l.lead(ctx, Term{Epoch: epoch, lease: l}, work); stop {
				return err
			}
		}
		if !l.sleep(ctx, l.nextTry()) {
			return nil
		}
	}
}

// lead runs work during term, renewing the lease every Renew, until the
// term ends, ctx ends or work returns by itself. It reports whether Run
// must return, and what.
func (l *Lease) lead(ctx context.Context, term Term, work func(context.Context, Term) error) (bool, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The watchdog stops the work at the deadline even when the renewal
	// that would move the deadline is stuck. It is armed before the work
	// starts, so that no instant of the work goes unwatched.
	expired := func() { cancel(fmt.Errorf("%w: its deadline passed before a renewal", ErrLost)) }
	stopWatchdog := l.clk.AfterFunc(l.untilDeadline(), expired)
	defer func() { stopWatchdog() }()
	done := make(chan error, 1)
	go func() { done <- work(wctx, term) }()

	for {
		tick, stopTick := l.after(l.renew)
		select {
		case err := <-done:
			stopTick()
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
			stopTick()
			<-done
			return true, nil
		case <-tick:
			ok, err := l.try(ctx)
			if e, held := l.Held(); err == nil && ok && held && e == term.Epoch {
				if stopWatchdog() {
					stopWatchdog = l.clk.AfterFunc(l.untilDeadline(), expired)
				}
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

// nextTry is how long a replica that does not hold the lease waits before
// it tries again: a renewal interval, or less when the lease it saw held by
// another expires sooner.
func (l *Lease) nextTry() time.Duration {
	l.mu.Lock()
	seen := l.seen
	l.mu.Unlock()
	if seen.IsZero() {
		return l.renew
	}
	return min(l.renew, max(seen.Sub(l.now()), 0)+expirySlack)
}

// after returns a channel closed once d has passed on the lease's clock,
// and the func that stops it.
func (l *Lease) after(d time.Duration) (<-chan struct{}, func() bool) {
	ch := make(chan struct{})
	stop := l.clk.AfterFunc(d, func() { close(ch) })
	return ch, stop
}

// sleep waits d on the lease's clock, and reports false if ctx ended first.
func (l *Lease) sleep(ctx context.Context, d time.Duration) bool {
	ch, stop := l.after(d)
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-ch:
		return true
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
