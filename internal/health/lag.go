package health

import (
	"context"
	"sync"
	"time"
)

// Starvation tells when jenkinds itself was last starved: a timer of its
// own fired late by at least the threshold. A slow observer must not
// blame the observed: a probe that timed out while jenkinds was starved
// proves nothing, and a controller's silence counts only from the end of
// the starvation. *Lag measures it; tests inject their own.
type Starvation interface {
	// LastStarved returns when jenkinds was last starved and how late its
	// timer was then; zero when never.
	LastStarved() (time.Time, time.Duration)
}

// Lag measures jenkinds' own scheduling lag: a goroutine wakes every tick
// and notes how late it woke. Like the Go runtime's own scheduler
// latency, it sees CPU starvation, a throttled cgroup, a paused VM or a
// stop-the-world, whatever their cause: one wake-up late by the
// threshold, or wake-ups whose lateness adds up to the threshold within
// one second (a machine so busy that every step of a request waits, each
// a little).
type Lag struct {
	tick, threshold time.Duration
	onStarved       func(at time.Time, late time.Duration) // may be nil

	window []lateWake // the wake-ups of the last second that were late

	mu   sync.Mutex
	last time.Time
	late time.Duration
}

// lateWake is one late wake-up.
type lateWake struct {
	at   time.Time
	late time.Duration
}

// lagWindow is the window lateness adds up in.
const lagWindow = time.Second

var _ Starvation = (*Lag)(nil)

// NewLag returns a detector that wakes every tick and counts a wake-up at
// least threshold late as starvation, calling onStarved (which must not
// block) each time.
func NewLag(tick, threshold time.Duration, onStarved func(at time.Time, late time.Duration)) *Lag {
	return &Lag{tick: tick, threshold: threshold, onStarved: onStarved}
}

// Run measures until ctx ends. It reads the real clock: what it measures
// is the real scheduler.
func (l *Lag) Run(ctx context.Context) {
	t := time.NewTimer(l.tick)
	defer t.Stop()
	want := time.Now().Add(l.tick)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The lag that matters is when this goroutine got to run, not
			// when the timer fired.
			woke := time.Now()
			if total := l.observe(woke, woke.Sub(want)); total >= l.threshold {
				l.note(woke, total)
			}
			want = woke.Add(l.tick)
			t.Reset(l.tick)
		}
	}
}

// observe adds a wake-up late by late at woke, and returns the lateness
// of the last second (late alone, if that is more).
func (l *Lag) observe(woke time.Time, late time.Duration) time.Duration {
	keep := l.window[:0]
	var total time.Duration
	for _, w := range l.window {
		if woke.Sub(w.at) < lagWindow {
			keep = append(keep, w)
			total += w.late
		}
	}
	l.window = keep
	if late > 0 {
		l.window = append(l.window, lateWake{woke, late})
		total += late
	}
	return total
}

// note records a starved moment.
func (l *Lag) note(at time.Time, late time.Duration) {
	l.mu.Lock()
	l.last, l.late = at, late
	l.mu.Unlock()
	if l.onStarved != nil {
		l.onStarved(at, late)
	}
}

// LastStarved implements Starvation.
func (l *Lag) LastStarved() (time.Time, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.late
}
