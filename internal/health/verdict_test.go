package health

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// fakeStarvation is a Starvation a test sets.
type fakeStarvation struct {
	mu   sync.Mutex
	at   time.Time
	late time.Duration
}

func (f *fakeStarvation) LastStarved() (time.Time, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at, f.late
}

func (f *fakeStarvation) set(at time.Time, late time.Duration) {
	f.mu.Lock()
	f.at, f.late = at, late
	f.mu.Unlock()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a pool of n controllers nobody probes (their URLs are never
// dialled), with a monitor on a settable clock and starvation.
type world struct {
	pool  *controller.Pool
	mon   *Monitor
	clock *clock
	starv *fakeStarvation
	mu    sync.Mutex
	seen  []Event
}

func newWorld(t *testing.T, n int, cfg Config) *world {
	t.Helper()
	w := &world{pool: controller.NewPool(), clock: &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}, starv: &fakeStarvation{}}
	var all []controller.Synced
	for i := range n {
		all = append(all, controller.Synced{Instance: controller.Instance{ID: int64(i + 1), Name: "c" + string(rune('1'+i)),
			URL: "http://127.0.0.1:9/", ClusterID: "prod", MaxConnections: 10, IsActive: true, HealthStatus: balance.Healthy}})
	}
	w.pool.Sync(all)
	w.mon = New(Options{Config: cfg, Pool: w.pool, Log: slog.New(slog.DiscardHandler), Now: w.clock.Now, Starvation: w.starv})
	w.mon.Observe(func(e Event) {
		w.mu.Lock()
		w.seen = append(w.seen, e)
		w.mu.Unlock()
	})
	for _, r := range w.pool.All() {
		r.Answered(w.clock.Now())
	}
	return w
}

func (w *world) events(kind Kind) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Event
	for _, e := range w.seen {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// refused is the error a dial to a closed port gives.
func refused(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = http.Get("http://" + addr + "/")
	if err == nil {
		t.Fatal("a closed port answered")
	}
	return err
}

var errTimeout = context.DeadlineExceeded

func TestPassiveFailuresEjectAfterThreshold(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, Config{PassiveFailures: 3, PassiveWindow: 10 * time.Second})
	r := w.pool.Get(1)
	w.mon.Failure(r, errTimeout)
	w.clock.Advance(11 * time.Second) // the first falls out of the window
	w.mon.Failure(r, errTimeout)
	w.mon.Failure(r, errTimeout)
	if r.Health() != balance.Healthy {
		t.Fatalf("two failures in the window: %s, want healthy", r.Health())
	}
	w.mon.Failure(r, context.Canceled) // the client left: not the controller's fault
	if r.Health() != balance.Healthy {
		t.Fatalf("a cancelled request counted: %s", r.Health())
	}
	w.mon.Failure(r, errTimeout)
	if r.Health() != balance.Unhealthy {
		t.Fatalf("three failures in the window: %s, want unhealthy", r.Health())
	}
	ev := w.events(KindTransition)
	if len(ev) != 1 || ev[0].Source != SourcePassive || ev[0].To != "unhealthy" || !strings.Contains(ev[0].Reason, "3 failed requests within 10s") {
		t.Errorf("transition events: %+v", ev)
	}
	if w.pool.Get(2).Health() != balance.Healthy {
		t.Errorf("the other controller changed")
	}
}

func TestHungEjectsOnlyWhenNothingAnswered(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, Config{PassiveFailures: 3})
	r := w.pool.Get(1)
	w.clock.Advance(600 * time.Millisecond)
	w.mon.Hung(r, 500*time.Millisecond) // answered 600ms ago: one failure
	if r.Health() != balance.Healthy {
		t.Fatalf("answered within two deadlines: %s", r.Health())
	}
	w.clock.Advance(500 * time.Millisecond)
	w.starv.set(w.clock.Now().Add(-100*time.Millisecond), 300*time.Millisecond)
	w.mon.Hung(r, 500*time.Millisecond)
	if r.Health() != balance.Healthy {
		t.Fatalf("hung while jenkinds was starved: %s, want no verdict", r.Health())
	}
	w.clock.Advance(2 * time.Second)
	w.mon.Hung(r, 500*time.Millisecond)
	if r.Health() != balance.Unhealthy {
		t.Fatalf("nothing answered for two deadlines: %s", r.Health())
	}
}

// A hedge missed while jenkinds was starved counts when another
// controller answered after the starvation.
func TestHungCountsWhenOthersAnswered(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, Config{PassiveFailures: 3})
	r := w.pool.Get(1)
	w.clock.Advance(2 * time.Second)
	w.starv.set(w.clock.Now().Add(-300*time.Millisecond), 300*time.Millisecond)
	w.mon.Hung(r, 500*time.Millisecond)
	if r.Health() != balance.Healthy {
		t.Fatalf("hung while jenkinds was starved and nothing else answered: %s, want no verdict", r.Health())
	}
	w.pool.Get(2).Answered(w.clock.Now().Add(-100 * time.Millisecond)) // after the starvation
	w.mon.Hung(r, 500*time.Millisecond)
	if r.Health() != balance.Unhealthy {
		t.Fatalf("hung while another controller answered: %s, want Unhealthy", r.Health())
	}
}

func TestVerdictDeadOrSlow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, Config{PassiveFailures: 1, Interval: time.Second})
	after := 30 * time.Second
	slow, dead := w.pool.Get(1), w.pool.Get(2)
	if v := w.mon.Verdict(slow, after, w.clock.Now()); v.Lost {
		t.Fatalf("a healthy controller is not lost: %+v", v)
	}
	// Slow: unhealthy on timeouts, but silent for less than after.
	w.mon.Failure(slow, errTimeout)
	w.clock.Advance(10 * time.Second)
	if v := w.mon.Verdict(slow, after, w.clock.Now()); v.Lost {
		t.Fatalf("silent 10s of 30s: %+v", v)
	}
	w.clock.Advance(21 * time.Second)
	v := w.mon.Verdict(slow, after, w.clock.Now())
	if !v.Lost || v.Hard || v.Frozen != "" || !strings.Contains(v.Evidence, "no answer since") {
		t.Fatalf("silent 31s: %+v", v)
	}
	// An answer resets the silence.
	slow.Answered(w.clock.Now())
	if v := w.mon.Verdict(slow, after, w.clock.Now()); v.Lost {
		t.Fatalf("answered just now: %+v", v)
	}
	// Dead: its connections are refused. The process is gone: at once.
	w.clock.Advance(5 * time.Second)
	w.mon.Failure(dead, refused(t))
	v = w.mon.Verdict(dead, after, w.clock.Now())
	if dead.Health() != balance.Unhealthy || !v.Lost || !v.Hard || !strings.Contains(v.Evidence, "refused") {
		t.Fatalf("refused: %s %+v", dead.Health(), v)
	}
}

func TestVerdictStarvedObserver(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, Config{PassiveFailures: 1, Interval: time.Second})
	after := 30 * time.Second
	r := w.pool.Get(1)
	w.mon.Failure(r, refused(t)) // unhealthy; then it answers again (not dead) and falls silent
	r.Answered(w.clock.Now())
	w.clock.Advance(20 * time.Second)
	w.starv.set(w.clock.Now(), 2*time.Second) // jenkinds stalled for 2s
	w.clock.Advance(15 * time.Second)         // 35s silent, but only 15s since jenkinds ran on time
	v := w.mon.Verdict(r, after, w.clock.Now())
	if v.Lost || !strings.Contains(v.Frozen, "jenkinds was starved") {
		t.Fatalf("silence across jenkinds' starvation: %+v", v)
	}
	w.clock.Advance(16 * time.Second)
	if v := w.mon.Verdict(r, after, w.clock.Now()); !v.Lost || v.Frozen != "" {
		t.Fatalf("31s of clean silence: %+v", v)
	}
	// A probe timeout while jenkinds was starved is inconclusive.
	w.starv.set(w.clock.Now(), time.Second)
	if !w.mon.starvedWithin(w.clock.Now().Add(-time.Second), w.clock.Now()) {
		t.Errorf("starvedWithin misses a starvation inside the window")
	}
	if w.mon.starvedWithin(w.clock.Now().Add(time.Second), w.clock.Now().Add(2*time.Second)) {
		t.Errorf("starvedWithin sees a starvation before the window")
	}
}

func TestMassFailureFreezesAndThaws(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, Config{PassiveFailures: 1, Interval: time.Second})
	after := 30 * time.Second
	a, b, c := w.pool.Get(1), w.pool.Get(2), w.pool.Get(3)
	w.mon.Failure(a, errTimeout)
	if len(w.events(KindFreeze)) != 0 {
		t.Fatalf("one of three is no mass failure: %+v", w.events(KindFreeze))
	}
	w.clock.Advance(500 * time.Millisecond)
	w.mon.Failure(b, errTimeout)
	fr := w.events(KindFreeze)
	if len(fr) != 1 || fr[0].Cluster != "prod" || !strings.Contains(fr[0].Reason, "2 of 3 controllers of cluster prod") {
		t.Fatalf("two of three within the interval: %+v", fr)
	}
	w.clock.Advance(31 * time.Second)
	v := w.mon.Verdict(a, after, w.clock.Now())
	if !v.Lost || v.Hard || !strings.Contains(v.Frozen, "mass failure") {
		t.Fatalf("silent but frozen: %+v", v)
	}
	// A dead one is dead, freeze or not.
	w.mon.Failure(b, refused(t))
	if v := w.mon.Verdict(b, after, w.clock.Now()); !v.Lost || !v.Hard {
		t.Fatalf("refused in a frozen cluster: %+v", v)
	}
	w.mon.reviewFreezes(w.clock.Now())
	if len(w.events(KindThaw)) != 0 {
		t.Fatalf("thawed while two are still down")
	}
	w.mon.transition(a, balance.Healthy, "back", SourceProbe, w.clock.Now())
	w.mon.reviewFreezes(w.clock.Now())
	th := w.events(KindThaw)
	if len(th) != 1 || th[0].Cluster != "prod" {
		t.Fatalf("thaw: %+v", th)
	}
	if got := w.mon.Frozen(); len(got) != 0 {
		t.Errorf("still frozen: %v", got)
	}
	// Two failing far apart are two failures, not a mass failure.
	w.clock.Advance(time.Minute)
	w.mon.transition(b, balance.Healthy, "back", SourceProbe, w.clock.Now())
	w.mon.Failure(a, errTimeout)
	w.clock.Advance(5 * time.Second)
	w.mon.Failure(c, errTimeout)
	if n := len(w.events(KindFreeze)); n != 1 {
		t.Errorf("failures 5s apart froze the cluster: %d freezes", n)
	}
}

func TestMassThreshold(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 10: 5} {
		if got := massThreshold(n); got != want {
			t.Errorf("massThreshold(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestStarvationFreezeEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, Config{UnhealthyInterval: time.Second})
	now := w.clock.Now()
	w.starv.set(now, 400*time.Millisecond)
	w.mon.NoteStarved(now, 400*time.Millisecond)
	w.mon.NoteStarved(now.Add(50*time.Millisecond), 300*time.Millisecond) // one freeze while it lasts
	fr := w.events(KindFreeze)
	if len(fr) != 1 || fr[0].Cluster != "" || !strings.Contains(fr[0].Reason, "400ms late") {
		t.Fatalf("starvation freeze: %+v", fr)
	}
	w.mon.reviewFreezes(now.Add(time.Second))
	if len(w.events(KindThaw)) != 0 {
		t.Fatalf("thawed 1s after")
	}
	w.mon.reviewFreezes(now.Add(3 * time.Second))
	if th := w.events(KindThaw); len(th) != 1 {
		t.Fatalf("thaw after a quiet while: %+v", th)
	}
}

func TestLagSeesLateWakeUps(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	l := NewLag(20*time.Millisecond, 100*time.Millisecond, func(_ time.Time, late time.Duration) { got = append(got, late) })
	t0 := time.Unix(1000, 0)
	l.note(t0, 150*time.Millisecond)
	if at, late := l.LastStarved(); !at.Equal(t0) || late != 150*time.Millisecond || len(got) != 1 {
		t.Errorf("LastStarved = %s, %s; callbacks %v", at, late, got)
	}
	// Lateness adds up within a second: many small delays are starvation
	// too; older ones fall out of the window.
	if got := l.observe(t0, 60*time.Millisecond); got != 60*time.Millisecond {
		t.Errorf("one late wake-up: %s", got)
	}
	if got := l.observe(t0.Add(500*time.Millisecond), 50*time.Millisecond); got != 110*time.Millisecond {
		t.Errorf("two within a second: %s, want 110ms", got)
	}
	if got := l.observe(t0.Add(1200*time.Millisecond), 0); got != 50*time.Millisecond {
		t.Errorf("after the first left the window: %s, want 50ms", got)
	}
	// Run measures the real scheduler: it must run and stop cleanly.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	cancel()
	<-done
}

func TestEventsStoredAndFiltered(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			d := e.Open(t)
			if err := d.Migrate(context.Background(), Migrations); err != nil {
				t.Fatal(err)
			}
			w := &world{pool: controller.NewPool(), clock: &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}, starv: &fakeStarvation{}}
			w.pool.Sync([]controller.Synced{
				{Instance: controller.Instance{ID: 1, Name: "a", URL: "http://127.0.0.1:9/", ClusterID: "prod", MaxConnections: 1, IsActive: true}},
				{Instance: controller.Instance{ID: 2, Name: "b", URL: "http://127.0.0.1:9/", ClusterID: "prod", MaxConnections: 1, IsActive: true}},
				{Instance: controller.Instance{ID: 3, Name: "c", URL: "http://127.0.0.1:9/", ClusterID: "test", MaxConnections: 1, IsActive: true}},
			})
			w.mon = New(Options{Config: Config{PassiveFailures: 1}, Pool: w.pool, DB: d, Replica: "r1", Log: slog.New(slog.DiscardHandler),
				Now: w.clock.Now, Starvation: w.starv})
			w.mon.Failure(w.pool.Get(1), errTimeout)
			w.mon.Failure(w.pool.Get(2), errTimeout) // 2 of 2 at once: prod frozen
			w.mon.Failure(w.pool.Get(3), errTimeout)
			w.mon.bg.Wait() // event writes
			ev, err := w.mon.Events(context.Background(), EventFilter{ControllerID: 1})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range ev {
				kinds = append(kinds, string(e.Kind)+":"+e.Controller)
				if e.Replica != "r1" || e.At.IsZero() || e.ID == 0 {
					t.Errorf("event fields: %+v", e)
				}
			}
			if got := strings.Join(kinds, ","); got != "freeze:,transition:a" {
				t.Errorf("controller a's events, newest first: %s", got)
			}
			// Emitted: transition a, transition b, freeze prod (2 of 2),
			// transition c, freeze test (1 of 1).
			all, err := w.mon.Events(context.Background(), EventFilter{Limit: 2})
			if err != nil || len(all) != 2 || all[0].Kind != KindFreeze || all[0].Cluster != "test" || all[1].Controller != "c" {
				t.Errorf("newest two: %+v %v", all, err)
			}
			older, err := w.mon.Events(context.Background(), EventFilter{Before: all[1].ID})
			if err != nil || len(older) != 3 || older[0].ID != all[1].ID-1 {
				t.Errorf("paging back from %d: %+v %v", all[1].ID, older, err)
			}
			if _, err := w.mon.Events(context.Background(), EventFilter{Limit: 5000}); err == nil {
				t.Errorf("limit 5000 accepted")
			}
			if err := w.mon.events.prune(context.Background(), w.clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if left, _ := w.mon.Events(context.Background(), EventFilter{}); len(left) != 0 {
				t.Errorf("pruned events remain: %+v", left)
			}
		})
	}
}

func TestEventsInMemoryWithoutDatabase(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, Config{PassiveFailures: 1})
	w.mon.Failure(w.pool.Get(2), errTimeout)
	ev, err := w.mon.Events(context.Background(), EventFilter{ControllerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ev {
		if e.ControllerID == 2 {
			t.Errorf("controller 1's events hold controller 2's: %+v", e)
		}
	}
	ev, _ = w.mon.Events(context.Background(), EventFilter{ControllerID: 2})
	if len(ev) == 0 || ev[len(ev)-1].Kind != KindTransition {
		t.Errorf("controller 2's events: %+v", ev)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// Events emitted from request paths while Run returns: their writes are
// waited for, and nothing races with Run's wait (go test -race).
func TestEventsWhileRunStops(t *testing.T) {
	t.Parallel()
	e := dbtest.Engines(t)[0]
	d := e.Open(t)
	if err := d.Migrate(context.Background(), Migrations); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		pool := controller.NewPool()
		pool.Sync([]controller.Synced{{Instance: controller.Instance{ID: 1, Name: "a", URL: "http://127.0.0.1:9/", ClusterID: "prod", MaxConnections: 1}}})
		m := New(Options{Config: Config{Interval: time.Hour}, Pool: pool, DB: d, Replica: "r1", Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- m.Run(ctx) }()
		emitted := make(chan struct{})
		go func() {
			defer close(emitted)
			r := pool.Get(1)
			for i := range 50 {
				h := balance.Healthy
				if i%2 == 0 {
					h = balance.Unhealthy
				}
				m.transition(r, h, "test", SourceProbe, time.Now())
			}
		}()
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		<-emitted
		m.bg.Wait()
	}
}
