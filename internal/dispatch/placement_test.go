package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// placedOn submits n builds and returns the controller of each one's
// first attempt once it has one.
func placedOn(t *testing.T, e *env, n int, req func(i int) dispatch.Request) []int64 {
	t.Helper()
	var out []int64
	for i := range n {
		b, err := e.svc.Submit(context.Background(), req(i))
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		var got dispatch.Build
		eventually(t, 10*time.Second, func() bool {
			got = e.get(b.ID)
			return len(got.Attempts) > 0
		}, func() string { return "never placed: " + string(got.State) + " " + got.Reason })
		out = append(out, got.Attempts[0].ControllerID)
	}
	return out
}

func buildReq(i int) dispatch.Request {
	return dispatch.Request{Job: "build", Params: []dispatch.Param{{Name: "SEQ", Value: string(rune('a' + i))}}}
}

func TestPlacementHonoursDrainHealthQuietDownLoadAndInventory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		prep  func(e *env)
		job   string
		wantC int64
	}{
		{"draining", func(e *env) { e.pool.Get(1).SetDraining(true) }, "build", 2},
		{"unhealthy", func(e *env) { e.setHealth(1, balance.Unhealthy) }, "build", 2},
		{"busier", func(e *env) { // builds not jenkinds', seen by a probe
			e.pool.Get(2).Probed(time.Now(), jenkins.Status{TotalExecutors: 8, BusyExecutors: 8, RunningBuilds: 8, QueuedItems: 4})
		}, "build", 1},
		{"quieting down", func(e *env) {
			e.pool.Get(1).Probed(time.Now(), jenkins.Status{QuietingDown: true, TotalExecutors: 8})
		}, "build", 2},
		{"job only on one", func(e *env) {
			if err := e.sim(2).AddJob(jenkinssim.JobSpec{Name: "only-here", Concurrent: true}); err != nil {
				t.Fatal(err)
			}
		}, "only-here", 2},
		{"job disabled on one", func(e *env) {
			if err := e.sim(1).AddJob(jenkinssim.JobSpec{Name: "half", Disabled: true}); err != nil {
				t.Fatal(err)
			}
			if err := e.sim(2).AddJob(jenkinssim.JobSpec{Name: "half", Concurrent: true}); err != nil {
				t.Fatal(err)
			}
		}, "half", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, options{controllers: 2})
			tt.prep(e)
			got := placedOn(t, e, 4, func(i int) dispatch.Request {
				if tt.job == "build" {
					return buildReq(i)
				}
				return dispatch.Request{Job: tt.job}
			})
			for i, c := range got {
				if c != tt.wantC {
					t.Errorf("build %d placed on controller %d, want %d", i, c, tt.wantC)
				}
			}
		})
	}
}

func TestPlacementSpreadsByLoad(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 3, noRun: true})
	// The builds wait for the term to start: it reads every controller's
	// jobs before it places any (placed while only some had answered,
	// they would all go to those).
	// Long builds, so that each placed one is load on its controller.
	var ids []int64
	for i := range 9 {
		ids = append(ids, e.submit(i, 60_000, "SUCCESS").ID)
	}
	e.run(e.svc)
	per := map[int64]int{}
	var tries []string
	for _, id := range ids {
		b := e.waitState(id, dispatch.StateRunning, 10*time.Second)
		per[b.Attempts[0].ControllerID]++
		for _, a := range b.Attempts {
			tries = append(tries, fmt.Sprintf("build %d attempt %d on %d: %s %s", b.ID, a.Attempt, a.ControllerID, a.State, a.Reason))
		}
	}
	for c := int64(1); c <= 3; c++ {
		if per[c] != 3 {
			t.Errorf("controller %d got %d builds, want 3 each: %v", c, per[c], per)
		}
	}
	if t.Failed() {
		for _, s := range tries {
			t.Log(s)
		}
		for _, r := range e.pool.All() {
			t.Logf("controller %d: %+v", r.ID(), r.Facts())
		}
	}
}

func TestBuildsWaitWhileNoControllerCanTakeThem(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2})
	if err := e.sim(1).AddJob(jenkinssim.JobSpec{Name: "only-one"}); err != nil {
		t.Fatal(err)
	}
	e.pool.Get(1).SetDraining(true)
	b, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "only-one"})
	if err != nil {
		t.Fatal(err)
	}
	// The placer looked at it, found nothing to take it, and put it back.
	eventually(t, 10*time.Second, func() bool { return e.get(b.ID).NotBefore.After(b.NotBefore) },
		func() string { return "the placer never looked at the build" })
	if got := e.get(b.ID); got.State != dispatch.StateAccepted || len(got.Attempts) != 0 {
		t.Fatalf("build %s with %d attempts while the only controller with the job drains; want accepted", got.State, len(got.Attempts))
	}
	e.pool.Get(1).SetDraining(false)
	if got := e.waitState(b.ID, dispatch.StateFinished, 10*time.Second); got.Attempts[0].ControllerID != 1 {
		t.Errorf("placed on %d, want 1", got.Attempts[0].ControllerID)
	}
}

// TestBacklogIsFollowedSooner: while builds wait for room, a controller
// running jenkinds' builds is followed every BusyFollowInterval, not
// FollowInterval, so that the room a build leaves is filled at once, and
// the room is counted free as soon as the round saw the build end. Here
// FollowInterval is ten minutes: the sixth build can only be placed if
// the ends of four builds before it were seen by busy rounds.
func TestBacklogIsFollowedSooner(t *testing.T) {
	t.Parallel()
	cfg := fast()
	cfg.FollowInterval, cfg.BusyFollowInterval = 10*time.Minute, 20*time.Millisecond
	e := setup(t, options{controllers: 1, executors: 1, cfg: cfg}) // room for 2 of jenkinds' builds
	var ids []int64
	for i := range 6 {
		ids = append(ids, e.submit(i, 50, "SUCCESS").ID)
	}
	for _, id := range ids {
		eventually(t, 30*time.Second, func() bool { return len(e.get(id).Attempts) > 0 },
			func() string { return fmt.Sprintf("build %d never placed: %+v", id, e.get(id)) })
	}
	for _, id := range ids[:4] {
		if b := e.get(id); b.State != dispatch.StateFinished || len(b.Attempts) != 1 {
			t.Errorf("build %d: %s with %d attempts before the last two were placed; want finished, one attempt", id, b.State, len(b.Attempts))
		}
	}
}
