package catalog_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// stub is a controller that counts the reads it gets, answers with a
// body it is told, and can hang.
type stub struct {
	reads   atomic.Int64
	mu      sync.Mutex
	body    string
	hang    chan struct{} // non-nil: requests wait on it
	entered chan struct{}
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reads.Add(1)
	s.mu.Lock()
	body, hang, entered := s.body, s.hang, s.entered
	s.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if hang != nil {
		<-hang
	}
	if r.Header.Get("Authorization") == "Basic bad" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("X-Jenkins", "2.528.3")
	_, _ = w.Write([]byte(body))
}

func (s *stub) set(body string) { s.mu.Lock(); s.body = body; s.mu.Unlock() }

// hungRecorder is the health authority as the catalog tells it.
type hungRecorder struct{ n atomic.Int64 }

func (h *hungRecorder) Hung(*controller.Runtime, time.Duration) { h.n.Add(1) }

type world struct {
	pool  *controller.Pool
	cat   *catalog.Catalog
	clock *testkit.Clock
	hung  *hungRecorder
	stubs []*stub
}

func newWorld(t *testing.T, n int, cfg catalog.Config) *world {
	t.Helper()
	w := &world{pool: controller.NewPool(), clock: testkit.NewClock(time.Unix(1000, 0)), hung: &hungRecorder{}}
	var all []controller.Synced
	for i := range n {
		s := &stub{body: `{"n":1}`}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		w.stubs = append(w.stubs, s)
		all = append(all, controller.Synced{Instance: controller.Instance{ID: int64(i + 1), Name: "c" + string(rune('1'+i)),
			URL: srv.URL, ClusterID: "prod", MaxConnections: 10, IsActive: true}, Token: "t"})
	}
	w.pool.Sync(all)
	w.cat = catalog.New(catalog.Options{Config: cfg, Pool: w.pool, Health: w.hung, Now: w.clock.Now})
	t.Cleanup(w.cat.Close)
	return w
}

func TestGetServesFreshReadsFromMemory(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{MaxStaleness: time.Second})
	rt, s := w.pool.Get(1), w.stubs[0]
	ctx := context.Background()
	r, fresh := w.cat.Get(ctx, rt, catalog.ScopeOf("Basic a"), "Basic a", "api/json")
	if r == nil || !fresh || r.Code != 200 || string(r.Body) != `{"n":1}` || r.Header.Get("X-Jenkins") != "2.528.3" {
		t.Fatalf("first read: %+v %v", r, fresh)
	}
	for range 10 {
		w.cat.Get(ctx, rt, catalog.ScopeOf("Basic a"), "Basic a", "api/json")
	}
	if got := s.reads.Load(); got != 1 {
		t.Errorf("11 reads within MaxStaleness asked the controller %d times, want once", got)
	}
	// Another caller reads with its own eyes.
	if r, _ := w.cat.Get(ctx, rt, catalog.ScopeOf("Basic bad"), "Basic bad", "api/json"); r == nil || r.Code != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("another caller's read: %+v", r)
	}
	// Older than MaxStaleness: read again.
	w.clock.Advance(2 * time.Second)
	r2, _ := w.cat.Get(ctx, rt, catalog.ScopeOf("Basic a"), "Basic a", "api/json")
	if s.reads.Load() != 3 || r2.Gen == 0 {
		t.Errorf("a stale read: %d requests, gen %d", s.reads.Load(), r2.Gen)
	}
	s.set(`{"n":2}`)
	w.clock.Advance(2 * time.Second)
	r3, _ := w.cat.Get(ctx, rt, catalog.ScopeOf("Basic a"), "Basic a", "api/json")
	if string(r3.Body) != `{"n":2}` || r3.Gen == r2.Gen {
		t.Errorf("changed content: %s gen %d (was %d)", r3.Body, r3.Gen, r2.Gen)
	}
}

func TestConcurrentReadsAreOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{})
	rt, s := w.pool.Get(1), w.stubs[0]
	s.mu.Lock()
	s.hang, s.entered = make(chan struct{}), make(chan struct{}, 1)
	hang := s.hang
	s.mu.Unlock()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { w.cat.Get(context.Background(), rt, catalog.Jenkinds, "", "api/json") })
	}
	<-s.entered
	close(hang)
	wg.Wait()
	if got := s.reads.Load(); got != 1 {
		t.Errorf("20 concurrent reads made %d requests, want 1", got)
	}
}

// A hung controller costs a reader the hedge deadline: it gets what was
// read before (stale), or nothing, and health hears of it. Readers after
// that one do not wait for it at all until it answers again.
func TestHungControllerCostsTheHedgeDeadline(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{MaxStaleness: time.Second, HedgeAfter: 50 * time.Millisecond})
	rt, s := w.pool.Get(1), w.stubs[0]
	ctx := context.Background()
	if r, _ := w.cat.Get(ctx, rt, catalog.Jenkinds, "", "api/json"); r == nil {
		t.Fatal("first read failed")
	}
	release := make(chan struct{})
	var once sync.Once
	unhang := func() { once.Do(func() { close(release) }) }
	s.mu.Lock()
	s.hang = release
	s.mu.Unlock()
	t.Cleanup(unhang)
	w.clock.Advance(2 * time.Second)
	r, fresh := w.cat.Get(ctx, rt, catalog.Jenkinds, "", "api/json")
	if r == nil || fresh || string(r.Body) != `{"n":1}` {
		t.Errorf("stale read of a hung controller: %+v fresh %v; want the one read before", r, fresh)
	}
	if r, _ := w.cat.Get(ctx, rt, catalog.Jenkinds, "", "never/read"); r != nil {
		t.Errorf("a read never made, from a hung controller: %+v; want nothing", r)
	}
	if n := w.hung.n.Load(); n != 1 {
		t.Errorf("health told of %d hung reads, want 1: the second reader did not wait", n)
	}
	// It answers again: the reads held are answered, and readers wait
	// for it again.
	s.mu.Lock()
	s.hang = nil
	s.mu.Unlock()
	unhang()
	testkit.Eventually(t, 10*time.Second, func() bool {
		r, _ := w.cat.Get(ctx, rt, catalog.Jenkinds, "", "never/read")
		return r != nil && r.Code == http.StatusOK
	}, testkit.Sayf("a read of the controller answering again"))
}

// After jenkinds writes, a read younger than MaxStaleness is read again
// before it is served (a client reads its own writes).
func TestInvalidateReadsAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, catalog.Config{MaxStaleness: time.Hour})
	ctx := context.Background()
	for _, rt := range w.pool.All() {
		w.cat.Get(ctx, rt, catalog.Jenkinds, "", "api/json")
	}
	v := w.cat.Version("prod")
	w.stubs[0].set(`{"n":3}`)
	w.cat.JobsChanged("prod")
	if w.cat.Version("prod") == v {
		t.Errorf("the cluster's version did not change")
	}
	r, _ := w.cat.Get(ctx, w.pool.Get(1), catalog.Jenkinds, "", "api/json")
	if string(r.Body) != `{"n":3}` || w.stubs[0].reads.Load() != 2 {
		t.Errorf("after a write: %s (%d requests), want the new answer", r.Body, w.stubs[0].reads.Load())
	}
	v = w.cat.Version("prod")
	w.cat.Changed("prod")
	if w.cat.Version("prod") == v {
		t.Errorf("Changed did not bump the version")
	}
}

func TestReadsAreBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{MaxReads: 10})
	rt := w.pool.Get(1)
	for i := range 50 {
		w.clock.Advance(time.Millisecond)
		w.cat.Get(context.Background(), rt, catalog.Jenkinds, "", "api/json?i="+strings.Repeat("x", i))
	}
	// The first read was evicted: reading it again asks the controller.
	before := w.stubs[0].reads.Load()
	w.cat.Get(context.Background(), rt, catalog.Jenkinds, "", "api/json?i=")
	if w.stubs[0].reads.Load() != before+1 {
		t.Errorf("an evicted read was served from memory")
	}
}

func TestJobs(t *testing.T) {
	t.Parallel()
	sims, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: 2, Template: jenkinssim.Config{Token: "11tok", QuietPeriod: 0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range sims {
			_ = s.Close()
		}
	})
	if err := sims[1].AddJob(jenkinssim.JobSpec{Name: "only-here", Parameters: []jenkinssim.ParamSpec{{Name: "P", Default: "x"}}}); err != nil {
		t.Fatal(err)
	}
	pool := controller.NewPool()
	var all []controller.Synced
	for i, s := range sims {
		all = append(all, controller.Synced{Instance: controller.Instance{ID: int64(i + 1), Name: s.Name(), URL: s.URL(), Username: "admin",
			ClusterID: "prod", MaxConnections: 10, IsActive: true}, Token: "11tok"})
	}
	pool.Sync(all)
	cat := catalog.New(catalog.Options{Pool: pool})
	ctx := context.Background()
	if _, known := cat.Lookup("prod", "hello"); known {
		t.Errorf("known before any read")
	}
	info, err := cat.Job(ctx, "prod", "only-here")
	if err != nil || len(info.Controllers) != 1 || info.Controllers[0] != 2 || !info.Parameterized || info.ParamDefs[0].Default != "x" {
		t.Fatalf("only-here: %+v %v", info, err)
	}
	// Jenkins finds a job whatever the case of its name in the URL; the
	// catalog answers with the controllers' spelling.
	if info, err := cat.Job(ctx, "prod", "Only-HERE"); err != nil || info.Job != "only-here" || len(info.Controllers) != 1 {
		t.Errorf("Only-HERE: %+v %v, want the job only-here", info, err)
	}
	if _, err := cat.Job(ctx, "prod", "nope"); !errors.Is(err, catalog.ErrUnknownJob) {
		t.Errorf("an unknown job: %v", err)
	}
	next := cat.Floor(1, "hello")
	cat.SawNext(1, "hello", next+5)
	if got := cat.Floor(1, "hello"); got != next+5 {
		t.Errorf("Floor after SawNext: %d, want %d", got, next+5)
	}
	if err := sims[0].AddJob(jenkinssim.JobSpec{Name: "new-one"}); err != nil {
		t.Fatal(err)
	}
	cat.JobsChanged("prod") // jenkinds wrote it
	if info, err := cat.Job(ctx, "prod", "new-one"); err != nil || len(info.Controllers) != 1 {
		t.Errorf("a job written through jenkinds: %+v %v", info, err)
	}
	cat.Forget()
	if _, known := cat.Lookup("prod", "hello"); known {
		t.Errorf("known after Forget")
	}
}

// A read of a controller's jobs that was under way when jenkinds wrote a
// job predates the write: a lookup after the write is neither answered
// from it, however late it arrives, nor made to share it.
func TestJobsChangedWhileTheJobsAreRead(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{RequestTimeout: 5 * time.Second})
	s, ctx := w.stubs[0], context.Background()
	jobs := `{"jobs":[{"name":"old","buildable":true}]}`
	s.set(jobs)
	if _, err := w.cat.Refresh(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// readUnderWay starts a read of the jobs (the follower's) that the
	// controller answers at once, before job is written there through
	// jenkinds, and that arrives when the returned func is called.
	readUnderWay := func(job string) (arrive func()) {
		hang, entered, late := make(chan struct{}), make(chan struct{}, 1), make(chan struct{})
		s.mu.Lock()
		s.hang, s.entered = hang, entered
		s.mu.Unlock()
		go func() { defer close(late); _, _ = w.cat.Refresh(ctx, 1) }()
		<-entered
		jobs = strings.Replace(jobs, "]}", `,{"name":"`+job+`","buildable":true}]}`, 1)
		s.mu.Lock()
		s.body, s.hang, s.entered = jobs, nil, nil
		s.mu.Unlock()
		w.cat.JobsChanged("prod")
		return func() { close(hang); <-late }
	}
	found := func(when, job string) {
		t.Helper()
		if info, err := w.cat.Job(ctx, "prod", job); err != nil || len(info.Controllers) != 1 {
			t.Errorf("job %q written, then looked up %s: %+v %v", job, when, info, err)
		}
	}
	readUnderWay("a")()
	found("after a read from before the write arrived", "a")
	arrive := readUnderWay("b")
	found("while a read from before the write is under way", "b")
	arrive()
	found("after a read from before the write arrived", "b")
}

// A controller's plugins and version are read once per MaxStaleness, and
// again at once when the controller answered from a new session (it
// restarted: that is when plugins change).
func TestPluginsOfAreKeptAndReadAgainAfterARestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{MaxStaleness: time.Minute})
	rt, s := w.pool.Get(1), w.stubs[0]
	s.set(`{"_class":"hudson.LocalPluginManager","plugins":[{"active":true,"enabled":true,"longName":"Git plugin","shortName":"git","version":"5.7.0"}]}`)
	ctx := context.Background()
	p, err := w.cat.PluginsOf(ctx, 1)
	if err != nil || p.Version != "2.528.3" || len(p.List) != 1 || p.List[0].ShortName != "git" || p.List[0].Version != "5.7.0" || !p.List[0].Enabled {
		t.Fatalf("PluginsOf: %+v, %v", p, err)
	}
	for range 5 {
		_, _ = w.cat.PluginsOf(ctx, 1)
	}
	if got := s.reads.Load(); got != 1 {
		t.Errorf("6 calls within MaxStaleness made %d reads, want 1", got)
	}
	rt.NoteSession("new-session") // what any answer of the restarted controller tells
	s.set(`{"plugins":[{"active":true,"enabled":true,"shortName":"git","version":"5.8.0"}]}`)
	if p, err = w.cat.PluginsOf(ctx, 1); err != nil || p.List[0].Version != "5.8.0" {
		t.Errorf("after a new session: %+v, %v; want 5.8.0 read again", p, err)
	}
	_, _ = w.cat.PluginsOf(ctx, 1)
	if got := s.reads.Load(); got != 2 {
		t.Errorf("%d reads, want 2", got)
	}
	if _, err := w.cat.PluginsOf(ctx, 9); err == nil {
		t.Errorf("PluginsOf an unknown controller: no error")
	}
}

// While a change is under way the cluster is not settled: what is
// rendered then may predate the commit. Each change moves the version
// when it begins and when it ends.
func TestChangingUnsettlesTheCluster(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1, catalog.Config{})
	v0 := w.cat.Version("prod")
	if !w.cat.Settled("prod", v0) {
		t.Fatalf("a cluster with no change under way is not settled")
	}
	done := w.cat.Changing("prod")
	v1 := w.cat.Version("prod")
	if v1 == v0 || w.cat.Settled("prod", v1) || w.cat.Settled("prod", v0) {
		t.Errorf("during a change: version %d (was %d), settled at it %v; want a new version, not settled", v1, v0, w.cat.Settled("prod", v1))
	}
	other := w.cat.Changing("prod")
	done()
	if w.cat.Settled("prod", w.cat.Version("prod")) {
		t.Errorf("settled while a second change is under way")
	}
	other()
	done() // twice: once counts
	v2 := w.cat.Version("prod")
	if v2 == v1 || !w.cat.Settled("prod", v2) || w.cat.Settled("prod", v1) {
		t.Errorf("after the changes: version %d, settled %v; want a newer version, settled", v2, w.cat.Settled("prod", v2))
	}
	if !w.cat.Settled("other", w.cat.Version("other")) {
		t.Errorf("another cluster is unsettled by prod's changes")
	}
}
