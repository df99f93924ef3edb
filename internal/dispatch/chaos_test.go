package dispatch_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestChaos runs a few hundred scripted builds over 3 simulated
// controllers while one is killed, one hangs and one restarts, with the
// real health monitor deciding what is unhealthy; and again with jenkinds
// itself restarted mid-run; on SQLite and PostgreSQL. The kill is a
// crash seen through a proxy (see proxy). Every build must end
// finished with its scripted result, with exactly one counted attempt and
// its own global number, and every build the controllers ran must be one
// of the attempts jenkinds knows.
func TestChaos(t *testing.T) {
	t.Parallel()
	// For its whole length the CPU is saturated by other processes, as on
	// a busy CI machine: jenkinds must not take its own slowness for the
	// controllers' (no build placed again for it, none run twice).
	testkit.Hog(t, 2)
	for _, engine := range dbtest.Engines(t) {
		for _, restart := range []bool{false, true} {
			name := engine.Name
			if restart {
				name += "/jenkinds-restarted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				chaos(t, engine, restart)
			})
		}
	}
}

var chaosResults = []string{"SUCCESS", "FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"}

func chaos(t *testing.T, engine dbtest.Engine, restartJenkinds bool) {
	const (
		n     = 300
		waves = 10
	)
	cfg := fast()
	cfg.MaxAttempts = 5
	cfg.FenceWindow = 5 * time.Second
	// A controller must be silent for 2s before its builds move on silence
	// alone: longer than the hang below, so the hang must cost nothing.
	cfg.RedispatchAfter = 2 * time.Second
	e := setup(t, options{controllers: 3, executors: 8, cfg: cfg, engine: &engine, proxied: true,
		health: &health.Config{Interval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond, UnhealthyInterval: 100 * time.Millisecond, Rise: 2, Fall: 2}})

	script := func(i int) (int, string) { return (i * 37) % 250, chaosResults[i%len(chaosResults)] }
	ids := make([]int64, 0, n)
	terminal := func() int {
		k := 0
		for _, s := range []dispatch.State{dispatch.StateFinished, dispatch.StateFailed, dispatch.StateCancelled} {
			list, err := e.svc.List(context.Background(), dispatch.Filter{State: s, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			k += len(list)
		}
		return k
	}
	for wave := range waves {
		for i := wave * n / waves; i < (wave+1)*n/waves; i++ {
			d, r := script(i)
			ids = append(ids, e.submit(i, d, r).ID)
		}
		switch wave {
		case 2:
			busy(e.sim(1))
			e.proxies[0].kill(e.sim(1))
			time.AfterFunc(800*time.Millisecond, func() { e.proxies[0].revive(t) })
		case 4:
			mustFault(t, e.sim(2), jenkinssim.Fault{Kind: "hang", For: jenkinssim.Dur(800 * time.Millisecond)})
		case 5:
			if restartJenkinds {
				e.stop()
				e.svc = e.newService()
				e.stop = e.run(e.svc)
			}
		case 6:
			busy(e.sim(3))
			mustFault(t, e.sim(3), jenkinssim.Fault{Kind: "restart", For: jenkinssim.Dur(300 * time.Millisecond)})
		}
		// Pace the waves by progress, so the faults land mid-run.
		want := wave * n / waves / 2
		eventually(t, 30*time.Second, func() bool { return terminal() >= want },
			func() string { return fmt.Sprintf("wave %d: fewer than %d builds ended", wave, want) })
	}
	eventually(t, 40*time.Second, func() bool { return terminal() == n },
		func() string { return fmt.Sprintf("%d of %d builds ended", terminal(), n) })

	// Fencing settles: no attempt is left to watch.
	var builds []dispatch.Build
	eventually(t, 20*time.Second, func() bool {
		builds = builds[:0]
		for _, id := range ids {
			builds = append(builds, e.get(id))
		}
		for _, b := range builds {
			for _, a := range b.Attempts {
				if a.State != dispatch.AttemptFinished && a.State != dispatch.AttemptFenced && a.State != dispatch.AttemptRefused {
					return false
				}
			}
		}
		return true
	}, func() string { return "attempts still unsettled" })

	numbers := map[int64]int64{}
	claimed := map[[2]int64]int64{}
	redispatched, fenced := 0, map[string]int{}
	for i, b := range builds {
		d, r := script(i)
		_ = d
		if b.State != dispatch.StateFinished || b.Result != r {
			t.Errorf("build %d (seq %d): %s %q (%s), want finished %q", b.ID, i, b.State, b.Result, b.Reason, r)
			continue
		}
		counted := 0
		for _, a := range b.Attempts {
			if a.State == dispatch.AttemptFinished {
				counted++
				if a.Attempt != b.CurrentAttempt || a.Result != b.Result {
					t.Errorf("build %d: counted attempt %d (%s), current is %d (%s)", b.ID, a.Attempt, a.Result, b.CurrentAttempt, b.Result)
				}
			}
			if a.State == dispatch.AttemptFenced {
				fenced[a.Fence]++
				if a.Reason == "" {
					t.Errorf("build %d: attempt %d fenced without a reason", b.ID, a.Attempt)
				}
			}
			if a.BackendNumber != 0 {
				k := [2]int64{a.ControllerID, a.BackendNumber}
				if other, dup := claimed[k]; dup {
					t.Errorf("backend build %v is held by builds %d and %d", k, other, b.ID)
				}
				claimed[k] = b.ID
			}
		}
		if counted != 1 {
			t.Errorf("build %d: %d counted attempts, want exactly 1: %+v", b.ID, counted, b.Attempts)
		}
		if b.CurrentAttempt > 1 {
			redispatched++
		}
		for _, a := range b.Attempts {
			// Every re-dispatch has evidence that the controller lost the
			// build (refused connection, restart, vanished build); none is
			// for slowness: the hang is shorter than RedispatchAfter.
			if strings.Contains(a.Reason, "no answer since") {
				t.Errorf("build %d: attempt %d re-dispatched on silence although no controller was silent for %s: %+v", b.ID, a.Attempt, cfg.RedispatchAfter, a)
			}
		}
		if other, dup := numbers[b.Number]; dup || b.Number < 1 || b.Number > n {
			t.Errorf("build %d: number %d (also build %d); want a distinct one in 1..%d", b.ID, b.Number, other, n)
		}
		numbers[b.Number] = b.ID
	}
	all, err := e.svc.List(context.Background(), dispatch.Filter{Limit: 1000})
	if err != nil || len(all) != n {
		t.Errorf("%d builds in the database (%v), want exactly the %d accepted: none direct, none lost", len(all), err, n)
		for _, b := range all {
			if b.Direct() {
				b = e.get(b.ID)
				seq, _ := strconv.Atoi(b.Params[2].Value)
				t.Logf("direct build %d: %+v %+v; the jenkinds build: %+v", b.ID, b.Params, b.Attempts, builds[seq].Attempts)
			}
		}
	}
	// Every build the controllers ran is an attempt jenkinds knows, and
	// none still runs.
	ran := 0
	for i, sim := range e.sims {
		c, err := jenkins.New(sim.URL(), sim.User(), sim.Token(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var job struct {
			Builds []struct {
				Number    int64 `json:"number"`
				QueueID   int64 `json:"queueId"`
				Building  bool  `json:"building"`
				Timestamp int64 `json:"timestamp"`
				Actions   []struct {
					Parameters []struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"parameters"`
				} `json:"actions"`
			} `json:"allBuilds"`
		}
		if _, err := c.GetJSON(context.Background(), "job/build/api/json?tree="+url.QueryEscape("allBuilds[number,queueId,building,timestamp,actions[parameters[name,value]]]"), &job); err != nil {
			t.Fatal(err)
		}
		for _, b := range job.Builds {
			ran++
			if _, ok := claimed[[2]int64{int64(i + 1), b.Number}]; !ok {
				seq := -1
				for _, a := range b.Actions {
					for _, p := range a.Parameters {
						if p.Name == "SEQ" {
							seq, _ = strconv.Atoi(p.Value)
						}
					}
				}
				t.Errorf("controller %d ran build #%d (queue item %d, started %s, seq %d) that no attempt holds", i+1, b.Number, b.QueueID,
					time.UnixMilli(b.Timestamp).UTC().Format("15:04:05.000"), seq)
				if seq >= 0 && seq < len(builds) {
					for _, a := range builds[seq].Attempts {
						t.Logf("  attempt %+v", a)
					}
				}
			}
			if b.Building {
				t.Errorf("controller %d still runs build #%d", i+1, b.Number)
			}
		}
	}
	if redispatched == 0 {
		t.Errorf("no build was re-dispatched: the faults missed the run")
	}
	t.Logf("%d builds, %d backend builds run, %d re-dispatched, fenced %v", n, ran, redispatched, fenced)
}

// busy waits a while for sim to run builds, so that the fault about to
// hit it lands among them: on a busy machine the builds of a wave may take
// seconds to reach a controller, and with every fault missing the run
// would test nothing ("the faults missed the run"). The fault is injected
// anyway when none comes.
func busy(sim *jenkinssim.Controller) {
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sim.State().Running == 0 && time.Now().Before(deadline) {
		<-tick.C
	}
}

func mustFault(t *testing.T, c *jenkinssim.Controller, f jenkinssim.Fault) {
	t.Helper()
	if err := c.Schedule(f); err != nil {
		t.Fatalf("fault %s: %v", f.Kind, err)
	}
}
