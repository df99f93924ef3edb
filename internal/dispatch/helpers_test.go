package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// simJobs are the jobs every simulated controller has: "build" is
// parameterized and concurrent, scripted by SIM_DURATION_MS and
// SIM_RESULT; SEQ keeps identical builds apart (Jenkins merges identical
// queued items); "plain" has no parameters; "off" is disabled.
func simJobs() []jenkinssim.JobSpec {
	return []jenkinssim.JobSpec{
		{Name: "build", Concurrent: true, Parameters: []jenkinssim.ParamSpec{
			{Name: "SIM_DURATION_MS", Default: "0"}, {Name: "SIM_RESULT", Default: "SUCCESS"}, {Name: "SEQ"},
		}},
		{Name: "plain", Concurrent: true, DurationMs: 1},
		{Name: "off", Disabled: true},
		{Name: "team/deploy", Concurrent: true, Parameters: []jenkinssim.ParamSpec{{Name: "SIM_DURATION_MS", Default: "0"}, {Name: "SEQ"}}},
	}
}

// fast is a configuration with short intervals for tests.
func fast() dispatch.Config {
	return dispatch.Config{
		FollowInterval:    20 * time.Millisecond,
		InventoryInterval: 200 * time.Millisecond,
		PlaceInterval:     20 * time.Millisecond,
		RequestTimeout:    time.Second,
		RedispatchAfter:   50 * time.Millisecond,
		AmbiguousGrace:    300 * time.Millisecond,
		FenceWindow:       time.Second,
		RetryBase:         20 * time.Millisecond,
		RetryMax:          200 * time.Millisecond,
		Cooldown:          200 * time.Millisecond,
	}
}

// probing is a health configuration for tests whose controllers fail
// and come back: the health authority probes them, so that one the
// dispatcher's failed requests made unhealthy (passive health) rises again.
func probing() *health.Config {
	return &health.Config{Interval: 100 * time.Millisecond, Timeout: time.Second, UnhealthyInterval: 50 * time.Millisecond, Rise: 1, Fall: 2}
}

type options struct {
	controllers int
	executors   int
	cfg         dispatch.Config
	engine      *dbtest.Engine
	noRun       bool
	simJobs     []jenkinssim.JobSpec
	proxied     bool           // controllers behind a proxy each (env.kill)
	health      *health.Config // the health authority's; nil: passive only, never run
	starvation  health.Starvation
}

// env is one test's world: simulated controllers in a pool, a database
// and a running Service.
type env struct {
	t       testing.TB
	d       *db.DB
	url     string // database URL, for a second Service
	pool    *controller.Pool
	health  *health.Monitor
	sims    []*jenkinssim.Controller
	proxies []*proxy // when proxied
	hc      *http.Client
	cfg     dispatch.Config
	svc     *dispatch.Service
	stop    func() // stops svc.Run and waits
}

func setup(t testing.TB, o options) *env {
	t.Helper()
	if o.controllers == 0 {
		o.controllers = 1
	}
	if o.executors == 0 {
		o.executors = 8
	}
	if o.cfg.FollowInterval == 0 {
		o.cfg = fast()
	}
	if o.simJobs == nil {
		o.simJobs = simJobs()
	}
	e := &env{t: t, cfg: o.cfg}
	engine := dbtest.Engines(t)[0]
	if o.engine != nil {
		engine = *o.engine
	}
	e.url = engine.URL(t)
	var err error
	e.d, err = db.Open(context.Background(), e.url)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { e.d.Close() })
	if err := e.d.Migrate(context.Background(), dispatch.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e.sims, err = jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: o.controllers, Template: jenkinssim.Config{
		QuietPeriod: 0, Executors: o.executors, RestartDuration: 100 * time.Millisecond, Jobs: o.simJobs,
		BuildDuration: jenkinssim.Duration{Min: time.Millisecond, Max: time.Millisecond},
	}})
	if err != nil {
		t.Fatalf("start simulators: %v", err)
	}
	t.Cleanup(func() {
		for _, s := range e.sims {
			s.Close()
		}
	})
	e.pool = controller.NewPool()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	e.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	e.pool.SetHTTPClient(e.hc)
	var all []controller.Synced
	for i, s := range e.sims {
		url := s.URL()
		if o.proxied {
			p := newProxy(t, s.Addr())
			e.proxies = append(e.proxies, p)
			url = "http://" + p.addr + "/"
		}
		all = append(all, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: s.Name(), URL: url, Username: s.User(), ClusterID: controller.DefaultCluster,
			MaxConnections: 100000, IsActive: true, HealthStatus: balance.Healthy,
		}, Token: s.Token()})
	}
	e.pool.Sync(all)
	for _, r := range e.pool.All() {
		// As the health authority's first probe would have it: each node
		// has the executors the simulators were given.
		r.Probed(time.Now(), jenkins.Status{TotalExecutors: o.executors, Version: jenkinssim.DefaultVersion}) // the built-in node only
	}
	hcfg := health.Config{}
	if o.health != nil {
		hcfg = *o.health
	}
	e.health = health.New(health.Options{Config: hcfg, Pool: e.pool, Log: testLogger(), Starvation: o.starvation})
	if o.health != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = e.health.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	e.svc = e.newService()
	if !o.noRun {
		e.stop = e.run(e.svc)
	}
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("DISPATCH_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (e *env) newService() *dispatch.Service {
	svc := dispatch.New(dispatch.Options{Config: e.cfg, DB: e.d, Pool: e.pool, Health: e.health, Log: testLogger()})
	e.health.Observe(svc.Observe)
	return svc
}

// run runs svc until the returned func is called (or the test ends).
func (e *env) run(svc *dispatch.Service) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx, dispatch.NoFence{}); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) sim(id int64) *jenkinssim.Controller { return e.sims[id-1] }

func (e *env) setHealth(id int64, h balance.Health) { e.pool.Get(id).SetHealth(h, time.Now()) }

// submit submits a build of "build" with a scripted duration and result.
func (e *env) submit(seq int, durationMs int, result string) dispatch.Build {
	e.t.Helper()
	b, err := e.svc.Submit(context.Background(), dispatch.Request{Job: "build", Params: []dispatch.Param{
		{Name: "SIM_DURATION_MS", Value: strconv.Itoa(durationMs)}, {Name: "SIM_RESULT", Value: result}, {Name: "SEQ", Value: strconv.Itoa(seq)},
	}, Cause: dispatch.Cause{Kind: "api"}})
	if err != nil {
		e.t.Fatalf("submit build %d: %v", seq, err)
	}
	return b
}

func (e *env) get(id int64) dispatch.Build {
	e.t.Helper()
	b, err := e.svc.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get build %d: %v", id, err)
	}
	return b
}

// waitState waits until build id is in state s and returns it.
func (e *env) waitState(id int64, s dispatch.State, within time.Duration) dispatch.Build {
	e.t.Helper()
	var b dispatch.Build
	eventually(e.t, within, func() bool {
		b = e.get(id)
		return b.State == s
	}, func() string {
		return fmt.Sprintf("build %d: state %s (reason %q), want %s; attempts %+v", id, b.State, b.Reason, s, b.Attempts)
	})
	return b
}

// eventually polls cond every few milliseconds until it holds, failing the
// test with what() when within passes first. within is at least
// minWait: a deadline here only keeps a broken test from hanging, and a
// condition that takes a second alone may take many with the whole suite
// running beside it under -race on two cores.
func eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	within = max(within, minWait)
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what())
		}
		<-tick.C
	}
}

// minWait is the shortest deadline eventually gives a condition.
const minWait = 45 * time.Second

// deadAddr is an address nothing listens on: dials are refused.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// proxy is a TCP pass-through in front of a simulated controller, so a
// test can kill the controller the way a crash looks from outside
// (connections reset, then refused) without jenkinssim.Controller.Down,
// which can deadlock when a connection arrives while it closes its
// server (Down holds srvMu across http.Server.Close, whose Serve loop
// runs the ConnState hook that takes srvMu).
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	dead  bool // the test ended
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.dead = true
		p.mu.Unlock()
		p.close()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // killed meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// close stops accepting and resets every connection.
func (p *proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		delete(p.conns, c)
	}
}

// kill crashes the controller behind p: it stops answering at once and
// restarts underneath (running builds lost, a new session), unreachable
// until revive.
func (p *proxy) kill(sim *jenkinssim.Controller) {
	p.close()
	sim.Restart()
}

// revive makes the controller behind p reachable again, on its address.
func (p *proxy) revive(t testing.TB) {
	p.mu.Lock()
	dead := p.dead
	p.mu.Unlock()
	if dead {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Errorf("revive proxy on %s: %v", p.addr, err)
		return
	}
	p.serve(ln)
}
