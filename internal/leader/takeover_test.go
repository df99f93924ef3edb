package leader_test

import (
	"sync"
	"testing"
	"time"
)

// virtualClock is a settable clock whose timers fire only when the test
// moves it: Run's waits take no real time, and the test knows the moment
// of every try.
type virtualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*virtualTimer]bool
	added  chan struct{} // a token after every AfterFunc
}

type virtualTimer struct {
	at time.Time
	f  func()
}

func newVirtualClock(now time.Time) *virtualClock {
	return &virtualClock{now: now, timers: map[*virtualTimer]bool{}, added: make(chan struct{}, 1)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	tm := &virtualTimer{at: c.now.Add(d), f: f}
	c.timers[tm] = true
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		pending := c.timers[tm]
		delete(c.timers, tm)
		return pending
	}
}

// next waits until a timer is pending and returns when the earliest is due.
func (c *virtualClock) next(t *testing.T) time.Time {
	t.Helper()
	for {
		c.mu.Lock()
		var first time.Time
		for tm := range c.timers {
			if first.IsZero() || tm.at.Before(first) {
				first = tm.at
			}
		}
		c.mu.Unlock()
		if !first.IsZero() {
			return first
		}
		recv(t, c.added, "a timer")
	}
}

// advanceTo moves the clock to at, if later, and fires every timer due.
func (c *virtualClock) advanceTo(at time.Time) {
	c.mu.Lock()
	if at.After(c.now) {
		c.now = at
	}
	var due []func()
	for tm := range c.timers {
		if !tm.at.After(c.now) {
			due = append(due, tm.f)
			delete(c.timers, tm)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
}

// TestTakeoverWithinTTL: a leader that dies (stops renewing and never
// releases) is replaced the moment its lease expires, at most the TTL after
// its last renewal, not at the standby's next renewal tick, which here
// comes a second after the expiry. The clock is virtual: the test fires
// each of the standby's waits and records when it tried.
func TestTakeoverWithinTTL(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newVirtualClock(start)
		a, b := f.replica(t, "a", c, cfg), f.replica(t, "b", c, cfg)
		try(t, a, true) // a's last renewal: it dies now
		expiry := start.Add(cfg.TTL)
		c.advanceTo(start.Add(time.Second)) // b's renewal ticks fall a second after a's
		r := startRun(t, b)

		var tries []time.Time // b's tries after its first, by the virtual clock
		for {
			at := c.next(t) // b waits: as a follower, or it leads and renews
			if _, ok := b.Held(); ok {
				break
			}
			if len(tries) == 10 {
				t.Fatalf("b did not take the lease; it tried at %v", tries)
			}
			tries = append(tries, at)
			c.advanceTo(at)
		}
		if term := recv(t, r.started, "work start"); term.Epoch != 2 {
			t.Fatalf("b's work started in epoch %d, want 2", term.Epoch)
		}
		_, _, expires, err := b.Leader(f.ctx)
		if err != nil {
			t.Fatalf("Leader: %v", err)
		}
		took := expires.Add(-cfg.TTL)
		if late := took.Sub(expiry); late < 0 || late > 10*time.Millisecond {
			t.Errorf("b took the lease %s after a's expired (%s after a's last renewal, TTL %s), want within 10ms; b tried at +%v",
				late, took.Sub(start), cfg.TTL, since(start, tries))
		}
		t.Logf("b tried at +%v; took the lease %s after a's last renewal", since(start, tries), took.Sub(start))
	})
}

func since(t0 time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(t0)
	}
	return out
}
