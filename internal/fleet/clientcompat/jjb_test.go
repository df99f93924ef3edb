package clientcompat

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkinssim/pyjenkins"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

const jjbManaged = pyjenkins.JJBManaged

// TestJenkinsJobBuilder points jenkins-job-builder at the front door, with
// the YAML files the simulator's own test uses
// (internal/jenkinssim/clientcompat/testdata/jjb): it creates jobs and
// folders, reconfigures two, then deletes two with --delete-old. Each run
// is read back through the front door at once (read your writes: the
// front door answers reads from memory), and on every controller (a job
// is defined once for the whole cluster).
func TestJenkinsJobBuilder(t *testing.T) {
	t.Parallel()
	pyjenkins.RequireJJB(t)
	s := startFleet(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "jenkins_jobs.ini")
	ini := fmt.Sprintf("[job_builder]\nallow_duplicates=False\n\n[jenkins]\nurl=%s/\nuser=%s\npassword=%s\nquery_plugins_info=True\n",
		s.Front, servertest.User, servertest.Token)
	if err := os.WriteFile(conf, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	run := func(yaml string, args ...string) string {
		t.Helper()
		return pyjenkins.RunJJB(t, clientTimeout, conf, cache, filepath.Join("..", "..", "jenkinssim", "clientcompat", "testdata", "jjb", yaml), args...)
	}
	expect := func(out, line string) {
		t.Helper()
		if !strings.Contains(out, line) {
			t.Errorf("jenkins-jobs output: missing %q\n%s", line, out)
		}
	}
	// front reads path through the front door: its status and body.
	front := func(path string) (int, string) {
		t.Helper()
		res, body := s.Jenkins(http.MethodGet, path, nil, "")
		return res.StatusCode, string(body)
	}
	description := func(path string) string {
		t.Helper()
		code, body := front(path + "api/json?tree=description")
		var job struct {
			Description string `json:"description"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &job) != nil {
			t.Errorf("GET %sapi/json on the front door: HTTP %d: %.200s", path, code, body)
		}
		return job.Description
	}
	rootJobs := func() []string {
		t.Helper()
		code, body := front("/api/json?tree=jobs[name]")
		var root struct {
			Jobs []struct {
				Name string `json:"name"`
			} `json:"jobs"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &root) != nil {
			t.Fatalf("GET /api/json on the front door: HTTP %d: %.200s", code, body)
		}
		var names []string
		for _, j := range root.Jobs {
			names = append(names, j.Name)
		}
		return names
	}
	onEveryController := func(path string, want int) {
		t.Helper()
		for _, c := range s.Sims {
			req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(c.URL(), "/")+path, nil)
			req.SetBasicAuth(c.User(), c.Token())
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s on %s: %v", path, c.Name(), err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("GET %s on %s: HTTP %d, want %d", path, c.Name(), res.StatusCode, want)
			}
		}
	}

	// First run: a parameterized job, a folder with a job in it, and a job
	// in the existing folder team-a. Read at once through the front door.
	out := run("v1.yaml")
	expect(out, "Number of jobs updated: 4")
	if names := rootJobs(); !slices.Contains(names, "jjb-freestyle") || !slices.Contains(names, "jjb-folder") {
		t.Errorf("/api/json right after the first run lists %v, want jjb-freestyle and jjb-folder", names)
	}
	if got, want := description("/job/jjb-freestyle/"), "Deploys things, version one"+jjbManaged; got != want {
		t.Errorf("jjb-freestyle description after v1: got %q, want %q", got, want)
	}
	if got, want := description("/job/jjb-folder/job/inner/"), "Inside a folder made by JJB, version one"+jjbManaged; got != want {
		t.Errorf("jjb-folder/inner description after v1: got %q, want %q", got, want)
	}
	onEveryController("/job/jjb-freestyle/api/json", http.StatusOK)
	onEveryController("/job/team-a/job/jjb-job/api/json", http.StatusOK)

	// Second run: JJB's cache finds two changed jobs and reconfigures them;
	// config.xml and the job's JSON say so at once.
	out = run("v2.yaml")
	expect(out, "Number of jobs updated: 2")
	if code, cfg := front("/job/jjb-freestyle/config.xml"); code != http.StatusOK || !strings.Contains(cfg, "<defaultValue>2.0.0</defaultValue>") {
		t.Errorf("jjb-freestyle config.xml through the front door after v2: HTTP %d, no <defaultValue>2.0.0</defaultValue>:\n%.500s", code, cfg)
	}
	if got, want := description("/job/jjb-freestyle/"), "Deploys things, version two"+jjbManaged; got != want {
		t.Errorf("jjb-freestyle description after v2: got %q, want %q", got, want)
	}
	if got, want := description("/job/jjb-folder/job/inner/"), "Inside a folder made by JJB, version two"+jjbManaged; got != want {
		t.Errorf("jjb-folder/inner description after v2: got %q, want %q", got, want)
	}

	// Third run with --delete-old: the two jobs no longer defined go, from
	// the front door's answers at once and from every controller.
	out = run("v3.yaml", "--delete-old")
	expect(out, "Number of jobs deleted: 2")
	for _, gone := range []string{"/job/jjb-folder/job/inner/api/json", "/job/team-a/job/jjb-job/api/json"} {
		if code, _ := front(gone); code != http.StatusNotFound {
			t.Errorf("GET %s through the front door after --delete-old: HTTP %d, want 404", gone, code)
		}
		onEveryController(gone, http.StatusNotFound)
	}
	if names := rootJobs(); !slices.Contains(names, "jjb-freestyle") || !slices.Contains(names, "hello") {
		t.Errorf("/api/json after --delete-old lists %v, want jjb-freestyle and hello kept", names)
	}
}
