package jobsync_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

const cluster = controller.DefaultCluster

// env is one test's world: simulated controllers registered in a pool as
// cluster "default", a database, a Service and a front door serving it
// (everything Match does not take is proxied to the first controller, as
// the real front door would send it to some controller).
type env struct {
	t     *testing.T
	url   string // database URL, for a second Service
	d     *db.DB
	pool  *controller.Pool
	sims  []*jenkinssim.Controller
	hc    *http.Client
	clock *testkit.Clock
	cfg   jobsync.Config
	reg   *prometheus.Registry
	svc   *jobsync.Service
	front *httptest.Server
}

// setup starts n controllers (no jobs) and the service on engine e;
// configure may change the service's configuration first.
func setup(t *testing.T, e dbtest.Engine, n int, configure ...func(*jobsync.Config)) *env {
	t.Helper()
	en := &env{t: t, clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), reg: prometheus.NewRegistry()}
	en.cfg = jobsync.Config{RequestTimeout: 5 * time.Second, RetryBase: time.Second, RetryMax: time.Minute, PollInterval: 10 * time.Millisecond}
	for _, c := range configure {
		c(&en.cfg)
	}
	en.url = e.URL(t)
	en.d = en.open()
	var err error
	en.sims, err = jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: n, Template: jenkinssim.Config{
		QuietPeriod: 0, Jobs: []jenkinssim.JobSpec{}, RestartDuration: 50 * time.Millisecond,
	}})
	if err != nil {
		t.Fatalf("start simulators: %v", err)
	}
	t.Cleanup(func() {
		for _, s := range en.sims {
			s.Close()
		}
	})
	en.pool = controller.NewPool()
	var all []controller.Synced
	for i, s := range en.sims {
		all = append(all, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: s.Name(), URL: s.URL(), Username: s.User(), ClusterID: cluster,
			MaxConnections: 1000, IsActive: true, HealthStatus: balance.Healthy,
		}, Token: s.Token()})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	en.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	en.pool.SetHTTPClient(en.hc)
	en.pool.Sync(all)
	en.svc = en.newService()
	en.svc.Register(en.reg)

	target, _ := url.Parse(en.sims[0].URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	en.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !en.serveJobWrite(w, r, cluster) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(en.front.Close)
	return en
}

// open opens (and migrates) a handle on the test's database.
func (en *env) open() *db.DB {
	en.t.Helper()
	d, err := db.Open(context.Background(), en.url)
	if err != nil {
		en.t.Fatalf("open database: %v", err)
	}
	en.t.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background(), jobsync.Migrations); err != nil {
		en.t.Fatalf("migrate: %v", err)
	}
	return d
}

func testLogger() *slog.Logger {
	if os.Getenv("JOBSYNC_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (en *env) newService() *jobsync.Service {
	return jobsync.New(en.d, en.pool, testLogger(), en.clock.Now, en.cfg)
}

func (en *env) sim(i int) *jenkinssim.Controller { return en.sims[i] }

func (en *env) setHealth(i int, h balance.Health) { en.pool.Get(int64(i+1)).SetHealth(h, time.Now()) }

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request to base (the front door or a controller) with the
// controllers' credentials; contentType "" sends none.
func (en *env) do(base, method, path, contentType, body string) response {
	en.t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(base, "/")+path, strings.NewReader(body))
	if err != nil {
		en.t.Fatal(err)
	}
	req.SetBasicAuth(en.sims[0].User(), en.sims[0].Token())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Transport: en.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		en.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		en.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// front sends a request to the front door.
func (en *env) frontDo(method, path, contentType, body string) response {
	en.t.Helper()
	return en.do(en.front.URL, method, path, contentType, body)
}

// create sends createItem through the front door.
func (en *env) create(name, config string) response {
	en.t.Helper()
	return en.frontDo("POST", "/createItem?name="+url.QueryEscape(name), "text/xml; charset=utf-8", config)
}

// config reads job's config.xml straight from controller i: the body, or
// "" when it has no such job.
func (en *env) config(i int, job string) string {
	en.t.Helper()
	r := en.do(en.sims[i].URL(), "GET", "/"+jobPath(job)+"config.xml", "", "")
	switch r.status {
	case http.StatusOK:
		return r.body
	case http.StatusNotFound:
		return ""
	}
	en.t.Fatalf("GET config.xml of %s on %s: %d %s", job, en.sims[i].Name(), r.status, r.body)
	return ""
}

// wantConfig checks that each listed controller holds config for job.
func (en *env) wantConfig(job, config string, controllers ...int) {
	en.t.Helper()
	for _, i := range controllers {
		got := en.config(i, job)
		if got == "" {
			en.t.Errorf("%s: job %s missing", en.sims[i].Name(), job)
		} else if jobsync.Fingerprint([]byte(got)) != jobsync.Fingerprint([]byte(config)) {
			en.t.Errorf("%s: job %s has config\n%s\nwant\n%s", en.sims[i].Name(), job, got, config)
		}
	}
}

// wantMissing checks that none of the listed controllers has job.
func (en *env) wantMissing(job string, controllers ...int) {
	en.t.Helper()
	for _, i := range controllers {
		if got := en.config(i, job); got != "" {
			en.t.Errorf("%s: job %s exists, want it missing", en.sims[i].Name(), job)
		}
	}
}

// pending returns the pending writes of the cluster, from a drift check.
func (en *env) pending() []jobsync.Pending {
	en.t.Helper()
	rep, err := en.svc.Drift(context.Background(), cluster)
	if err != nil {
		en.t.Fatalf("Drift: %v", err)
	}
	return rep.Pending
}

// retry runs one retry round and checks what it did.
func (en *env) retry(want jobsync.RetryStats) {
	en.t.Helper()
	got, err := en.svc.Retry(context.Background())
	if err != nil {
		en.t.Fatalf("Retry: %v", err)
	}
	if got != want {
		en.t.Fatalf("Retry: got %+v, want %+v", got, want)
	}
}

// metric returns the value of a gauge or counter of the cluster (0 when
// it has none).
func (en *env) metric(name string) float64 {
	en.t.Helper()
	v, _ := testkit.Metric(en.t, en.reg, name, "cluster", cluster)
	return v
}

func jobPath(full string) string {
	var sb strings.Builder
	for _, seg := range strings.Split(full, "/") {
		sb.WriteString("job/" + url.PathEscape(seg) + "/")
	}
	return sb.String()
}

// freestyle is a job config.xml with a description, as a client sends it.
func freestyle(description string) string {
	return `<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>` + description + `</description>
  <keepDependencies>false</keepDependencies>
  <properties/>
  <scm class="hudson.scm.NullSCM"/>
  <canRoam>true</canRoam>
  <disabled>false</disabled>
  <triggers/>
  <concurrentBuild>false</concurrentBuild>
  <builders/>
  <publishers/>
  <buildWrappers/>
</project>
`
}

const folderXML = `<?xml version='1.1' encoding='UTF-8'?>
<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder">
  <description>team folder</description>
  <properties/>
  <folderViews/>
</com.cloudbees.hudson.plugins.folder.Folder>
`

// engines runs f on every engine, in parallel subtests.
func engines(t *testing.T, f func(t *testing.T, e dbtest.Engine)) {
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f(t, e)
		})
	}
}

func sqlite(t *testing.T) dbtest.Engine { return dbtest.Engines(t)[0] }

// serveJobWrite stands in for the front door's routing (package fleet
// reads paths as Stapler does): it hands the Service the job writes
// (createItem, POST config.xml, doDelete, DELETE) and config.xml reads,
// and reports whether it did. Names are raw-URL-encoded segment by
// segment, empty segments ignored (gojenkins adds a trailing slash to
// GETs).
func (en *env) serveJobWrite(w http.ResponseWriter, r *http.Request, cluster string) bool {
	var segs []string
	for _, s := range strings.Split(r.URL.EscapedPath(), "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	var names []string
	i := 0
	for ; i+1 < len(segs) && segs[i] == "job"; i += 2 {
		name, err := url.PathUnescape(segs[i+1])
		if err != nil || name == "" || strings.Contains(name, "/") {
			return false
		}
		names = append(names, name)
	}
	rest, full := segs[i:], strings.Join(names, "/")
	switch {
	case len(rest) == 1 && rest[0] == "createItem" && r.Method == http.MethodPost:
		en.svc.ServeCreateItem(w, r, cluster, full)
	case len(names) == 0:
		return false
	case len(rest) == 1 && rest[0] == "config.xml" &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodPost):
		en.svc.ServeConfigXML(w, r, cluster, full)
	case len(rest) == 1 && rest[0] == "doDelete" && r.Method == http.MethodPost,
		len(rest) == 0 && r.Method == http.MethodDelete:
		en.svc.ServeDelete(w, r, cluster, full)
	default:
		return false
	}
	return true
}
