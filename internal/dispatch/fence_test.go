package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/leader"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestStaleLeaderWritesAreRefused: replica A led, was paused, and B took
// the lease over. A's dispatcher, still running with A's old term, places
// nothing: its writes are refused by the lease's epoch. B's places the
// build, once.
func TestStaleLeaderWritesAreRefused(t *testing.T) {
	t.Parallel()
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, options{engine: &engine, noRun: true})
			ctx := context.Background()
			if err := e.d.Migrate(ctx, leader.Migrations); err != nil {
				t.Fatal(err)
			}
			cfg := leader.Config{TTL: 2 * time.Second, Renew: 500 * time.Millisecond}
			a := leader.New(e.d, "dispatch", "replica-a", testLogger(), nil, cfg)
			b := leader.New(e.d, "dispatch", "replica-b", testLogger(), nil, cfg)

			// A leads, and hands its term out; then it stops (a pause that
			// outlived its lease, as B sees it: A's term is over).
			terms := make(chan leader.Term, 1)
			actx, stopA := context.WithCancel(ctx)
			aDone := make(chan struct{})
			go func() {
				defer close(aDone)
				_ = a.Run(actx, func(wctx context.Context, term leader.Term) error {
					select {
					case terms <- term:
					default:
					}
					<-wctx.Done()
					return nil
				})
			}()
			termA := <-terms
			stopA()
			<-aDone
			testkit.Eventually(t, 10*time.Second, func() bool { ok, err := b.TryAcquire(ctx); return err == nil && ok },
				testkit.Sayf("B to take the lease"))

			// A's dispatcher wakes up late with its old term.
			staleSvc := e.newService()
			stopStale := runFenced(t, staleSvc, termA)
			build := e.submit(0, 10, "SUCCESS")
			testkit.Eventually(t, 10*time.Second, func() bool { return staleSvc.StaleWrites() > 0 },
				testkit.Sayf("A's placer to try, and be refused"))
			stopStale()
			if got := e.get(build.ID); got.State != dispatch.StateAccepted || len(got.Attempts) != 0 {
				t.Fatalf("a stale leader placed build %d: %s %+v", build.ID, got.State, got.Attempts)
			}

			// B's term places it.
			terms = make(chan leader.Term, 1)
			bctx, stopB := context.WithCancel(ctx)
			bDone := make(chan struct{})
			go func() {
				defer close(bDone)
				_ = b.Run(bctx, func(wctx context.Context, term leader.Term) error {
					select {
					case terms <- term: // the first term; a busy machine may cost B the lease and give it a new one
					default:
					}
					return e.newService().Run(wctx, term)
				})
			}()
			t.Cleanup(func() { stopB(); <-bDone })
			<-terms
			got := e.waitState(build.ID, dispatch.StateFinished, 45*time.Second)
			if len(got.Attempts) != 1 {
				t.Errorf("build %d: attempts %+v, want one, by B", build.ID, got.Attempts)
			}
		})
	}
}

// runFenced runs svc with fence until the returned func is called.
func runFenced(t *testing.T, svc *dispatch.Service, fence dispatch.Fence) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx, fence) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return stop
}
