package apitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// FleetConfig describes the Jenkins controllers behind a test server's
// builds (StartFleet).
type FleetConfig struct {
	// Controllers is how many simulated controllers to start. Default: 1.
	Controllers int
	// Cluster is their cluster. Default: controller.DefaultCluster.
	Cluster string
	// Jobs are the jobs every controller has. Default: FleetJobs().
	Jobs []jenkinssim.JobSpec
	// Dispatch tunes the build engine. Default: FastDispatch().
	Dispatch *dispatch.Config
}

// FleetJobs are the default jobs of a test fleet:
//
//   - "hello": no parameters, builds in a millisecond and succeeds;
//   - "build": parameterized, scripted by SIM_DURATION_MS (default 0) and
//     SIM_RESULT (default SUCCESS), concurrent;
//   - "team/deploy": a job in a folder, with a parameter ENV;
//   - "off": disabled.
func FleetJobs() []jenkinssim.JobSpec {
	return []jenkinssim.JobSpec{
		{Name: "hello", Concurrent: true, DurationMs: 1},
		{Name: "build", Concurrent: true, Parameters: []jenkinssim.ParamSpec{
			{Name: "SIM_DURATION_MS", Default: "0"}, {Name: "SIM_RESULT", Default: "SUCCESS"}, {Name: "SEQ"},
		}},
		{Name: "team/deploy", Concurrent: true, DurationMs: 1, Parameters: []jenkinssim.ParamSpec{{Name: "ENV", Default: "qa"}}},
		{Name: "off", Disabled: true},
	}
}

// FastDispatch is a build engine configuration with short intervals, so
// tests see builds move without waiting long.
func FastDispatch() dispatch.Config {
	return dispatch.Config{
		FollowInterval:    20 * time.Millisecond,
		InventoryInterval: 200 * time.Millisecond,
		PlaceInterval:     20 * time.Millisecond,
		RequestTimeout:    5 * time.Second,
		RedispatchAfter:   time.Second,
		AmbiguousGrace:    time.Second,
		FenceWindow:       time.Second,
		RetryBase:         20 * time.Millisecond,
		RetryMax:          200 * time.Millisecond,
		Cooldown:          200 * time.Millisecond,
	}
}

// Fleet is a real dispatch.Service, running until the test ends, over the
// test server's database and simulated Jenkins controllers registered in
// its Store, and the health authority (health.Monitor) of those
// controllers, whose event log is in the same database: the server's
// Config.Builds, Config.Policies and Config.Events. Its methods of those
// interfaces are the Service's and the Monitor's. The Monitor does not
// probe: a test makes events with its Failure, Answered and NoteStarved.
type Fleet struct {
	svc       atomic.Pointer[dispatch.Service]
	mon       atomic.Pointer[health.Monitor]
	Pool      *controller.Pool
	Sims      []*jenkinssim.Controller
	Instances []controller.Instance // the registered controllers, as Sims
	// Logs holds the engine's log, as text without times.
	Logs *Buffer
}

// StartFleet runs the API as Start does, with Config.Builds a real build
// engine placing builds on fc's simulated controllers. When
// JENKINDS_TEST_HOG is set, CPU hogs run until t ends (see
// testkit.HogFromEnv).
//
//	s, fleet := apitest.StartFleet(t, dbtest.Engines(t)[0], apitest.FleetConfig{Controllers: 2})
func StartFleet(t testing.TB, e dbtest.Engine, fc FleetConfig, configure ...func(*api.Config)) (*Server, *Fleet) {
	t.Helper()
	testkit.HogFromEnv(t)
	if fc.Cluster == "" {
		fc.Cluster = controller.DefaultCluster
	}
	if fc.Jobs == nil {
		fc.Jobs = FleetJobs()
	}
	cfg := FastDispatch()
	if fc.Dispatch != nil {
		cfg = *fc.Dispatch
	}
	sims, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: max(fc.Controllers, 1), Template: jenkinssim.Config{
		QuietPeriod: 0, Executors: 4, Jobs: fc.Jobs,
		BuildDuration: jenkinssim.Duration{Min: time.Millisecond, Max: time.Millisecond},
	}})
	if err != nil {
		t.Fatalf("start simulated controllers: %v", err)
	}
	t.Cleanup(func() {
		for _, s := range sims {
			s.Close()
		}
	})
	// The config gets the Fleet, whose methods reach the engine set
	// below, before the server answers anything.
	f := &Fleet{Pool: controller.NewPool(), Sims: sims, Logs: &Buffer{}}
	s := Start(t, e, append([]func(*api.Config){func(c *api.Config) { c.Builds, c.Policies, c.Events = f, f, f }}, configure...)...)

	ctx := context.Background()
	if err := s.DB.Migrate(ctx, dispatch.Migrations, health.Migrations); err != nil {
		t.Fatalf("migrate dispatch and health: %v", err)
	}
	var synced []controller.Synced
	for _, sim := range sims {
		inst, err := s.Store.Create(ctx, controller.CreateInput{
			Name: sim.Name(), URL: sim.URL(), Username: sim.User(), APIToken: sim.Token(),
			ClusterID: &fc.Cluster, MaxConnections: ptr(1000),
		})
		if err != nil {
			t.Fatalf("register %s: %v", sim.Name(), err)
		}
		f.Instances = append(f.Instances, inst)
		inst.HealthStatus = balance.Healthy
		synced = append(synced, controller.Synced{Instance: inst, Token: sim.Token()})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	f.Pool.SetHTTPClient(&http.Client{Transport: tr})
	f.Pool.Sync(synced)
	for _, inst := range f.Instances {
		rt := f.Pool.Get(inst.ID)
		rt.SetHealth(balance.Healthy, time.Now())
		rt.Probed(time.Now(), jenkins.Status{TotalExecutors: 4}) // as a first probe would find the built-in node
	}
	mon := health.New(health.Options{Pool: f.Pool, DB: s.DB, Replica: "apitest", Log: NewLogger(f.Logs)})
	f.mon.Store(mon)
	svc := dispatch.New(dispatch.Options{Config: cfg, DB: s.DB, Pool: f.Pool, Health: mon, Log: NewLogger(f.Logs)})
	f.svc.Store(svc)

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(runCtx, dispatch.NoFence{}) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		svc.Close()
	})
	return s, f
}

// Service is the build engine.
func (f *Fleet) Service() *dispatch.Service { return f.svc.Load() }

func (f *Fleet) Submit(ctx context.Context, req dispatch.Request) (dispatch.Build, error) {
	return f.Service().Submit(ctx, req)
}

func (f *Fleet) Get(ctx context.Context, id int64) (dispatch.Build, error) {
	return f.Service().Get(ctx, id)
}

func (f *Fleet) List(ctx context.Context, flt dispatch.Filter) ([]dispatch.Build, error) {
	return f.Service().List(ctx, flt)
}

func (f *Fleet) Cancel(ctx context.Context, id int64) (dispatch.Build, error) {
	return f.Service().Cancel(ctx, id)
}

func (f *Fleet) Log(ctx context.Context, id, start int64) ([]byte, int64, bool, error) {
	return f.Service().Log(ctx, id, start)
}

// Monitor is the health authority of the fleet's controllers.
func (f *Fleet) Monitor() *health.Monitor { return f.mon.Load() }

func (f *Fleet) Events(ctx context.Context, flt health.EventFilter) ([]health.Event, error) {
	return f.Monitor().Events(ctx, flt)
}

func (f *Fleet) Frozen() map[string]string { return f.Monitor().Frozen() }

func (f *Fleet) SetPolicy(ctx context.Context, r dispatch.PolicyRule) error {
	return f.Service().SetPolicy(ctx, r)
}

func (f *Fleet) ClearPolicy(ctx context.Context, cluster, job string) error {
	return f.Service().ClearPolicy(ctx, cluster, job)
}

func (f *Fleet) Policies(ctx context.Context, cluster string) ([]dispatch.PolicyRule, error) {
	return f.Service().Policies(ctx, cluster)
}

// Fail reports to the health authority, as the front door would, refused
// requests to controller id: as many as make it unhealthy
// (health.Config.PassiveFailures), which the event log records.
func (f *Fleet) Fail(t testing.TB, id int64) {
	t.Helper()
	rt := f.Pool.Get(id)
	if rt == nil {
		t.Fatalf("controller %d is not in the fleet", id)
	}
	for range f.Monitor().Config().PassiveFailures {
		c, err := net.Dial("tcp", testkit.DeadAddr(t))
		if err == nil {
			c.Close()
			t.Fatal("a dial of a dead address succeeded")
		}
		f.Monitor().Failure(rt, err)
	}
}

// WaitEvents waits until the event log, written in the background, holds
// n events, and returns them, newest first.
func (f *Fleet) WaitEvents(t testing.TB, n int) []health.Event {
	t.Helper()
	var (
		events []health.Event
		err    error
	)
	testkit.Eventually(t, WaitDeadline, func() bool {
		events, err = f.Events(context.Background(), health.EventFilter{Limit: max(n, 1)})
		return err == nil && len(events) == n
	}, func() string { return fmt.Sprintf("%d events: %+v, %v", n, events, err) })
	return events
}

func ptr[T any](v T) *T { return &v }

var (
	_ api.Builds             = (*Fleet)(nil)
	_ api.HealthEvents       = (*Fleet)(nil)
	_ api.RedispatchPolicies = (*Fleet)(nil)
)

// WaitBuild waits until build id is as done wants it, and returns it: at
// most a generous deadline, since tests must not depend on timing.
func (f *Fleet) WaitBuild(t testing.TB, id int64, done func(dispatch.Build) bool) dispatch.Build {
	t.Helper()
	var (
		b   dispatch.Build
		err error
	)
	testkit.Eventually(t, WaitDeadline, func() bool {
		b, err = f.Get(context.Background(), id)
		return err == nil && done(b)
	}, func() string {
		return fmt.Sprintf("build %d: %+v, %v", id, b, err)
	})
	return b
}

// Terminal is a WaitBuild condition: the build ended.
func Terminal(b dispatch.Build) bool { return b.State.Terminal() }

// WaitDeadline bounds every wait of these helpers: far above what a
// healthy run takes, so that only a real hang fails a test.
const WaitDeadline = 30 * time.Second
