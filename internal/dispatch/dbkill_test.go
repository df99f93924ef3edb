package dispatch_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// TestSubmitSurvivesKilledBackends terminates every PostgreSQL backend of
// the Service's database handle, round after round, during a burst of
// 200 concurrent Submits (the way a restart of the server looks to a
// client): the lookup of an identical waiting build and the group commit
// retry, so every Submit succeeds, and no retry inserts a row twice. Only the backends of this test's handle are
// killed (by application_name): other tests share the server and the
// database.
func TestSubmitSurvivesKilledBackends(t *testing.T) {
	t.Parallel()
	const submits, rounds = 200, 30
	pg := dbtest.Engines(t)[1]
	if pg.Name != string(db.Postgres) {
		t.Fatalf("engine %s, want postgres", pg.Name)
	}
	base := pg.URL(t) // skips, or fails when CI is set, without PostgreSQL
	tagged, app := dbtest.Tagged(t, base)
	engine := dbtest.Engine{Name: pg.Name, URL: func(testing.TB) string { return tagged }}
	e := setup(t, options{engine: &engine, noRun: true})
	ctx := context.Background()
	killer, err := db.Open(ctx, base)
	if err != nil {
		t.Fatalf("open the killer's handle: %v", err)
	}
	t.Cleanup(func() { killer.Close() })

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ids    = map[int64]bool{}
		failed []error
		begin  = make(chan struct{})
	)
	for i := range submits {
		wg.Go(func() {
			<-begin
			b, err := e.svc.Submit(ctx, dispatch.Request{Job: "build", Params: []dispatch.Param{{Name: "SEQ", Value: strconv.Itoa(i)}},
				Cause: dispatch.Cause{Kind: "api"}, Coalesce: true}) // as the front door's triggers: a read, then the insert
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err)
				return
			}
			ids[b.ID] = true
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Kill every 20ms, 30 times (0.6s, about the measured restart), or
	// until the burst is over. The ticker paces the kills; no test
	// outcome waits on it.
	killed := 0
	kill := func() {
		var n int
		err := killer.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&n)
		if err != nil {
			t.Errorf("terminate backends: %v", err)
		}
		killed += n
	}
	kill() // the pool's idle connections die before the burst uses them
	close(begin)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
kills:
	for range rounds {
		select {
		case <-done:
			break kills
		case <-tick.C:
			kill()
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the Submits did not return within 60s")
	}
	t.Logf("terminated %d backends", killed)
	if killed == 0 {
		t.Errorf("no backend terminated: the test tested nothing")
	}
	for _, err := range failed {
		t.Errorf("Submit: %v", err)
	}
	var rows, distinct int
	if err := killer.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT params) FROM builds`).Scan(&rows, &distinct); err != nil {
		t.Fatalf("count builds: %v", err)
	}
	if rows != submits || distinct != submits || len(ids) != submits-len(failed) {
		t.Errorf("builds: %d rows, %d distinct, %d ids returned; want %d of each", rows, distinct, len(ids), submits)
	}
}
