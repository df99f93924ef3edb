package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/leader"
)

// runCfg renews every few milliseconds of real time, so that Run's loop
// turns quickly; the lease itself is dated by a clock that only the test
// moves, and lasts a minute of it.
var runCfg = leader.Config{TTL: time.Minute, Renew: 5 * time.Millisecond}

// run is a Lease running under Run, with work that reports its term's
// start and why its context ended.
type run struct {
	started chan leader.Term // each term work started in
	stopped chan error       // context.Cause of work's context, when it ends
	done    chan struct{}    // closed when Run returned
	err     error            // what Run returned, once done is closed
	cancel  context.CancelFunc
}

// wait returns what Run returned.
func (r *run) wait(t *testing.T) error {
	t.Helper()
	recv(t, r.done, "Run's return")
	return r.err
}

func startRun(t *testing.T, l *leader.Lease) *run {
	t.Helper()
	r := &run{started: make(chan leader.Term, 16), stopped: make(chan error, 16), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = l.Run(ctx, func(ctx context.Context, term leader.Term) error {
			r.started <- term
			<-ctx.Done()
			r.stopped <- context.Cause(ctx)
			return ctx.Err()
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// recv returns the next value of ch. The deadline only keeps a broken
// test from hanging; it is no timing assertion.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30s", what)
		panic("unreachable")
	}
}

func TestRunReleasesWhenCtxEnds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newClock(start)
		a, b := f.replica(t, "a", c, runCfg), f.replica(t, "b", c, runCfg)
		r := startRun(t, a)
		if term := recv(t, r.started, "work start"); term.Epoch != 1 {
			t.Fatalf("work started in epoch %d, want 1", term.Epoch)
		}
		try(t, b, false)

		r.cancel()
		if cause := recv(t, r.stopped, "work stop"); !errors.Is(cause, context.Canceled) {
			t.Errorf("work's context ended with %v, want context.Canceled", cause)
		}
		if err := r.wait(t); err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
		try(t, b, true) // at once: the clock did not move
		wantHeld(t, "b", b, 2, true)
		f.logs.want(t, "leader lease acquired", "leader lease released")
	})
}

func TestRunStopsWorkWhenTakenOver(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		// a's clock stands still, as if a were paused; by b's, a's lease
		// has expired.
		ca, cb := newClock(start), newClock(start.Add(runCfg.TTL))
		a, b := f.replica(t, "a", ca, runCfg), f.replica(t, "b", cb, runCfg)
		r := startRun(t, a)
		recv(t, r.started, "work start")

		try(t, b, true)
		wantHeld(t, "b", b, 2, true)
		if cause := recv(t, r.stopped, "work stop"); !errors.Is(cause, leader.ErrLost) {
			t.Errorf("work's context ended with %v, want ErrLost", cause)
		}
		wantHeld(t, "a", a, 0, false)
		r.cancel()
		if err := r.wait(t); err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
		wantLeader(t, b, "b", 2, cb.Now().Add(runCfg.TTL)) // a's release left b's lease alone
		f.logs.want(t, "leader lease lost")
	})
}

func TestRunStopsWorkWhenRenewalFails(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newClock(start)
		da := f.open(t)
		a, b := f.replicaOn(da, "a", c, runCfg), f.replica(t, "b", c, runCfg)
		r := startRun(t, a)
		recv(t, r.started, "work start")

		da.Close()
		if cause := recv(t, r.stopped, "work stop"); !errors.Is(cause, leader.ErrLost) {
			t.Errorf("work's context ended with %v, want ErrLost", cause)
		}
		wantHeld(t, "a", a, 0, false)
		r.cancel()
		if err := r.wait(t); err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}

		// a could not release: b takes over once the lease expires.
		try(t, b, false)
		c.Advance(runCfg.TTL)
		try(t, b, true)
		wantHeld(t, "b", b, 2, true)
	})
}

func TestRunReturnsWhenWorkReturns(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		err  error
	}{{"error", boom}, {"nil", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, f fixture) {
				c := newClock(start)
				a, b := f.replica(t, "a", c, runCfg), f.replica(t, "b", c, runCfg)
				err := a.Run(f.ctx, func(context.Context, leader.Term) error { return tt.err })
				if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
					t.Errorf("Run: got %v, want %v", err, tt.err)
				}
				try(t, b, true) // released
			})
		})
	}
}

// TestRunWatchdog stops the work at the deadline while the renewal is
// stuck behind another transaction. It runs on the real clock: the lease
// lasts a second.
func TestRunWatchdog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		a := f.replica(t, "a", leader.System, leader.Config{TTL: time.Second, Renew: 100 * time.Millisecond})
		r := startRun(t, a)
		recv(t, r.started, "work start")

		blocker := f.open(t)
		tx, err := blocker.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(f.ctx, blocker.Rebind(`UPDATE leader_leases SET holder = holder WHERE name = ?`), "dispatch"); err != nil {
			t.Fatalf("lock the lease row: %v", err)
		}
		cause := recv(t, r.stopped, "work stop")
		if !errors.Is(cause, leader.ErrLost) {
			t.Errorf("work's context ended with %v, want ErrLost", cause)
		}
		t.Logf("work stopped: %v", cause)
		tx.Rollback()
	})
}
