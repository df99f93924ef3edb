package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// TestServiceRestartPicksUnfinishedBuildsUp stops jenkinds' Service with
// builds in every state and starts a second one on the same database: it
// follows each where it is, and nothing runs twice.
func TestServiceRestartPicksUnfinishedBuildsUp(t *testing.T) {
	t.Parallel()
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, options{controllers: 2, executors: 2, engine: &engine})
			type want struct {
				id     int64
				result string
			}
			var all []want
			add := func(b dispatch.Build, result string) dispatch.Build {
				all = append(all, want{b.ID, result})
				return b
			}
			e.waitState(add(e.submit(0, 0, "SUCCESS"), "SUCCESS").ID, dispatch.StateFinished, 10*time.Second)
			var running []dispatch.Build
			for i := 1; i <= 4; i++ {
				running = append(running, add(e.submit(i, 1500, results[i%4]), results[i%4]))
			}
			for _, b := range running {
				e.waitState(b.ID, dispatch.StateRunning, 10*time.Second)
			}
			queued := add(e.submit(5, 50, "UNSTABLE"), "UNSTABLE")
			eventually(t, 10*time.Second, func() bool { a, _ := e.get(queued.ID).Current(); return a.State == dispatch.AttemptQueued },
				func() string { return "never queued" })
			delayed, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "build", Delay: 200 * time.Millisecond,
				Params: []dispatch.Param{{Name: "SEQ", Value: "6"}, {Name: "SIM_RESULT", Value: "FAILURE"}}})
			if err != nil {
				t.Fatal(err)
			}
			add(delayed, "FAILURE")
			e.stop()

			e.svc = e.newService()
			e.run(e.svc)
			add(e.submit(7, 0, "SUCCESS"), "SUCCESS")
			for _, w := range all {
				b := e.waitState(w.id, dispatch.StateFinished, 15*time.Second)
				if b.Result != w.result || len(b.Attempts) != 1 {
					t.Errorf("build %d: %s with attempts %+v, want %s in one attempt", b.ID, b.Result, b.Attempts, w.result)
				}
			}
			started := int64(0)
			for _, s := range e.sims {
				started += s.State().BuildsStarted
			}
			if started != int64(len(all)) {
				t.Errorf("controllers started %d builds for %d accepted, want one each", started, len(all))
			}
			counts, err := e.svc.Counts(context.Background())
			if err != nil || counts[dispatch.StateFinished] != len(all) {
				t.Errorf("Counts = %v, %v; want %d finished", counts, err, len(all))
			}
		})
	}
}
