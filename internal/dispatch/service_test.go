package dispatch_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

func TestSubmitRunsToItsScriptedResult(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	b := e.submit(1, 20, "UNSTABLE")
	if b.ID == 0 || b.State != dispatch.StateAccepted {
		t.Fatalf("Submit answered %+v, want an accepted build with an id", b)
	}
	b = e.waitState(b.ID, dispatch.StateFinished, 10*time.Second)
	if b.Result != "UNSTABLE" {
		t.Errorf("result %q, want UNSTABLE", b.Result)
	}
	if b.Number != 1 {
		t.Errorf("global number %d, want 1", b.Number)
	}
	if len(b.Attempts) != 1 {
		t.Fatalf("attempts %+v, want 1", b.Attempts)
	}
	a := b.Attempts[0]
	if a.State != dispatch.AttemptFinished || a.Result != "UNSTABLE" || a.BackendNumber != 1 || a.BackendQueueID == 0 || a.ControllerID != 1 {
		t.Errorf("attempt %+v, want finished UNSTABLE as backend build 1 of controller 1", a)
	}
	if b.Cause.Kind != "api" || b.StartedAt == nil || b.FinishedAt == nil {
		t.Errorf("cause %+v started %v finished %v", b.Cause, b.StartedAt, b.FinishedAt)
	}
	got, err := e.svc.GetByNumber(context.Background(), "default", "build", 1)
	if err != nil || got.ID != b.ID {
		t.Errorf("GetByNumber(build, 1) = %d, %v; want build %d", got.ID, err, b.ID)
	}
	if _, err := e.svc.GetByNumber(context.Background(), "default", "build", 2); !errors.Is(err, dispatch.ErrNotFound) {
		t.Errorf("GetByNumber of a missing number: %v, want ErrNotFound", err)
	}
}

func TestSubmitRefusesWhatJenkinsRefuses(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true})
	ctx := context.Background()
	tests := []struct {
		name string
		req  dispatch.Request
		want error
	}{
		{"unknown job", dispatch.Request{Job: "nope"}, dispatch.ErrUnknownJob},
		{"unknown cluster", dispatch.Request{Cluster: "elsewhere", Job: "build"}, dispatch.ErrUnknownJob},
		{"folder is not a job", dispatch.Request{Job: "team"}, dispatch.ErrUnknownJob},
		{"disabled", dispatch.Request{Job: "off"}, dispatch.ErrNotBuildable},
		{"not parameterized", dispatch.Request{Job: "plain", WithParameters: true}, dispatch.ErrNotParameterized},
		{"no job", dispatch.Request{}, dispatch.ErrInvalid},
		{"negative delay", dispatch.Request{Job: "build", Delay: -time.Second}, dispatch.ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := e.svc.Submit(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: Submit(%+v) = %v, want %v", tt.name, tt.req, err, tt.want)
		}
	}
	for _, job := range []string{"build", "plain", "team/deploy", "/team/deploy/"} {
		if _, err := e.svc.Submit(ctx, dispatch.Request{Job: job}); err != nil {
			t.Errorf("Submit(%s) = %v", job, err)
		}
	}
	info, err := e.svc.Job(ctx, "default", "build")
	if err != nil || !info.Parameterized || !info.Buildable || len(info.Controllers) != 1 || strings.Join(info.Parameters, ",") != "SIM_DURATION_MS,SIM_RESULT,SEQ" {
		t.Errorf("Job(build) = %+v, %v", info, err)
	}
}

func TestSubmitAcceptsWhenNoControllerAnswersYet(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true, proxied: true, health: probing()})
	e.proxies[0].kill(e.sim(1))
	b, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "nope"})
	if err != nil {
		t.Fatalf("Submit while the only controller is down: %v; want accepted (it cannot be refuted)", err)
	}
	e.proxies[0].revive(t)
	e.run(e.svc)
	b = e.waitState(b.ID, dispatch.StateFailed, 10*time.Second)
	if !strings.Contains(b.Reason, "unknown job") {
		t.Errorf("reason %q, want it to say the job is unknown", b.Reason)
	}
}

func TestGlobalNumbersArePerJobAndDense(t *testing.T) {
	t.Parallel()
	e := setup(t, options{controllers: 2})
	var ids []int64
	for i := range 6 {
		ids = append(ids, e.submit(i, 0, "SUCCESS").ID)
	}
	d, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "team/deploy"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		b := e.waitState(id, dispatch.StateFinished, 10*time.Second)
		if b.Number < 1 || b.Number > 6 || seen[b.Number] {
			t.Errorf("build %d has number %d: want a distinct one in 1..6", id, b.Number)
		}
		seen[b.Number] = true
	}
	if b := e.waitState(d.ID, dispatch.StateFinished, 10*time.Second); b.Number != 1 {
		t.Errorf("first build of team/deploy has number %d, want 1", b.Number)
	}
	list, err := e.svc.List(context.Background(), dispatch.Filter{Job: "build", State: dispatch.StateFinished, Limit: 4})
	if err != nil || len(list) != 4 || list[0].ID != ids[0] {
		t.Errorf("List = %d builds, %v; want the first 4", len(list), err)
	}
	next, err := e.svc.List(context.Background(), dispatch.Filter{Job: "build", AfterID: list[3].ID})
	if err != nil || len(next) != 2 {
		t.Errorf("List after %d = %d builds, %v; want 2", list[3].ID, len(next), err)
	}
	if _, err := e.svc.List(context.Background(), dispatch.Filter{State: "bogus"}); !errors.Is(err, dispatch.ErrInvalid) {
		t.Errorf("List with a bad state: %v, want ErrInvalid", err)
	}
}

func TestDelayHoldsTheBuildBack(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	held, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "plain", Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Another build going all the way through proves the placer ran.
	e.waitState(e.submit(1, 0, "SUCCESS").ID, dispatch.StateFinished, 10*time.Second)
	if b := e.get(held.ID); b.State != dispatch.StateAccepted || len(b.Attempts) != 0 {
		t.Errorf("delayed build: state %s, %d attempts; want accepted and untouched", b.State, len(b.Attempts))
	}
}

func TestCoalesceJoinsAnIdenticalWaitingBuild(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true})
	ctx := context.Background()
	req := dispatch.Request{Job: "build", Params: []dispatch.Param{{Name: "SEQ", Value: "1"}}, Coalesce: true}
	first, err := e.svc.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.svc.Submit(ctx, req)
	if err != nil || second.ID != first.ID || !second.Coalesced || first.Coalesced {
		t.Errorf("second Submit = build %d coalesced %v (%v); want build %d coalesced", second.ID, second.Coalesced, err, first.ID)
	}
	req.Coalesce = false
	third, err := e.svc.Submit(ctx, req)
	if err != nil || third.ID == first.ID {
		t.Errorf("Submit without Coalesce = build %d (%v); want a new build", third.ID, err)
	}
}

func TestCancelAQueuedBuildCancelsItsQueueItem(t *testing.T) {
	t.Parallel()
	e := setup(t, options{executors: 1})
	// The built-in node's one executor is busy: the next build waits in
	// the controller's queue.
	busy := e.submit(1, 60_000, "SUCCESS")
	e.waitState(busy.ID, dispatch.StateRunning, 10*time.Second)
	queued := e.submit(2, 0, "SUCCESS")
	var b dispatch.Build
	eventually(t, 10*time.Second, func() bool {
		b = e.get(queued.ID)
		a, ok := b.Current()
		return ok && a.State == dispatch.AttemptQueued
	}, func() string { return "the second build never sat in the controller's queue" })
	b, err := e.svc.Cancel(context.Background(), queued.ID)
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if b.State != dispatch.StateCancelled {
		t.Errorf("state %s, want cancelled", b.State)
	}
	eventually(t, 10*time.Second, func() bool {
		a, _ := e.get(queued.ID).Current()
		return a.State == dispatch.AttemptFenced && a.Fence == dispatch.FenceCancelled
	}, func() string { a, _ := e.get(queued.ID).Current(); return "attempt " + string(a.State) + " " + a.Fence })
	if st := e.sim(1).State(); st.QueueLength != 0 {
		t.Errorf("controller queue has %d items after the cancel, want 0", st.QueueLength)
	}
	if _, err := e.svc.Cancel(context.Background(), queued.ID); !errors.Is(err, dispatch.ErrFinished) {
		t.Errorf("second Cancel: %v, want ErrFinished", err)
	}
	// Cancelling the running one stops it.
	if _, err := e.svc.Cancel(context.Background(), busy.ID); err != nil {
		t.Fatalf("Cancel running: %v", err)
	}
	if b := e.waitState(busy.ID, dispatch.StateFinished, 10*time.Second); b.Result != "ABORTED" || !b.StopRequested {
		t.Errorf("stopped build: result %q stopRequested %v, want ABORTED", b.Result, b.StopRequested)
	}
}

func TestCancelAcceptedBuild(t *testing.T) {
	t.Parallel()
	e := setup(t, options{noRun: true})
	b := e.submit(1, 0, "SUCCESS")
	b, err := e.svc.Cancel(context.Background(), b.ID)
	if err != nil || b.State != dispatch.StateCancelled || b.FinishedAt == nil {
		t.Errorf("Cancel = %s %v, %v; want cancelled", b.State, b.FinishedAt, err)
	}
	if _, err := e.svc.Cancel(context.Background(), 9999); !errors.Is(err, dispatch.ErrNotFound) {
		t.Errorf("Cancel of a missing build: %v, want ErrNotFound", err)
	}
}

func TestLogFollowsTheCurrentAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	b := e.submit(1, 300, "SUCCESS")
	var text []byte
	var size int64
	more := true
	var err error
	eventually(t, 10*time.Second, func() bool {
		if text, size, more, err = e.svc.Log(context.Background(), b.ID, 0); err != nil {
			t.Fatalf("Log: %v", err)
		}
		return !more
	}, func() string { return "the console never ended" })
	if !strings.Contains(string(text), "Finished: SUCCESS") || int64(len(text)) != size {
		t.Errorf("console %q (size %d), want the whole log with its footer", text, size)
	}
	tail, size2, _, err := e.svc.Log(context.Background(), b.ID, size-18)
	if err != nil || string(tail) != "Finished: SUCCESS\n" || size2 != size {
		t.Errorf("Log from %d = %q size %d (%v)", size-17, tail, size2, err)
	}
}

func TestMetricsCountBuildsAndAttempts(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	b := e.submit(1, 1, "SUCCESS")
	e.waitState(b.ID, dispatch.StateFinished, 10*time.Second)
	reg := prometheus.NewRegistry()
	e.svc.Register(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"jenkinds_builds cluster=default state=finished": 1,
		"jenkinds_build_attempts fence= state=finished":  1,
		"jenkinds_builds_scrape_errors":                  0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v; all: %v", k, g, ok, v, got)
		}
	}
}

// Concurrent Submits are committed together (group commit): each gets its
// own id, and its row is there when Submit returns.
func TestConcurrentSubmitsAreEachStored(t *testing.T) {
	t.Parallel()
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, options{engine: &engine})
			const n = 200
			ids := make(chan int64, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					b, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "build", Params: []dispatch.Param{{Name: "SEQ", Value: strconv.Itoa(i)}}, Delay: time.Hour})
					if err != nil {
						t.Errorf("submit %d: %v", i, err)
						return
					}
					if got, err := e.svc.Get(context.Background(), b.ID); err != nil || got.Params[0].Value != strconv.Itoa(i) {
						t.Errorf("submit %d: build %d reads back %+v, %v", i, b.ID, got.Params, err)
					}
					ids <- b.ID
				})
			}
			wg.Wait()
			close(ids)
			seen := map[int64]bool{}
			for id := range ids {
				if seen[id] {
					t.Errorf("id %d given twice", id)
				}
				seen[id] = true
			}
			if len(seen) != n {
				t.Errorf("%d distinct ids, want %d", len(seen), n)
			}
		})
	}
}
