package jobsync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func TestDrift(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 3)
		for _, name := range []string{"same", "changed", "lost"} {
			if r := en.create(name, freestyle(name)); r.status != http.StatusOK {
				t.Fatalf("createItem %s: %d", name, r.status)
			}
		}
		if r := en.create("team", folderXML); r.status != http.StatusOK {
			t.Fatalf("create folder: %d", r.status)
		}
		if r := en.frontDo("POST", "/job/team/createItem?name=inner", "application/xml", freestyle("inner")); r.status != http.StatusOK {
			t.Fatalf("create in folder: %d", r.status)
		}
		// Changed directly on jenkins-1, lost on jenkins-2, and a job only
		// jenkins-0 has.
		if r := en.do(en.sim(1).URL(), "POST", "/job/changed/config.xml", "application/xml", freestyle("edited in the UI")); r.status != http.StatusOK {
			t.Fatalf("edit on jenkins-1: %d", r.status)
		}
		if r := en.do(en.sim(2).URL(), "POST", "/job/lost/doDelete", "", ""); r.status != http.StatusFound {
			t.Fatalf("delete on jenkins-2: %d", r.status)
		}
		if r := en.do(en.sim(0).URL(), "POST", "/job/team/createItem?name=local", "application/xml", freestyle("local")); r.status != http.StatusOK {
			t.Fatalf("create on jenkins-0: %d", r.status)
		}

		rep, err := en.svc.Drift(context.Background(), cluster)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]jobsync.JobReport{}
		var names []string
		for _, j := range rep.Jobs {
			byName[j.Name] = j
			names = append(names, j.Name)
		}
		if want := []string{"changed", "lost", "same", "team", "team/inner", "team/local"}; !slices.Equal(names, want) {
			t.Fatalf("jobs: got %q, want %q", names, want)
		}
		for _, name := range []string{"same", "team", "team/inner"} {
			if j := byName[name]; j.Status != jobsync.StatusInSync || len(j.Variants) != 1 || len(j.Variants[0].Controllers) != 3 {
				t.Errorf("%s: got %+v, want in_sync on 3 controllers", name, j)
			}
		}
		changed := byName["changed"]
		if changed.Status != jobsync.StatusDiffers || len(changed.Variants) != 2 ||
			!slices.Equal(changed.Variants[0].Controllers, []string{"jenkins-0", "jenkins-2"}) ||
			!slices.Equal(changed.Variants[1].Controllers, []string{"jenkins-1"}) ||
			changed.Variants[0].SHA256 != jobsync.Fingerprint([]byte(freestyle("changed"))) {
			t.Errorf("changed: got %+v, want differs: jenkins-0 and jenkins-2 as sent, jenkins-1 apart", changed)
		}
		if lost := byName["lost"]; lost.Status != jobsync.StatusMissing || !slices.Equal(lost.MissingOn, []string{"jenkins-2"}) {
			t.Errorf("lost: got %+v, want missing on jenkins-2", lost)
		}
		if local := byName["team/local"]; local.Status != jobsync.StatusMissing || !slices.Equal(local.MissingOn, []string{"jenkins-1", "jenkins-2"}) {
			t.Errorf("team/local: got %+v, want missing on jenkins-1 and jenkins-2", local)
		}
		want := jobsync.Summary{Jobs: 6, InSync: 3, Differs: 1, Missing: 2}
		if rep.Summary != want {
			t.Errorf("summary: got %+v, want %+v", rep.Summary, want)
		}
		if got := en.metric("jenkinds_job_drift"); got != 3 {
			t.Errorf("jenkinds_job_drift: got %v, want 3", got)
		}
		if len(rep.Controllers) != 3 || rep.Controllers[0].Jobs != 6 || rep.Controllers[1].Jobs != 5 || rep.Controllers[2].Jobs != 4 {
			t.Errorf("controllers: got %+v", rep.Controllers)
		}

		// The next write of a drifted job repairs it.
		if r := en.frontDo("POST", "/job/changed/config.xml", "application/xml", freestyle("changed")); r.status != http.StatusOK {
			t.Fatalf("update: %d", r.status)
		}
		if r := en.frontDo("POST", "/job/lost/config.xml", "application/xml", freestyle("lost")); r.status != http.StatusOK {
			t.Fatalf("update: %d", r.status)
		}
		rep, err = en.svc.Drift(context.Background(), cluster)
		if err != nil {
			t.Fatal(err)
		}
		if want := (jobsync.Summary{Jobs: 6, InSync: 5, Missing: 1}); rep.Summary != want {
			t.Errorf("summary after repairs: got %+v, want %+v", rep.Summary, want)
		}
	})
}

func TestDriftWithAControllerDown(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	en.sim(2).Down()
	if r := en.create("a", freestyle("a")); r.status != http.StatusOK {
		t.Fatalf("createItem: %d", r.status)
	}
	rep, err := en.svc.Drift(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Controllers[2].Error == "" {
		t.Errorf("jenkins-2: got %+v, want its listing error", rep.Controllers[2])
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].Status != jobsync.StatusInSync || !rep.Jobs[0].Pending {
		t.Errorf("jobs: got %+v, want a in sync where it could be read, with a pending write", rep.Jobs)
	}
	if len(rep.Pending) != 1 || rep.Pending[0].Controller != "jenkins-2" {
		t.Errorf("pending: got %+v", rep.Pending)
	}
}

func TestDriftOfUnknownCluster(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 1)
	_, err := en.svc.Drift(context.Background(), "nope")
	if !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Drift of an unknown cluster: got %v, want controller.ErrNotFound", err)
	}
}

func TestFingerprintNormalises(t *testing.T) {
	t.Parallel()
	a := "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>x</description>\n</project>\n"
	b := "\ufeff<?xml version=\"1.0\"?>\r\n<project>  \r\n  <description>x</description>\r\n</project>"
	c := "<project>\n  <description>y</description>\n</project>"
	if jobsync.Fingerprint([]byte(a)) != jobsync.Fingerprint([]byte(b)) {
		t.Errorf("declaration, BOM, CRLF and trailing blanks change the fingerprint:\n%q\n%q", jobsync.Normalise([]byte(a)), jobsync.Normalise([]byte(b)))
	}
	if jobsync.Fingerprint([]byte(a)) == jobsync.Fingerprint([]byte(c)) {
		t.Error("different descriptions have the same fingerprint")
	}
}

// A pending write survives the process: a new Service on the same
// database (and a new handle on it) sends it.
func TestPendingSurvivesRestart(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, e dbtest.Engine) {
		en := setup(t, e, 2)
		en.sim(1).Down()
		cfg := freestyle("durable")
		if r := en.create("durable", cfg); r.status != http.StatusOK {
			t.Fatalf("createItem: %d", r.status)
		}
		if err := en.sim(1).Up(); err != nil {
			t.Fatal(err)
		}
		en.d = en.open()
		svc := en.newService()
		en.clock.Advance(time.Minute)
		got, err := svc.Retry(context.Background())
		if err != nil || got != (jobsync.RetryStats{Sent: 1, Applied: 1}) {
			t.Fatalf("Retry of the new service: got %+v %v", got, err)
		}
		en.wantConfig("durable", cfg, 0, 1)
	})
}

// Run retries on its own and stops with its context.
func TestRun(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 2, func(c *jobsync.Config) { c.DriftInterval = 20 * time.Millisecond })
	en.sim(1).Down()
	cfg := freestyle("run")
	if r := en.create("run", cfg); r.status != http.StatusOK {
		t.Fatalf("createItem: %d", r.status)
	}
	if err := en.sim(1).Up(); err != nil {
		t.Fatal(err)
	}
	en.clock.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- en.svc.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, func() bool { return en.config(1, "run") != "" }, func() string { return "jenkins-1 never got the job" })
	testkit.Eventually(t, 10*time.Second, func() bool {
		return en.metric("jenkinds_job_drift") == 0 && en.metric("jenkinds_job_sync_pending") == 0
	}, func() string { return "metrics never settled" })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	en.wantConfig("run", cfg, 0, 1)
}

// gojenkins, a real client, creates, updates and deletes through the
// front door.
func TestGojenkins(t *testing.T) {
	t.Parallel()
	en := setup(t, sqlite(t), 3)
	ctx := context.Background()
	jk := gojenkins.CreateJenkins(en.hc, en.front.URL, en.sim(0).User(), en.sim(0).Token())
	if _, err := jk.Init(ctx); err != nil {
		t.Fatalf("Init: %v", err)
	}
	v1 := freestyle("go v1")
	job, err := jk.CreateJob(ctx, v1, "gojob")
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	en.wantConfig("gojob", v1, 0, 1, 2)
	if _, err := jk.CreateJob(ctx, v1, "gojob"); err == nil {
		t.Error("CreateJob of an existing job: no error")
	}
	v2 := freestyle("go v2")
	if err := job.UpdateConfig(ctx, v2); err != nil {
		t.Fatalf("UpdateConfig: %v", err)
	}
	en.wantConfig("gojob", v2, 0, 1, 2)
	if ok, err := jk.DeleteJob(ctx, "gojob"); err != nil || !ok {
		t.Fatalf("DeleteJob: %v %v", ok, err)
	}
	en.wantMissing("gojob", 0, 1, 2)
}
