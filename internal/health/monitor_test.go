package health

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

type recorder struct {
	mu    sync.Mutex
	recs  map[int64][]controller.HealthRecord
	order []int64 // ids in the order their records came
}

func (r *recorder) RecordHealth(_ context.Context, id int64, h controller.HealthRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs[id] = append(r.recs[id], h)
	r.order = append(r.order, id)
	return nil
}

func (r *recorder) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.order...)
}

type fixture struct {
	sims []*jenkinssim.Controller
	pool *controller.Pool
	mon  *Monitor
	rec  *recorder
}

func setup(t *testing.T, n int, cfg Config) *fixture {
	t.Helper()
	ctrls, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: n, Template: jenkinssim.Config{
		Token: "11tok", QuietPeriod: 0, Agents: 1, RestartDuration: 100 * time.Millisecond,
		BuildDuration: jenkinssim.Duration{Min: time.Hour, Max: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range ctrls {
			_ = c.Close()
		}
	})
	var synced []controller.Synced
	for i, c := range ctrls {
		synced = append(synced, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: c.Name(), URL: strings.TrimSuffix(c.URL(), "/"), Username: "admin",
			ClusterID: "default", MaxConnections: 100, IsActive: true, Priority: 5,
		}, Token: "11tok"})
	}
	pool := controller.NewPool()
	pool.Sync(synced)
	rec := &recorder{recs: map[int64][]controller.HealthRecord{}}
	mon := New(Options{Config: cfg, Pool: pool, Recorder: rec, Log: slog.New(slog.DiscardHandler)})
	return &fixture{sims: ctrls, pool: pool, mon: mon, rec: rec}
}

func statuses(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Status.String()
	}
	return out
}

func TestHealthyAndLoad(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{Timeout: 5 * time.Second})
	ctx := context.Background()
	res := f.mon.CheckNow(ctx, "")
	if got := strings.Join(statuses(res), ","); got != "healthy,healthy" {
		t.Fatalf("first round: %s (%v)", got, res)
	}
	if res[0].Version != jenkinssim.DefaultVersion || res[0].Session == "" {
		t.Errorf("version %q session %q", res[0].Version, res[0].Session)
	}
	// One agent online, nothing running: load 1.
	if got := f.pool.Get(1).Load(); got != 1 {
		t.Errorf("idle load: got %d, want 1 (one online agent)", got)
	}
	// Two running builds and one queued item raise it to 1+2+1.
	sim := f.sims[0]
	for _, p := range []string{"job/deploy/buildWithParameters?VERSION=1", "job/deploy/buildWithParameters?VERSION=2", "job/hello/build?delay=3600sec"} {
		trigger(t, sim, p)
	}
	f.sims[0].SetExecutors("built-in", 1)
	f.sims[0].SetExecutors("agent-1", 1)
	res = f.mon.CheckNow(ctx, "")
	if res[0].Jenkins.RunningBuilds != 1 || res[0].Jenkins.QueuedItems != 2 || res[0].Jenkins.OnlineAgents != 1 {
		t.Errorf("status: %+v", res[0].Jenkins)
	}
	if got := f.pool.Get(1).Load(); got != 4 {
		t.Errorf("load: got %d, want 4", got)
	}
	recs := f.rec.recs[1]
	if last := recs[len(recs)-1]; last.Status != balance.Healthy || last.CurrentLoad != 4 || last.Version == "" || last.JenkinsSession == "" {
		t.Errorf("recorded: %+v", last)
	}
	// The least loaded controller is now the second.
	if r, err := f.pool.Pick("default", ""); err != nil || r.ID() != 2 {
		t.Errorf("pick: %v %v", r, err)
	}
}

func trigger(t *testing.T, sim *jenkinssim.Controller, path string) {
	t.Helper()
	req, _ := httpRequest("POST", sim.URL()+path)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("trigger %s: %d", path, resp.StatusCode)
	}
}

func TestDownFallsAndRises(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{Rise: 2, Fall: 2, Timeout: 5 * time.Second})
	ctx := context.Background()
	f.mon.CheckNow(ctx, "")
	f.sims[0].Down()
	if got := strings.Join(statuses(f.mon.CheckNow(ctx, "")), ","); got != "healthy,healthy" {
		t.Errorf("one failure is below the fall threshold: %s", got)
	}
	res := f.mon.CheckNow(ctx, "")
	if got := strings.Join(statuses(res), ","); got != "unhealthy,healthy" {
		t.Fatalf("after two failures: %s", got)
	}
	if !strings.Contains(res[0].Err, "connection refused") {
		t.Errorf("reason: %q", res[0].Err)
	}
	for i := 0; i < 20; i++ {
		if r, err := f.pool.Pick("default", balance.StrategyRoundRobin); err != nil || r.ID() == 1 {
			t.Fatalf("an unhealthy controller must leave the pool: %v %v", r, err)
		}
	}
	if err := f.sims[0].Up(); err != nil {
		t.Fatal(err)
	}
	res = f.mon.CheckNow(ctx, "")
	if res[0].Status != balance.Unhealthy {
		t.Errorf("one good probe is below the rise threshold: %s", res[0].Status)
	}
	if !res[0].Restarted {
		t.Errorf("a crashed and started controller has a new session: restart expected")
	}
	if res = f.mon.CheckNow(ctx, ""); res[0].Status != balance.Healthy {
		t.Errorf("after two good probes: %s", res[0].Status)
	}
	seen := map[int64]bool{}
	for i := 0; i < 4; i++ {
		r, err := f.pool.Pick("default", balance.StrategyRoundRobin)
		if err != nil {
			t.Fatal(err)
		}
		seen[r.ID()] = true
	}
	if !seen[1] {
		t.Errorf("a recovered controller must come back to the pool")
	}
}

func TestAllDownExplains(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{Fall: 1})
	f.sims[0].Down()
	f.mon.CheckNow(context.Background(), "")
	_, err := f.pool.Pick("default", "")
	if err == nil || !strings.Contains(err.Error(), "unhealthy") {
		t.Errorf("pick with every controller down: %v", err)
	}
}

// A hung controller is cut off by the timeout and does not hold back the
// probes of the others: their results arrive first.
func TestHungControllerDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f := setup(t, 3, Config{Timeout: 300 * time.Millisecond, Fall: 1, Interval: time.Hour})
	f.sims[1].Hang()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.mon.Run(ctx)
	eventually(t, func() bool { return len(f.rec.ids()) >= 3 })
	if order := f.rec.ids(); order[2] != 2 {
		t.Errorf("the hung controller's result must come last: order %v", order)
	}
	if r := f.pool.Get(2); r.Health() != balance.Unhealthy {
		t.Errorf("hung controller: %s", r.Health())
	}
	recs := f.rec.recs[2]
	if len(recs) == 0 || !strings.Contains(recs[0].Error, "timed out after 300ms") {
		t.Errorf("hung reason: %+v", recs)
	}
	if f.pool.Get(1).Health() != balance.Healthy || f.pool.Get(3).Health() != balance.Healthy {
		t.Errorf("the others must be healthy")
	}
}

func TestRestartAndQuietDown(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{Fall: 1, Rise: 1})
	ctx := context.Background()
	first := f.mon.CheckNow(ctx, "")[0]
	f.sims[0].Restart()
	res := f.mon.CheckNow(ctx, "")[0]
	if res.Status != balance.Unhealthy || res.Err != "HTTP 503: Jenkins is starting or restarting" {
		t.Errorf("during restart: %s %q", res.Status, res.Err)
	}
	eventually(t, func() bool { return f.mon.CheckNow(ctx, "")[0].Status == balance.Healthy })
	if f.sims[0].Session() == first.Session {
		t.Fatal("simulator kept its session")
	}
	recs := f.rec.recs[1]
	sawNew := false
	for _, r := range recs {
		sawNew = sawNew || r.JenkinsSession == f.sims[0].Session()
	}
	if !sawNew {
		t.Errorf("the new session must be recorded: %+v", recs)
	}

	post(t, f.sims[0], "quietDown")
	res = f.mon.CheckNow(ctx, "")[0]
	if res.Status != balance.Degraded || !strings.Contains(res.Err, "quieting down") {
		t.Errorf("quieting down: %s %q", res.Status, res.Err)
	}
	post(t, f.sims[0], "cancelQuietDown")
	f.sims[0].SetExecutors("built-in", 0)
	f.sims[0].SetAgentOffline("agent-1", true)
	res = f.mon.CheckNow(ctx, "")[0]
	if res.Status != balance.Degraded || res.Err != "no online executors" {
		t.Errorf("no executors: %s %q", res.Status, res.Err)
	}
}

func TestRestartSeenByObserver(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{})
	var restarts int
	f.mon.Observe(func(e Event) {
		if e.Kind == KindRestart {
			restarts++
		}
	})
	ctx := context.Background()
	f.mon.CheckNow(ctx, "")
	f.sims[0].Down()
	if err := f.sims[0].Up(); err != nil {
		t.Fatal(err)
	}
	f.mon.CheckNow(ctx, "")
	f.mon.CheckNow(ctx, "")
	if restarts != 1 {
		t.Errorf("restarts observed: %d, want 1", restarts)
	}
}

func TestInactiveNotProbed(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{})
	inst := f.pool.Get(1).Instance()
	inst.IsActive = false
	f.pool.Sync([]controller.Synced{{Instance: inst, Token: "11tok"}})
	res := f.mon.CheckNow(context.Background(), "default")
	if len(res) != 1 || res[0].Err != "inactive: not probed" || len(f.rec.recs[1]) != 0 {
		t.Errorf("inactive: %+v, records %d", res, len(f.rec.recs[1]))
	}
}

func TestCustomHealthCheckURL(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{Fall: 1, Rise: 1})
	inst := f.pool.Get(1).Instance()
	inst.HealthCheckURL = "/nope"
	f.pool.Sync([]controller.Synced{{Instance: inst, Token: "11tok"}})
	res := f.mon.CheckNow(context.Background(), "")[0]
	if res.Status != balance.Unhealthy || !strings.Contains(res.Err, "HTTP 404") {
		t.Errorf("404 health URL: %s %q", res.Status, res.Err)
	}
	inst.HealthCheckURL = "/login"
	f.pool.Sync([]controller.Synced{{Instance: inst, Token: "11tok"}})
	if res := f.mon.CheckNow(context.Background(), "")[0]; res.Status != balance.Healthy {
		t.Errorf("/login health URL: %s %q", res.Status, res.Err)
	}
}

// A probe that times out while jenkinds itself is starved says nothing:
// the controller keeps its health. The same timeout on time counts.
func TestTimeoutWhileStarvedIsInconclusive(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{Timeout: 300 * time.Millisecond, Fall: 1})
	starv := &fakeStarvation{}
	f.mon = New(Options{Config: Config{Timeout: 300 * time.Millisecond, Fall: 1}, Pool: f.pool, Recorder: f.rec,
		Log: slog.New(slog.DiscardHandler), Starvation: starv})
	ctx := context.Background()
	if res := f.mon.CheckNow(ctx, "")[0]; res.Status != balance.Healthy {
		t.Fatalf("first probe: %s %s", res.Status, res.Err)
	}
	f.sims[0].Hang()
	starv.set(time.Now(), time.Second)
	res := f.mon.CheckNow(ctx, "")[0]
	if !res.Inconclusive || res.Status != balance.Healthy || f.pool.Get(1).Health() != balance.Healthy {
		t.Fatalf("timeout while starved: %+v", res)
	}
	starv.set(time.Now().Add(-time.Hour), time.Second)
	res = f.mon.CheckNow(ctx, "")[0]
	if res.Inconclusive || res.Status != balance.Unhealthy {
		t.Fatalf("timeout on time: %+v", res)
	}
}

// A controller slower than the probe's Timeout fails its probes, but the
// answer that comes late proves it is there: its silence does not grow,
// and Verdict does not call it lost. A hung one sends nothing late.
func TestLateAnswerProvesSlowNotGone(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{Timeout: 100 * time.Millisecond, Patience: 5 * time.Second, Fall: 1})
	ctx := context.Background()
	f.mon.CheckNow(ctx, "")
	f.sims[0].Slow(300 * time.Millisecond)
	f.sims[1].Hang()
	t.Cleanup(f.sims[1].Unhang)
	before := time.Now()
	res := f.mon.CheckNow(ctx, "")
	if res[0].Status != balance.Unhealthy || res[1].Status != balance.Unhealthy {
		t.Fatalf("both time out: %s %s", res[0].Status, res[1].Status)
	}
	slow, hung := f.pool.Get(1), f.pool.Get(2)
	testkit.Eventually(t, 10*time.Second, func() bool { return slow.LastAnswer().After(before) },
		testkit.Sayf("the slow controller's late answer"))
	after := 30 * time.Second
	if v := f.mon.Verdict(slow, after, before.Add(after).Add(time.Millisecond)); v.Lost {
		t.Errorf("a slow controller that answered late is lost: %+v", v)
	}
	if hung.LastAnswer().After(before) {
		t.Errorf("a hung controller answered")
	}
	if v := f.mon.Verdict(hung, after, before.Add(after).Add(time.Millisecond)); !v.Lost || v.Hard {
		t.Errorf("a hung controller silent for %s: %+v, want lost on silence", after, v)
	}
}
