package dispatch_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// starving is jenkinds' real starvation detector, plus a switch that
// makes jenkinds starved, now and until switched off, and tells the
// health authority so (a freeze event).
type starving struct {
	lag  *health.Lag
	mu   sync.Mutex
	on   bool
	mon  *health.Monitor
	last time.Time
}

func (s *starving) LastStarved() (time.Time, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.last = time.Now()
	}
	if at, late := s.lag.LastStarved(); at.After(s.last) {
		return at, late
	}
	return s.last, 2 * time.Second
}

func (s *starving) monitor() *health.Monitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mon
}

func (s *starving) setMonitor(m *health.Monitor) {
	s.mu.Lock()
	s.mon = m
	s.mu.Unlock()
}

func (s *starving) set(on bool) {
	s.mu.Lock()
	s.on = on
	s.mu.Unlock()
	if on {
		s.monitor().NoteStarved(time.Now(), 2*time.Second)
	}
}

// TestSlowObserverRedispatchesNothing: every controller alive, but
// jenkinds cannot tell — its probes time out because the controllers
// answer slowly, or jenkinds itself is starved of CPU (a real hog runs
// beside). Running builds are never placed again, none runs twice, and
// the freeze is visible as an event.
func TestSlowObserverRedispatchesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []string{"probes delayed", "jenkinds starved"} {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			testkit.Hog(t, 2)
			cfg := fast()
			cfg.RedispatchAfter = 500 * time.Millisecond
			hcfg := health.Config{Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, UnhealthyInterval: 50 * time.Millisecond, Rise: 2, Fall: 2}
			starv := &starving{}
			starv.lag = health.NewLag(20*time.Millisecond, 75*time.Millisecond, func(at time.Time, late time.Duration) {
				if m := starv.monitor(); m != nil {
					m.NoteStarved(at, late)
				}
			})
			lagCtx, stopLag := context.WithCancel(context.Background())
			lagDone := make(chan struct{})
			go func() { defer close(lagDone); starv.lag.Run(lagCtx) }()
			t.Cleanup(func() { stopLag(); <-lagDone })
			e := setup(t, options{controllers: 3, executors: 4, cfg: cfg, starvation: starv, health: &hcfg})
			starv.setMonitor(e.health)
			var events []health.Event
			var mu sync.Mutex
			e.health.Observe(func(ev health.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() })
			const n = 9
			var ids []int64
			for i := range n {
				ids = append(ids, e.submit(i, 4000, "SUCCESS").ID)
			}
			for _, id := range ids {
				testkit.Eventually(t, time.Minute, func() bool { a, _ := e.get(id).Current(); return a.State == dispatch.AttemptRunning },
					testkit.Sayf("build %d to run", id))
			}
			began := time.Now()
			switch tc {
			case "probes delayed":
				// Every answer takes longer than a probe may: the probes time
				// out and every controller turns unhealthy at once.
				for _, sim := range e.sims {
					sim.Slow(600 * time.Millisecond)
					t.Cleanup(sim.ClearFaults)
				}
				// Either every controller turns unhealthy at once (a mass
				// failure), or, the machine being busy, jenkinds sees itself
				// starved and the timeouts prove nothing: a freeze either way.
				testkit.Eventually(t, 20*time.Second, func() bool { return hasEvent(&mu, &events, health.KindFreeze, "") },
					testkit.Sayf("a freeze"))
			case "jenkinds starved":
				starv.set(true)
				testkit.Eventually(t, 20*time.Second, func() bool { return hasEvent(&mu, &events, health.KindFreeze, "jenkinds starved") },
					testkit.Sayf("a starvation freeze"))
				// A controller then falls silent, judged unhealthy before
				// (passive evidence): while jenkinds is starved, its silence
				// proves nothing.
				e.sim(2).Hang()
				t.Cleanup(e.sim(2).Unhang)
				e.setHealth(2, balance.Unhealthy)
			}
			// Let three times RedispatchAfter pass: nothing may move meanwhile.
			testkit.Eventually(t, 30*time.Second, func() bool { return time.Since(began) >= 3*cfg.RedispatchAfter },
				testkit.Sayf("time to pass"))
			for _, id := range ids {
				if b := e.get(id); len(b.Attempts) != 1 {
					t.Errorf("build %d placed again although its controller only was slow: %+v", id, b.Attempts)
				}
			}
			starv.set(false)
			for _, sim := range e.sims {
				sim.ClearFaults()
				sim.Unhang()
			}
			// Once jenkinds can tell again, the builds end where they ran.
			for _, id := range ids {
				b := e.waitState(id, dispatch.StateFinished, 30*time.Second)
				if len(b.Attempts) != 1 || b.Result != "SUCCESS" {
					t.Errorf("build %d: %s %q with attempts %+v; want its one attempt's SUCCESS", id, b.State, b.Result, b.Attempts)
				}
			}
			if ran := backendBuilds(t, e); ran != n {
				t.Errorf("the controllers ran %d builds for %d accepted: some ran twice", ran, n)
			}
		})
	}
}

func hasEvent(mu *sync.Mutex, events *[]health.Event, kind health.Kind, reason string) bool {
	mu.Lock()
	defer mu.Unlock()
	for _, e := range *events {
		if e.Kind == kind && strings.Contains(e.Reason, reason) {
			return true
		}
	}
	return false
}

// backendBuilds counts the builds of job "build" the controllers ran.
func backendBuilds(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	for _, sim := range e.sims {
		c, err := jenkins.New(sim.URL(), sim.User(), sim.Token(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var job struct {
			Builds []struct{} `json:"allBuilds"`
		}
		if _, err := c.GetJSON(context.Background(), "job/build/api/json?tree="+url.QueryEscape("allBuilds[number]"), &job); err != nil {
			t.Fatal(err)
		}
		n += len(job.Builds)
	}
	return n
}

// TestQueuedOnlyJobIsNeverRunTwice: a job whose re-dispatch policy is
// queued-only, whose controller dies mid-build, fails with the reason and
// is never triggered again; a job under the default policy (always) is
// placed again, as before.
func TestQueuedOnlyJobIsNeverRunTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2, proxied: true, health: probing()})
	ctx := context.Background()
	if err := e.svc.SetPolicy(ctx, dispatch.PolicyRule{Cluster: "default", Job: "build", Policy: dispatch.PolicyQueuedOnly}); err != nil {
		t.Fatal(err)
	}
	if p, err := e.svc.PolicyOf(ctx, "default", "build"); err != nil || p != dispatch.PolicyQueuedOnly {
		t.Fatalf("policy of build: %s, %v", p, err)
	}
	if p, _ := e.svc.PolicyOf(ctx, "default", "team/deploy"); p != dispatch.PolicyAlways {
		t.Fatalf("policy of team/deploy: %s, want the default", p)
	}
	if err := e.svc.SetPolicy(ctx, dispatch.PolicyRule{Cluster: "default", Policy: "sometimes"}); err == nil {
		t.Errorf("an unknown policy was accepted")
	}
	e.pool.Get(2).SetDraining(true)
	deploy := e.submit(0, 60_000, "SUCCESS")
	other, err := e.svc.Submit(ctx, dispatch.Request{Job: "team/deploy", Params: []dispatch.Param{{Name: "SIM_DURATION_MS", Value: "60000"}, {Name: "SEQ", Value: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{deploy.ID, other.ID} {
		testkit.Eventually(t, 10*time.Second, func() bool { a, _ := e.get(id).Current(); return a.State == dispatch.AttemptRunning },
			testkit.Sayf("build %d to run on controller 1", id))
	}
	e.pool.Get(2).SetDraining(false)
	e.proxies[0].kill(e.sim(1))

	b := e.waitState(deploy.ID, dispatch.StateFailed, 20*time.Second)
	if len(b.Attempts) != 1 || b.Attempts[0].Redispatch != dispatch.PolicyQueuedOnly || !strings.Contains(b.Reason, "queued-only") {
		t.Errorf("queued-only build: reason %q, attempts %+v; want it failed on its one attempt, saying why", b.Reason, b.Attempts)
	}
	o := e.waitState(other.ID, dispatch.StateRunning, 20*time.Second)
	if len(o.Attempts) != 2 || o.Attempts[1].ControllerID != 2 || o.Attempts[0].Redispatch != dispatch.PolicyAlways {
		t.Errorf("always build: attempts %+v; want it placed again on controller 2", o.Attempts)
	}
	// Controller 2 got the always job's build and nothing of the deploy.
	if st := e.sim(2).State(); st.BuildsStarted != 1 {
		t.Errorf("controller 2 started %d builds, want 1 (the always job's)", st.BuildsStarted)
	}
	if _, err := e.svc.Stop(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
}

// TestDirectBuildsBeyondTheWindowAreAllRecorded: more builds end on a
// controller between two rounds than one page (Window) holds: every one
// is recorded as a direct build, none skipped.
func TestDirectBuildsBeyondTheWindowAreAllRecorded(t *testing.T) {
	t.Parallel()
	cfg := fast()
	cfg.Window = 100
	e := setup(t, options{cfg: cfg, executors: 16})
	ctx := context.Background()
	// The follower knows the job, and its scan mark, before the direct builds.
	first, err := e.svc.Submit(ctx, dispatch.Request{Job: "build", Params: []dispatch.Param{{Name: "SEQ", Value: "first"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(first.ID, dispatch.StateFinished, 10*time.Second)
	e.stop()
	const direct = 250
	c, err := jenkins.New(e.sim(1).URL(), e.sim(1).User(), e.sim(1).Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each with its own SEQ: Jenkins merges a trigger into an identical
	// item still queued, which would make fewer builds than triggers.
	for i := range direct {
		if _, err := c.Trigger(ctx, "build", []jenkins.Param{{Name: "SEQ", Value: strconv.Itoa(i)}}, true); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		st := e.sim(1).State()
		return st.Running == 0 && st.QueueLength == 0 && st.BuildsFinished >= direct+1
	}, func() string { return fmt.Sprintf("the direct builds to end: %+v", e.sim(1).State()) })
	e.svc = e.newService()
	e.stop = e.run(e.svc)
	var list []dispatch.Build
	testkit.Eventually(t, 30*time.Second, func() bool {
		list, err = e.svc.List(ctx, dispatch.Filter{Job: "build", Limit: 1000})
		return err == nil && len(list) == direct+1
	}, func() string { return fmt.Sprintf("%d builds of the job recorded, want %d", len(list), direct+1) })
	numbers := map[int64]bool{}
	for _, b := range list {
		numbers[b.Number] = true
	}
	if len(numbers) != direct+1 {
		t.Errorf("%d distinct numbers for %d builds", len(numbers), direct+1)
	}
}
