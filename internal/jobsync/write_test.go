package jobsync_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/jobsync"
)

func TestCreateReachesEveryController(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		cfg := freestyle("hello")
		r := en.create("hello", cfg)
		if r.status != http.StatusOK || r.body != "" {
			t.Fatalf("createItem: got %d %q, want 200 and an empty body", r.status, r.body)
		}
		if got := r.header.Get("X-Jenkinds-Sync"); got != "3/3 controllers" {
			t.Errorf("X-Jenkinds-Sync: got %q", got)
		}
		if got := r.header.Get("Content-Length"); got != "0" {
			t.Errorf("Content-Length: got %q, want 0 (python-jenkins raises on an empty answer without one)", got)
		}
		en.wantConfig("hello", cfg, 0, 1, 2)
		if p := en.pending(); len(p) != 0 {
			t.Errorf("pending: got %+v, want none", p)
		}
	})
}

func TestCreateWithAControllerDownRetriesIt(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		en.sim(2).Down()
		cfg := freestyle("partial")
		r := en.create("partial", cfg)
		if r.status != http.StatusOK {
			t.Fatalf("createItem: got %d %s, want 200", r.status, r.body)
		}
		if got := r.header.Get("X-Jenkinds-Sync"); got != "2/3 controllers; retrying on jenkins-2" {
			t.Errorf("X-Jenkinds-Sync: got %q", got)
		}
		en.wantConfig("partial", cfg, 0, 1)
		p := en.pending()
		if len(p) != 1 || p[0].Controller != "jenkins-2" || p[0].Op != jobsync.OpCreate || p[0].Job != "partial" ||
			p[0].Attempts != 1 || p[0].LastError == "" {
			t.Fatalf("pending: got %+v, want one create for jenkins-2 with an error", p)
		}
		if got := en.metric("jenkinds_job_sync_pending"); got != 1 {
			t.Errorf("jenkinds_job_sync_pending: got %v, want 1", got)
		}
		if got := en.metric("jenkinds_job_sync_failures_total"); got != 1 {
			t.Errorf("jenkinds_job_sync_failures_total: got %v, want 1", got)
		}

		en.retry(jobsync.RetryStats{}) // backing off: not due yet
		en.clock.Advance(time.Second)
		en.retry(jobsync.RetryStats{Sent: 1, Failed: 1}) // still down
		if p := en.pending(); len(p) != 1 || p[0].Attempts != 2 || !p[0].NextAttempt.Equal(en.clock.Now().Add(2*time.Second)) {
			t.Fatalf("pending after a failed retry: got %+v, want attempts 2, next in 2s", p)
		}

		if err := en.sim(2).Up(); err != nil {
			t.Fatal(err)
		}
		en.retry(jobsync.RetryStats{}) // still backing off
		en.clock.Advance(2 * time.Second)
		en.retry(jobsync.RetryStats{Sent: 1, Applied: 1})
		en.wantConfig("partial", cfg, 0, 1, 2)
		if p := en.pending(); len(p) != 0 {
			t.Errorf("pending after the retry: got %+v, want none", p)
		}
		if got := en.metric("jenkinds_job_sync_pending"); got != 0 {
			t.Errorf("jenkinds_job_sync_pending: got %v, want 0", got)
		}
	})
}

func TestCreateExistingEverywhereIsRefused(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	if r := en.create("dup", freestyle("first")); r.status != http.StatusOK {
		t.Fatalf("first createItem: got %d %s", r.status, r.body)
	}
	r := en.create("dup", freestyle("second"))
	if r.status != http.StatusBadRequest || r.header.Get("X-Error") != "A job already exists with the name ‘dup’" {
		t.Fatalf("second createItem: got %d X-Error %q, want 400 \"A job already exists with the name ‘dup’\"", r.status, r.header.Get("X-Error"))
	}
	if got := r.header.Get("X-Jenkinds-Sync"); got != "0/3 controllers" {
		t.Errorf("X-Jenkinds-Sync: got %q", got)
	}
	en.wantConfig("dup", freestyle("first"), 0, 1, 2)
	if p := en.pending(); len(p) != 0 {
		t.Errorf("pending: got %+v, want none", p)
	}
}

// A create accepted somewhere makes its config.xml the job's definition on
// the controllers that already had the job too.
func TestCreateWhereMissingConverges(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	if r := en.do(en.sim(1).URL(), "POST", "/createItem?name=half", "application/xml", freestyle("old")); r.status != http.StatusOK {
		t.Fatalf("create on jenkins-1 directly: %d %s", r.status, r.body)
	}
	cfg := freestyle("new")
	r := en.create("half", cfg)
	if r.status != http.StatusOK || r.header.Get("X-Jenkinds-Sync") != "3/3 controllers" {
		t.Fatalf("createItem: got %d %q %s", r.status, r.header.Get("X-Jenkinds-Sync"), r.body)
	}
	en.wantConfig("half", cfg, 0, 1, 2)
}

func TestUpdateEverywhere(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		if r := en.create("app", freestyle("v1")); r.status != http.StatusOK {
			t.Fatalf("createItem: %d %s", r.status, r.body)
		}
		// jenkins-1 lost the job: the update creates it there.
		if r := en.do(en.sim(1).URL(), "POST", "/job/app/doDelete", "", ""); r.status != http.StatusFound {
			t.Fatalf("delete on jenkins-1 directly: %d", r.status)
		}
		v2 := freestyle("v2")
		r := en.frontDo("POST", "/job/app/config.xml", "text/xml; charset=utf-8", v2)
		if r.status != http.StatusOK || r.body != "" || r.header.Get("X-Jenkinds-Sync") != "3/3 controllers" {
			t.Fatalf("POST config.xml: got %d %q %q", r.status, r.header.Get("X-Jenkinds-Sync"), r.body)
		}
		en.wantConfig("app", v2, 0, 1, 2)

		g := en.frontDo("GET", "/job/app/config.xml/", "", "") // gojenkins adds the slash
		if g.status != http.StatusOK || jobsync.Fingerprint([]byte(g.body)) != jobsync.Fingerprint([]byte(v2)) ||
			!strings.HasPrefix(g.header.Get("Content-Type"), "application/xml") {
			t.Errorf("GET config.xml: got %d %q %s", g.status, g.header.Get("Content-Type"), g.body)
		}
	})
}

func TestUpdateOfUnknownJobIs404(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	r := en.frontDo("POST", "/job/nope/config.xml", "application/xml", freestyle("x"))
	if r.status != http.StatusNotFound {
		t.Fatalf("POST config.xml of an unknown job: got %d %s, want 404", r.status, r.body)
	}
	if r := en.frontDo("GET", "/job/nope/config.xml", "", ""); r.status != http.StatusNotFound {
		t.Errorf("GET config.xml of an unknown job: got %d, want 404", r.status)
	}
	en.wantMissing("nope", 0, 1, 2)
}

// A later write supersedes the pending one of the same job and
// controller: the retry sends only the latest definition.
func TestLaterWriteSupersedesPending(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		en.sim(2).Down()
		if r := en.create("app", freestyle("v1")); r.status != http.StatusOK {
			t.Fatalf("createItem: %d %s", r.status, r.body)
		}
		v2 := freestyle("v2")
		if r := en.frontDo("POST", "/job/app/config.xml", "application/xml", v2); r.status != http.StatusOK {
			t.Fatalf("POST config.xml: %d %s", r.status, r.body)
		}
		p := en.pending()
		if len(p) != 1 || p[0].Op != jobsync.OpUpdate || p[0].Attempts != 1 {
			t.Fatalf("pending: got %+v, want the update only", p)
		}
		if err := en.sim(2).Up(); err != nil {
			t.Fatal(err)
		}
		en.clock.Advance(time.Minute)
		en.retry(jobsync.RetryStats{Sent: 1, Applied: 1}) // update finds no job: creates it
		en.wantConfig("app", v2, 0, 1, 2)
	})
}

func TestDeleteEverywhere(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		for _, name := range []string{"gone", "gone2"} {
			if r := en.create(name, freestyle(name)); r.status != http.StatusOK {
				t.Fatalf("createItem %s: %d %s", name, r.status, r.body)
			}
		}
		en.sim(1).Down()
		r := en.frontDo("POST", "/job/gone/doDelete", "", "")
		if r.status != http.StatusFound || r.header.Get("Location") != en.front.URL+"/" {
			t.Fatalf("doDelete: got %d Location %q, want 302 to %s/", r.status, r.header.Get("Location"), en.front.URL)
		}
		if got := r.header.Get("X-Jenkinds-Sync"); got != "2/3 controllers; retrying on jenkins-1" {
			t.Errorf("X-Jenkinds-Sync: got %q", got)
		}
		r = en.frontDo("DELETE", "/job/gone2/", "", "")
		if r.status != http.StatusNoContent {
			t.Fatalf("DELETE: got %d %s, want 204", r.status, r.body)
		}
		en.wantMissing("gone", 0, 2)
		en.wantMissing("gone2", 0, 2)
		p := en.pending()
		if len(p) != 2 || p[0].Op != jobsync.OpDelete || p[1].Op != jobsync.OpDelete {
			t.Fatalf("pending: got %+v, want two deletes", p)
		}

		if err := en.sim(1).Up(); err != nil {
			t.Fatal(err)
		}
		en.clock.Advance(time.Minute)
		en.retry(jobsync.RetryStats{Sent: 2, Applied: 2})
		en.wantMissing("gone", 0, 1, 2)
		en.wantMissing("gone2", 0, 1, 2)

		// Deleting again: no controller has it.
		if r := en.frontDo("POST", "/job/gone/doDelete", "", ""); r.status != http.StatusNotFound {
			t.Errorf("doDelete of a deleted job: got %d, want 404", r.status)
		}
	})
}

func TestFolders(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) { testFolders(t, e) })
}

func testFolders(t *testing.T, e dbtest.Engine) {
	en := setup(t, e, 3)
	if r := en.create("team", folderXML); r.status != http.StatusOK {
		t.Fatalf("create folder: %d %s", r.status, r.body)
	}
	cfg := freestyle("in a folder")
	r := en.frontDo("POST", "/job/team/createItem?name=app", "application/xml", cfg)
	if r.status != http.StatusOK {
		t.Fatalf("createItem in the folder: %d %s", r.status, r.body)
	}
	en.wantConfig("team/app", cfg, 0, 1, 2)

	r = en.frontDo("POST", "/job/missing/createItem?name=app", "application/xml", cfg)
	if r.status != http.StatusNotFound {
		t.Errorf("createItem in a missing folder: got %d, want 404", r.status)
	}

	// Copy within the folder: 302 to the new job.
	r = en.frontDo("POST", "/job/team/createItem?name=copy&mode=copy&from=app", "", "")
	if r.status != http.StatusFound || r.header.Get("Location") != en.front.URL+"/job/team/job/copy/" {
		t.Fatalf("copy: got %d Location %q", r.status, r.header.Get("Location"))
	}
	en.wantConfig("team/copy", cfg, 0, 1, 2)

	// Deleting the folder while jenkins-2 is down drops jenkins-2's
	// pending writes inside it.
	en.sim(2).Down()
	if r := en.frontDo("POST", "/job/team/job/app/config.xml", "application/xml", freestyle("v2")); r.status != http.StatusOK {
		t.Fatalf("update in the folder: %d", r.status)
	}
	r = en.frontDo("POST", "/job/team/doDelete", "", "")
	if r.status != http.StatusFound || r.header.Get("Location") != en.front.URL+"/" {
		t.Fatalf("delete folder: got %d Location %q", r.status, r.header.Get("Location"))
	}
	if p := en.pending(); len(p) != 1 || p[0].Job != "team" || p[0].Op != jobsync.OpDelete {
		t.Fatalf("pending: got %+v, want only the folder's delete", p)
	}
}

func TestNoControllerReachable(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2)
	en.sim(0).Down()
	en.setHealth(1, balance.Unhealthy)
	r := en.create("x", freestyle("x"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("createItem: got %d %s, want 503 with Retry-After", r.status, r.body)
	}
	if got := r.header.Get("X-Jenkinds-Sync"); got != "0/2 controllers" {
		t.Errorf("X-Jenkinds-Sync: got %q", got)
	}
	if p := en.pending(); len(p) != 0 {
		t.Errorf("pending: got %+v, want none (the write was not accepted)", p)
	}
	en.wantMissing("x", 1)
}

// An unhealthy controller is not asked; its pending writes wait, and
// become due at once when it is healthy again, whatever their back-off.
func TestUnhealthyControllerGetsWritesWhenBack(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	en.sim(2).Down() // still "healthy" in the pool: asked, fails, backs off
	if r := en.create("a", freestyle("a")); r.status != http.StatusOK {
		t.Fatalf("createItem a: %d", r.status)
	}
	en.setHealth(2, balance.Unhealthy)
	if r := en.create("b", freestyle("b")); r.status != http.StatusOK || r.header.Get("X-Jenkinds-Sync") != "2/3 controllers; retrying on jenkins-2" {
		t.Fatalf("createItem b: %d %q", r.status, r.header.Get("X-Jenkinds-Sync"))
	}
	en.clock.Advance(time.Hour)
	en.retry(jobsync.RetryStats{}) // unhealthy: nothing sent
	if err := en.sim(2).Up(); err != nil {
		t.Fatal(err)
	}
	en.setHealth(2, balance.Healthy)
	en.retry(jobsync.RetryStats{Sent: 2, Applied: 2})
	en.wantConfig("a", freestyle("a"), 2)
	en.wantConfig("b", freestyle("b"), 2)
}

// Reads prefer a controller with no pending write of the job: it holds
// the latest accepted definition.
func TestReadPrefersUpToDateController(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2)
	if r := en.create("app", freestyle("v1")); r.status != http.StatusOK {
		t.Fatalf("createItem: %d", r.status)
	}
	en.sim(0).Down()
	if r := en.frontDo("POST", "/job/app/config.xml", "application/xml", freestyle("v2")); r.status != http.StatusOK {
		t.Fatalf("update: %d", r.status)
	}
	if err := en.sim(0).Up(); err != nil {
		t.Fatal(err)
	}
	// jenkins-0 is back with v1 (the retry has not run yet), and is first by id.
	r := en.frontDo("GET", "/job/app/config.xml", "", "")
	if r.status != http.StatusOK || !strings.Contains(r.body, "v2") {
		t.Fatalf("GET config.xml: got %d %s, want v2", r.status, r.body)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2)
	for _, tt := range []struct {
		name, method, path, contentType, body string
		status                                int
		xError                                string
	}{
		{"no name", "POST", "/createItem", "application/xml", freestyle("x"), 400, "Query parameter 'name' is required"},
		{"unsafe name", "POST", "/createItem?name=a%3Fb", "application/xml", freestyle("x"), 400, "‘?’ is an unsafe character"},
		{"dot name", "POST", "/createItem?name=..", "application/xml", freestyle("x"), 400, "“..” is not an allowed name"},
		{"no content type", "POST", "/createItem?name=x", "", freestyle("x"), 400, "No Content-Type header set"},
		{"form content type", "POST", "/createItem?name=x", "application/x-www-form-urlencoded", "a=b", 400,
			"Requires 'mode' parameter, or a config.xml body with Content-Type application/xml"},
		{"empty body", "POST", "/createItem?name=x", "application/xml", "", 500, ""},
		{"malformed XML", "POST", "/createItem?name=x", "application/xml", "<project><description>", 500, ""},
		{"two roots", "POST", "/createItem?name=x", "application/xml", "<a/><b/>", 500, ""},
		{"copy of unknown job", "POST", "/createItem?name=x&mode=copy&from=nope", "", "", 400, "No such job: nope"},
		{"malformed config.xml", "POST", "/job/x/config.xml", "application/xml", "not xml", 500, ""},
	} {
		r := en.frontDo(tt.method, tt.path, tt.contentType, tt.body)
		if r.status != tt.status || r.header.Get("X-Error") != tt.xError {
			t.Errorf("%s: got %d X-Error %q, want %d %q", tt.name, r.status, r.header.Get("X-Error"), tt.status, tt.xError)
		}
		if tt.status == 500 && !strings.Contains(r.body, "Unable to read config.xml") {
			t.Errorf("%s: body %q, want Jenkins' \"Unable to read config.xml\"", tt.name, r.body)
		}
	}
	en.wantMissing("x", 0, 1)

	// Methods, as Jenkins answers them (called directly: Match leaves
	// these to the controllers).
	for _, tt := range []struct {
		name   string
		serve  func(w http.ResponseWriter, r *http.Request)
		method string
		status int
	}{
		{"GET createItem", func(w http.ResponseWriter, r *http.Request) { en.svc.ServeCreateItem(w, r, cluster, "") }, "GET", 405},
		{"GET doDelete", func(w http.ResponseWriter, r *http.Request) { en.svc.ServeDelete(w, r, cluster, "x") }, "GET", 405},
		{"PUT config.xml", func(w http.ResponseWriter, r *http.Request) { en.svc.ServeConfigXML(w, r, cluster, "x") }, "PUT", 400},
	} {
		rec := newRecorder()
		tt.serve(rec, mustRequest(t, tt.method, "http://front/"))
		if rec.Code != tt.status {
			t.Errorf("%s: got %d, want %d", tt.name, rec.Code, tt.status)
		}
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A config.xml read does not wait for a frozen controller: past the hedge
// deadline the next controller is asked too, and the first answer wins.
func TestConfigReadHedgesPastAFrozenController(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2, func(c *jobsync.Config) {
		c.RequestTimeout = time.Minute // far above the client's wait below
		c.HedgeAfter = 200 * time.Millisecond
	})
	if r := en.create("hedged", freestyle("read past a frozen one")); r.status != http.StatusOK {
		t.Fatalf("createItem: %d %s", r.status, r.body)
	}
	en.sim(0).Hang() // the first asked: same health and load, lower id
	t.Cleanup(en.sim(0).Unhang)
	req, _ := http.NewRequest("GET", en.front.URL+"/job/hedged/config.xml", nil)
	req.SetBasicAuth(en.sims[0].User(), en.sims[0].Token())
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET config.xml with a controller frozen: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "read past a frozen one") {
		t.Errorf("GET config.xml with a controller frozen: %d %s", res.StatusCode, body)
	}
}

// A job write does not wait for a frozen controller either: the caller's
// credentials are tried on the next controller once the first has not
// answered within the hedge deadline, and the frozen one gets the write
// as a pending retry.
func TestWriteHedgesPastAFrozenController(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2, func(c *jobsync.Config) {
		c.RequestTimeout = time.Minute // far above the client's wait below
		c.HedgeAfter = 200 * time.Millisecond
	})
	en.sim(0).Hang() // the first asked: lower id
	t.Cleanup(en.sim(0).Unhang)
	req, _ := http.NewRequest("POST", en.front.URL+"/createItem?name=hedged", strings.NewReader(freestyle("written past a frozen one")))
	req.Header.Set("Content-Type", "application/xml")
	req.SetBasicAuth(en.sims[0].User(), en.sims[0].Token())
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("createItem with a controller frozen: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("createItem with a controller frozen: %d", res.StatusCode)
	}
	if got, want := res.Header.Get("X-Jenkinds-Sync"), "1/2 controllers; retrying on "+en.sim(0).Name(); got != want {
		t.Errorf("X-Jenkinds-Sync: got %q, want %q", got, want)
	}
	if !strings.Contains(en.config(1, "hedged"), "written past a frozen one") {
		t.Errorf("the job is not on %s", en.sim(1).Name())
	}
}

// A config.xml above MaxConfigBytes is 413 and nothing is written.
func TestOversizedConfigIsRefused(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2, func(c *jobsync.Config) { c.MaxConfigBytes = 1 << 10 })
	big := freestyle(strings.Repeat("x", 2<<10))
	if r := en.create("big", big); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "larger than 1024 bytes") {
		t.Errorf("createItem of %d bytes: %d %q, want 413 naming the limit", len(big), r.status, r.body)
	}
	en.wantMissing("big", 0, 1)
	if r := en.create("small", freestyle("fits")); r.status != http.StatusOK {
		t.Fatalf("createItem within the limit: %d %s", r.status, r.body)
	}
	if r := en.frontDo("POST", "/job/small/config.xml", "application/xml", big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST config.xml of %d bytes: %d, want 413", len(big), r.status)
	}
	if !strings.Contains(en.config(1, "small"), "fits") {
		t.Errorf("the job changed after a refused write")
	}
}
