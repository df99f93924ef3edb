package clientcompat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/jenkinssim/pyjenkins"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// runJJB runs jenkins-jobs update against the simulator (pyjenkins.RunJJB).
func runJJB(t *testing.T, conf, cacheHome, yamlFile string, args ...string) string {
	t.Helper()
	return pyjenkins.RunJJB(t, clientTimeout, conf, cacheHome, yamlFile, args...)
}

const jjbManaged = pyjenkins.JJBManaged

// jobDescription returns the description of the job at jobPath ("job/a/").
func jobDescription(t *testing.T, c *jenkinssim.Controller, jobPath string) string {
	t.Helper()
	var job struct {
		Description string `json:"description"`
	}
	simJSON(t, c, jobPath+"api/json", &job)
	return job.Description
}

func expectLog(t *testing.T, output, line string) {
	t.Helper()
	if !strings.Contains(output, line) {
		t.Errorf("jenkins-jobs output: missing %q\n%s", line, output)
	}
}

func expectStatus(t *testing.T, c *jenkinssim.Controller, path string, want int) {
	t.Helper()
	if got, body := simGet(t, c, path); got != want {
		t.Errorf("GET %s: got %d, want %d; body: %.200s", path, got, want, body)
	}
}

func TestJenkinsJobBuilder(t *testing.T) {
	t.Parallel()
	pyjenkins.RequireJJB(t)
	c := startSim(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "jenkins_jobs.ini")
	ini := fmt.Sprintf("[job_builder]\nallow_duplicates=False\n\n[jenkins]\nurl=%s\nuser=%s\npassword=%s\nquery_plugins_info=True\n",
		c.URL(), c.User(), c.Token())
	if err := os.WriteFile(conf, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	yaml := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", "jjb", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// First run: create a parameterized freestyle job, a folder, a job in
	// that folder and a job in the existing folder team-a.
	out := runJJB(t, conf, cache, yaml("v1.yaml"))
	expectLog(t, out, "Number of jobs updated: 4")
	// query_plugins_info=True: a failed GET pluginManager/api/json?depth=2
	// is only a warning (§10.2 step 2), so look for it.
	if strings.Contains(out, "Unable to retrieve Jenkins Plugin Info") {
		t.Errorf("jenkins-jobs could not read the plugin list:\n%s", out)
	}
	desc := jobDescription(t, c, "job/jjb-freestyle/")
	if want := "Deploys things, version one" + jjbManaged; desc != want {
		t.Errorf("jjb-freestyle description after v1: got %q, want %q", desc, want)
	}
	wantParams := []string{"ChoiceParameterDefinition:ENV", "StringParameterDefinition:VERSION",
		"BooleanParameterDefinition:DRY_RUN", "StringParameterDefinition:SIM_RESULT"}
	if got := jobParams(t, c, "job/jjb-freestyle/"); !slices.Equal(got, wantParams) {
		t.Errorf("jjb-freestyle parameters after v1: got %v, want %v", got, wantParams)
	}
	var folder struct {
		Class string `json:"_class"`
		Jobs  []struct {
			Name string `json:"name"`
		} `json:"jobs"`
	}
	simJSON(t, c, "job/jjb-folder/api/json", &folder)
	if got, want := folder.Class, "com.cloudbees.hudson.plugins.folder.Folder"; got != want {
		t.Errorf("jjb-folder _class: got %v, want %v", got, want)
	}
	if len(folder.Jobs) != 1 || folder.Jobs[0].Name != "inner" {
		t.Errorf("jjb-folder jobs: got %v, want [{inner}]", folder.Jobs)
	}
	if got, want := jobDescription(t, c, "job/jjb-folder/job/inner/"), "Inside a folder made by JJB, version one"+jjbManaged; got != want {
		t.Errorf("jjb-folder/inner description after v1: got %q, want %q", got, want)
	}
	expectStatus(t, c, "job/team-a/job/jjb-job/api/json", 200)

	// Second run: the cache finds two changed jobs, which JJB reconfigures.
	out = runJJB(t, conf, cache, yaml("v2.yaml"))
	expectLog(t, out, "Number of jobs updated: 2")
	if got, want := jobDescription(t, c, "job/jjb-freestyle/"), "Deploys things, version two"+jjbManaged; got != want {
		t.Errorf("jjb-freestyle description after v2: got %q, want %q", got, want)
	}
	wantParams = []string{"ChoiceParameterDefinition:ENV", "StringParameterDefinition:VERSION",
		"BooleanParameterDefinition:DRY_RUN", "StringParameterDefinition:SIM_DURATION_MS", "StringParameterDefinition:SIM_RESULT"}
	if got := jobParams(t, c, "job/jjb-freestyle/"); !slices.Equal(got, wantParams) {
		t.Errorf("jjb-freestyle parameters after v2: got %v, want %v", got, wantParams)
	}
	if _, cfg := simGet(t, c, "job/jjb-freestyle/config.xml"); !strings.Contains(cfg, "<defaultValue>2.0.0</defaultValue>") {
		t.Errorf("jjb-freestyle config.xml after v2: no <defaultValue>2.0.0</defaultValue>:\n%s", cfg)
	}
	if got, want := jobDescription(t, c, "job/jjb-folder/job/inner/"), "Inside a folder made by JJB, version two"+jjbManaged; got != want {
		t.Errorf("jjb-folder/inner description after v2: got %q, want %q", got, want)
	}

	// The parameters JJB defined script the simulated builds.
	if status, loc := simPost(t, c, "job/jjb-freestyle/buildWithParameters?SIM_RESULT=UNSTABLE&SIM_DURATION_MS=50"); status != 201 || loc == "" {
		t.Fatalf("trigger jjb-freestyle: got %d (Location %q), want 201 with a Location", status, loc)
	}
	var build struct {
		Building bool   `json:"building"`
		Result   string `json:"result"`
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		status, body := simGet(t, c, "job/jjb-freestyle/1/api/json")
		return status == 200 && json.Unmarshal([]byte(body), &build) == nil && !build.Building
	}, testkit.Sayf("jjb-freestyle #1 to exist and finish"))
	if got, want := build.Result, "UNSTABLE"; got != want {
		t.Errorf("jjb-freestyle #1 result: got %v, want %v", got, want)
	}

	// Third run with --delete-old: the two jobs no longer defined are
	// managed by JJB and go; the default jobs are not managed and stay.
	out = runJJB(t, conf, cache, yaml("v3.yaml"), "--delete-old")
	expectLog(t, out, "Number of jobs deleted: 2")
	expectStatus(t, c, "job/jjb-folder/job/inner/api/json", 404)
	expectStatus(t, c, "job/team-a/job/jjb-job/api/json", 404)
	for _, kept := range []string{"job/jjb-freestyle/", "job/jjb-folder/", "job/hello/", "job/deploy/", "job/team-a/", "job/team-a/job/pipeline/"} {
		expectStatus(t, c, kept+"api/json", 200)
	}
}
