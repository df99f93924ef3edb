package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// onFirst places builds on controller 1 of 2 (2 drains meanwhile) and
// waits until each is running (or queued, for the last queued ones).
func onFirst(t *testing.T, e *env, builds func() []dispatch.Build, want dispatch.AttemptState) []dispatch.Build {
	t.Helper()
	e.pool.Get(2).SetDraining(true)
	bs := builds()
	for i, b := range bs {
		eventually(t, 30*time.Second, func() bool {
			a, ok := e.get(b.ID).Current()
			return ok && a.State == want
		}, func() string { return fmt.Sprintf("build %d never %s", i, want) })
		bs[i] = e.get(b.ID)
	}
	e.pool.Get(2).SetDraining(false)
	return bs
}

// scripted is what a test build asks the simulator for.
var results = []string{"SUCCESS", "FAILURE", "UNSTABLE", "SUCCESS"}

func checkRedispatched(t *testing.T, e *env, before []dispatch.Build, why string) []dispatch.Build {
	t.Helper()
	var out []dispatch.Build
	for i, b0 := range before {
		b := e.waitState(b0.ID, dispatch.StateFinished, 45*time.Second)
		if b.Result != results[i%len(results)] {
			t.Errorf("build %d: result %q, want the scripted %q", b.ID, b.Result, results[i%len(results)])
		}
		if len(b.Attempts) != 2 || b.CurrentAttempt != 2 {
			t.Fatalf("build %d: attempts %+v, want 2", b.ID, b.Attempts)
		}
		a1, a2 := b.Attempts[0], b.Attempts[1]
		if a1.ControllerID != 1 || !strings.Contains(a1.Reason, why) || a1.State == dispatch.AttemptFinished {
			t.Errorf("build %d: first attempt %+v, want one on controller 1 that ended because %q", b.ID, a1, why)
		}
		if a2.State != dispatch.AttemptFinished || a2.Result != b.Result {
			t.Errorf("build %d: second attempt %+v, want it finished with the build's result", b.ID, a2)
		}
		if b0.Number != 0 && b.Number != b0.Number {
			t.Errorf("build %d: number %d after re-dispatch, want %d kept", b.ID, b.Number, b0.Number)
		}
		out = append(out, b)
	}
	return out
}

func waitFence(t *testing.T, e *env, id int64, want ...string) dispatch.Attempt {
	t.Helper()
	var a dispatch.Attempt
	eventually(t, 15*time.Second, func() bool {
		a = e.get(id).Attempts[0]
		return a.State == dispatch.AttemptFenced
	}, func() string { return fmt.Sprintf("first attempt of build %d never fenced: %+v", id, a) })
	for _, w := range want {
		if a.Fence == w {
			return a
		}
	}
	t.Errorf("build %d: first attempt fenced %q, want one of %v: %+v", id, a.Fence, want, a)
	return a
}

func TestRedispatchWhenTheControllerDies(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2, proxied: true, health: probing()})
	bs := onFirst(t, e, func() []dispatch.Build {
		var out []dispatch.Build
		for i := range 4 {
			out = append(out, e.submit(i, 3000, results[i])) // still running at the kill, even on a loaded machine
		}
		return out
	}, dispatch.AttemptRunning)
	e.proxies[0].kill(e.sim(1))
	e.setHealth(1, balance.Unhealthy)
	checkRedispatched(t, e, bs, "lost: ")
	// Back up: the lost builds are found ended, nothing to stop.
	e.proxies[0].revive(t)
	e.setHealth(1, balance.Healthy)
	for _, b := range bs {
		if a := waitFence(t, e, b.ID, dispatch.FenceEnded); a.Result != "FAILURE" {
			t.Errorf("build %d: the killed attempt came back %q, want FAILURE", b.ID, a.Result)
		}
	}
}

func TestFencingStopsTheOldAttemptWhenAHungControllerReturns(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2})
	bs := onFirst(t, e, func() []dispatch.Build {
		var out []dispatch.Build
		// Long enough to be still running when controller 1 answers
		// again, however slowly a loaded machine re-dispatches them.
		for i := range 3 {
			out = append(out, e.submit(i, 8000, results[i]))
		}
		return out
	}, dispatch.AttemptRunning)
	e.sim(1).Hang()
	e.setHealth(1, balance.Unhealthy)
	for _, b := range bs {
		eventually(t, 30*time.Second, func() bool { return len(e.get(b.ID).Attempts) == 2 },
			func() string { return fmt.Sprintf("build %d never re-dispatched", b.ID) })
	}
	// It answers again while its builds still run: they are stopped.
	e.sim(1).Unhang()
	e.setHealth(1, balance.Healthy)
	for _, b := range bs {
		if a := waitFence(t, e, b.ID, dispatch.FenceStopped); a.BackendNumber == 0 {
			t.Errorf("build %d: stopped attempt without its backend number: %+v", b.ID, a)
		}
	}
	checkRedispatched(t, e, bs, "lost: no answer since")
	if st := e.sim(1).State(); st.Running != 0 {
		t.Errorf("controller 1 still runs %d builds after fencing", st.Running)
	}
}

func TestRestartLosesRunningBuildsAndKeepsQueuedOnes(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2, executors: 1, health: probing()})
	e.pool.Get(2).SetDraining(true)
	running := e.submit(0, 4000, "SUCCESS") // long enough to be running when the restart comes, even on a loaded machine
	eventually(t, 10*time.Second, func() bool { a, _ := e.get(running.ID).Current(); return a.State == dispatch.AttemptRunning },
		func() string { return "first build never ran" })
	queued := e.submit(1, 50, "UNSTABLE")
	eventually(t, 10*time.Second, func() bool { a, _ := e.get(queued.ID).Current(); return a.State == dispatch.AttemptQueued },
		func() string { return "second build never queued" })
	e.pool.Get(2).SetDraining(false)
	e.sim(1).Restart()

	b := e.waitState(running.ID, dispatch.StateFinished, 15*time.Second)
	if b.Result != "SUCCESS" || len(b.Attempts) != 2 || !strings.Contains(b.Attempts[0].Reason, "restarted") {
		t.Errorf("running build: %s with attempts %+v; want SUCCESS on a second attempt after the restart", b.Result, b.Attempts)
	}
	q := e.waitState(queued.ID, dispatch.StateFinished, 15*time.Second)
	if q.Result != "UNSTABLE" || len(q.Attempts) != 1 || q.Attempts[0].BackendSession != e.sim(1).Session() {
		t.Errorf("queued build: %s with attempts %+v; want its one attempt kept through the restart", q.Result, q.Attempts)
	}
}

func TestLostQueueItemIsPlacedAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2, executors: 1})
	e.pool.Get(2).SetDraining(true)
	busy := e.submit(0, 60_000, "SUCCESS")
	eventually(t, 10*time.Second, func() bool { a, _ := e.get(busy.ID).Current(); return a.State == dispatch.AttemptRunning },
		func() string { return "first build never ran" })
	queued := e.submit(1, 0, "FAILURE")
	eventually(t, 10*time.Second, func() bool { a, _ := e.get(queued.ID).Current(); return a.State == dispatch.AttemptQueued },
		func() string { return "second build never queued" })
	e.pool.Get(2).SetDraining(false)
	if err := e.sim(2).SetExecutors("", 4); err != nil { // room for both there
		t.Fatal(err)
	}
	// Someone deletes the job on controller 1: its build is aborted, its
	// queue item vanishes.
	c, err := jenkins.New(e.sim(1).URL(), e.sim(1).User(), e.sim(1).Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Do(context.Background(), http.MethodPost, "job/build/doDelete", nil, ""); err != nil {
		t.Fatal(err)
	}
	q := e.waitState(queued.ID, dispatch.StateFinished, 15*time.Second)
	last := q.Attempts[len(q.Attempts)-1]
	if q.Result != "FAILURE" || last.ControllerID != 2 || !strings.Contains(q.Attempts[0].Reason, "vanished") {
		t.Errorf("queued build: %s with attempts %+v; want it placed again on controller 2", q.Result, q.Attempts)
	}
	// Until the inventory says the job is gone from controller 1, a
	// trigger there may be refused (404); refusals do not count.
	for _, a := range q.Attempts[1 : len(q.Attempts)-1] {
		if a.State != dispatch.AttemptRefused {
			t.Errorf("attempt %+v between the lost one and the last, want refused", a)
		}
	}
	// Its running build went with the job: placed again too, on controller
	// 2 (after refusals on controller 1, as above).
	var b dispatch.Build
	eventually(t, 30*time.Second, func() bool {
		b = e.get(busy.ID)
		a, _ := b.Current()
		return len(b.Attempts) >= 2 && a.ControllerID == 2
	}, func() string {
		return fmt.Sprintf("the build of the deleted job was not placed again on controller 2: %+v", b.Attempts)
	})
	if !strings.Contains(b.Attempts[0].Reason, "gone") {
		t.Errorf("running build: first attempt ended %q, want it gone", b.Attempts[0].Reason)
	}
	for _, a := range b.Attempts[1 : len(b.Attempts)-1] {
		if a.State != dispatch.AttemptRefused {
			t.Errorf("running build: attempt %+v between the lost one and the last, want refused", a)
		}
	}
}

func TestAttemptsAreLimited(t *testing.T) {
	t.Parallel()
	cfg := fast()
	cfg.MaxAttempts = 2
	e := setup(t, options{controllers: 1, cfg: cfg, health: probing()})
	b := e.submit(0, 60_000, "SUCCESS")
	for i := range 2 {
		eventually(t, 10*time.Second, func() bool {
			a, _ := e.get(b.ID).Current()
			return a.Attempt == i+1 && a.State == dispatch.AttemptRunning
		}, func() string { return fmt.Sprintf("attempt %d never ran", i+1) })
		e.sim(1).Restart()
	}
	got := e.waitState(b.ID, dispatch.StateFailed, 15*time.Second)
	if !strings.Contains(got.Reason, "no attempts left") || len(got.Attempts) != 2 {
		t.Errorf("reason %q with %d attempts, want a failure after 2", got.Reason, len(got.Attempts))
	}
}

// lossy passes requests on but loses the answer of the first n triggers,
// after the controller acted on them (or, with before, instead of
// sending them).
type lossy struct {
	next   http.RoundTripper
	n      atomic.Int32
	before bool
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "build") || l.n.Add(-1) < 0 {
		return l.next.RoundTrip(r)
	}
	if l.before {
		return nil, errors.New("connection reset (simulated)")
	}
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body.Close()
	}
	return nil, errors.New("connection reset after the request was sent (simulated)")
}

func TestTriggerWithLostAnswerIsFoundAndAdopted(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true})
	l := &lossy{next: e.hc.Transport}
	l.n.Store(2)
	e.hc = &http.Client{Transport: l}
	e.pool.SetHTTPClient(e.hc)
	e.svc = e.newService()
	e.run(e.svc)
	a, b := e.submit(0, 200, "UNSTABLE"), e.submit(1, 0, "FAILURE")
	for _, x := range []struct {
		id   int64
		want string
	}{{a.ID, "UNSTABLE"}, {b.ID, "FAILURE"}} {
		got := e.waitState(x.id, dispatch.StateFinished, 15*time.Second)
		if got.Result != x.want || len(got.Attempts) != 1 {
			t.Errorf("build %d: %s with attempts %+v, want %s in its one attempt", x.id, got.Result, got.Attempts, x.want)
		}
	}
	if st := e.sim(1).State(); st.BuildsStarted != 2 {
		t.Errorf("controller started %d builds, want 2", st.BuildsStarted)
	}
}

func TestTriggerLostBeforeSendingIsPlacedAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true})
	l := &lossy{next: e.hc.Transport, before: true}
	l.n.Store(1)
	e.hc = &http.Client{Transport: l}
	e.pool.SetHTTPClient(e.hc)
	e.svc = e.newService()
	e.run(e.svc)
	b := e.submit(0, 0, "UNSTABLE")
	got := e.waitState(b.ID, dispatch.StateFinished, 15*time.Second)
	if got.Result != "UNSTABLE" || len(got.Attempts) != 2 || !strings.Contains(got.Attempts[0].Reason, "answer was lost") {
		t.Errorf("%s with attempts %+v, want UNSTABLE on a second attempt", got.Result, got.Attempts)
	}
	waitFence(t, e, b.ID, dispatch.FenceGone)
	if st := e.sim(1).State(); st.BuildsStarted != 1 {
		t.Errorf("controller started %d builds, want 1", st.BuildsStarted)
	}
}

func TestDirectBuildsAreRecordedWithTheirOwnNumbers(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	c, err := jenkins.New(e.sim(1).URL(), e.sim(1).User(), e.sim(1).Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Let the follower see the job before anything runs.
	eventually(t, 10*time.Second, func() bool { _, err := e.svc.Job(context.Background(), "default", "plain"); return err == nil },
		func() string { return "no inventory" })
	ours := []int64{}
	for i := range 4 {
		if i%2 == 0 {
			if _, _, err := c.Do(context.Background(), http.MethodPost, "job/plain/build?delay=0sec", nil, ""); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "plain"})
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, b.ID)
		e.waitState(b.ID, dispatch.StateFinished, 10*time.Second)
	}
	var list []dispatch.Build
	eventually(t, 10*time.Second, func() bool {
		list, err = e.svc.List(context.Background(), dispatch.Filter{Job: "plain", State: dispatch.StateFinished})
		return err == nil && len(list) == 4
	}, func() string { return fmt.Sprintf("%d finished builds of plain, want 4", len(list)) })
	numbers, direct := map[int64]bool{}, 0
	for _, b := range list {
		numbers[b.Number] = true
		if b.Direct() {
			direct++
			if b.Cause.Description == "" || len(b.Attempts) != 0 && b.Attempts[0].BackendNumber == 0 {
				t.Errorf("direct build %+v lacks its cause or backend number", b)
			}
		}
	}
	if direct != 2 || len(numbers) != 4 {
		t.Errorf("%d direct builds and %d distinct numbers, want 2 and 4: %+v", direct, len(numbers), list)
	}
}
