package clientcompat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// pyResult is the JSON a scenario of testdata/pyjenkins_scenarios.py
// printed: what python-jenkins observed.
type pyResult struct {
	t      *testing.T
	data   map[string]any
	output string // stdout and stderr, shown with failures
}

// runPyJenkins runs one scenario against c with Debian's python3 and
// decodes its JSON; it fails the test, showing the output, if the script
// exits non-zero or prints no JSON.
func runPyJenkins(t *testing.T, c *jenkinssim.Controller, scenario string) *pyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "testdata/pyjenkins_scenarios.py", scenario, c.URL(), c.User())
	cmd.Env = append(cmd.Environ(), "JENKINS_TOKEN="+c.Token(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	output := "stdout:\n" + stdout.String() + "\nstderr:\n" + stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("python-jenkins scenario %s did not finish within %v\n%s", scenario, clientTimeout, output)
	}
	if err != nil {
		t.Fatalf("python-jenkins scenario %s failed: %v\n%s", scenario, err, output)
	}
	if testing.Verbose() {
		t.Logf("python-jenkins scenario %s:\n%s", scenario, output)
	}
	r := &pyResult{t: t, output: output}
	if err := json.Unmarshal(stdout.Bytes(), &r.data); err != nil {
		t.Fatalf("python-jenkins scenario %s printed no JSON: %v\n%s", scenario, err, output)
	}
	if got, want := fmt.Sprint(r.data["python_jenkins_file"]), "/usr/lib/python3/dist-packages/jenkins/__init__.py"; got != want {
		t.Errorf("python-jenkins module: got %v, want Debian's %v", got, want)
	}
	return r
}

// get returns the value at a dotted path ("failure_build.result"), or nil.
func (r *pyResult) get(path string) any {
	var v any = r.data
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// expect compares the value at path with want by their printed forms, so
// that JSON numbers, lists and nulls compare with Go literals.
func (r *pyResult) expect(path string, want any) {
	r.t.Helper()
	if got := r.get(path); fmt.Sprint(got) != fmt.Sprint(want) {
		r.t.Errorf("%s: got %v, want %v\n%s", path, got, want, r.output)
	}
}

// expectContains checks that the string at path contains substr.
func (r *pyResult) expectContains(path, substr string) {
	r.t.Helper()
	got, _ := r.get(path).(string)
	if !strings.Contains(got, substr) {
		r.t.Errorf("%s: got %q, want it to contain %q\n%s", path, got, substr, r.output)
	}
}

func TestPythonJenkins(t *testing.T) {
	t.Parallel()
	requirePythonJenkins(t)
	for _, tc := range []struct {
		scenario string
		check    func(*testing.T, *jenkinssim.Controller, *pyResult)
	}{
		{"jobs", checkPyJobs},
		{"admin", checkPyAdmin},
		{"queue", checkPyQueue},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			c := startSim(t)
			tc.check(t, c, runPyJenkins(t, c, tc.scenario))
		})
	}
}

// checkPyJobs judges scenario "jobs": version and auth quirks, job CRUD
// (top level and in folders), builds with and without parameters, scripted
// results, console, stop, delete.
func checkPyJobs(t *testing.T, c *jenkinssim.Controller, r *pyResult) {
	// §10.1 get_version(): anonymous unless auth was resolved by an
	// earlier call; GET / anonymously is 403 (§2.1) -> BadHTTPException.
	r.expect("version_first_call.error", "BadHTTPException")
	r.expect("version_first_call.status", 403)
	r.expect("whoami_id", c.User())
	r.expect("version_after_auth", jenkinssim.DefaultVersion)

	r.expect("info.mode", "NORMAL")
	r.expect("info.quietingDown", false)
	r.expect("info.useCrumbs", true)
	r.expect("info.jobs", []string{"deploy", "hello", "team-a"})
	r.expect("all_jobs", []string{"deploy", "hello", "team-a", "team-a/pipeline"})
	r.expect("job_exists.hello", true)
	r.expect("job_exists.team-a/pipeline", true)
	r.expect("job_exists.no-such-job", false)

	r.expect("created_exists", true)
	r.expect("config_first_line", `<?xml version="1.1" encoding="UTF-8"?>`)
	r.expect("config_has_sim_result", true)
	r.expect("created_params", []string{"ChoiceParameterDefinition:ENV", "StringParameterDefinition:VERSION",
		"BooleanParameterDefinition:DRY_RUN", "StringParameterDefinition:SIM_DURATION_MS", "StringParameterDefinition:SIM_RESULT"})
	r.expect("description_after_reconfig", "Reconfigured by python-jenkins")
	r.expect("config_after_reconfig_has_new_description", true)

	r.expect("folder_job_exists", true)
	r.expect("create_in_missing_folder.error", "JenkinsException")
	r.expectContains("create_in_missing_folder.message", "folder for the job does not exist")
	r.expect("folder_job_exists_after_delete", false)
	r.expect("pipeline_build.class", "org.jenkinsci.plugins.workflow.job.WorkflowRun")
	r.expect("pipeline_build.result", "SUCCESS")

	r.expect("hello_build.queue_id_positive", true)
	r.expect("hello_build.queue_item_class", "hudson.model.Queue$LeftItem")
	r.expect("hello_build.number", 1)
	r.expect("hello_build.building", false)
	r.expect("hello_build.result", "SUCCESS")
	r.expect("hello_build.console_last_line", "Finished: SUCCESS")

	r.expect("failure_build.number", 1)
	r.expect("failure_build.result", "FAILURE")
	r.expect("failure_build.console_last_line", "Finished: FAILURE")
	r.expect("failure_build.params.ENV", "production")
	r.expect("failure_build.params.VERSION", "2.0.0")
	r.expect("failure_build.params.DRY_RUN", false)
	r.expect("failure_build.params.SIM_RESULT", "FAILURE")

	// §3.3: POST /build on a parameterized job without a json form is
	// 400, which python-jenkins passes on as requests.HTTPError.
	r.expect("build_param_job_without_params.error", "HTTPError")
	r.expect("build_param_job_without_params.status", 400)

	// §10.1 get_running_builds(): GET computer/Built-In%20Node/api/json
	// is 404 (§7.1), so it raises instead of listing the running build.
	r.expect("running_builds.error", "JenkinsException")
	r.expectContains("running_builds.message", "node[Built-In Node] does not exist")

	r.expect("stopped_build.number", 2)
	r.expect("stopped_build.result", "ABORTED")
	r.expect("stopped_build.console_last_line", "Finished: ABORTED")
	r.expect("exists_after_delete", false)
	if status, _ := simGet(t, c, "job/py-param/api/json"); status != 404 {
		t.Errorf("GET job/py-param/api/json after delete_job: got %d, want 404", status)
	}
}

// checkPyAdmin judges scenario "admin": nodes, plugins, quiet down and
// cancelling it.
func checkPyAdmin(t *testing.T, c *jenkinssim.Controller, r *pyResult) {
	r.expect("nodes", "[map[name:Built-In Node offline:false] map[name:agent-1 offline:false] map[name:agent-2 offline:false]]")
	// §7.1: the built-in node is not reachable by its display name.
	r.expect("node_info_by_display_name.error", "JenkinsException")
	r.expectContains("node_info_by_display_name.message", "node[Built-In Node] does not exist")
	r.expect("node_info_built_in", "Built-In Node")

	r.expect("plugins", []string{"cloudbees-folder", "credentials", "git", "matrix-auth", "workflow-aggregator", "workflow-job"})
	r.expect("plugin_git_version", "5.7.0")
	r.expect("plugin_by_long_name", "git")

	r.expect("quieting_down", true)
	// §9 / §4.2: new items are blocked while quieting down.
	r.expect("queued_while_quieting_down.class", "hudson.model.Queue$BlockedItem")
	r.expect("queued_while_quieting_down.why", "Jenkins is about to shut down")
	r.expect("quieting_down_after_cancel", false)
	r.expect("result_after_cancel", "SUCCESS")
}

// checkPyQueue judges scenario "queue": a delayed trigger, the 303 on a
// duplicate trigger, cancel_queue.
func checkPyQueue(t *testing.T, c *jenkinssim.Controller, r *pyResult) {
	r.expect("delayed_item.class", "hudson.model.Queue$WaitingItem")
	r.expectContains("delayed_item.why", "In the quiet period. Expires in ")
	r.expect("delayed_item.params", "\nENV=staging\nVERSION=1.0.0\nDRY_RUN=true\nSIM_DURATION_MS=50\nSIM_RESULT=SUCCESS")
	qid := r.get("queue_id")
	r.expect("queue_ids", []any{qid})

	// §3.4: 303 -> requests GETs /queue/item/N/ -> no Location there.
	r.expect("duplicate_trigger.error", "EmptyResponseException")
	r.expectContains("duplicate_trigger.message", "Header 'Location' not found")
	r.expect("queue_ids_after_duplicate", []any{qid})

	// §4.4: 204 without Content-Length -> EmptyResponseException, but
	// the item is cancelled.
	r.expect("cancel_queue.error", "EmptyResponseException")
	r.expect("cancelled_item.class", "hudson.model.Queue$LeftItem")
	r.expect("cancelled_item.cancelled", true)
	r.expect("cancelled_item.executable", nil)
	r.expect("queue_ids_after_cancel", []any{})
	// An unknown id is 404, which cancel_queue swallows: it returns None.
	if outcome, _ := r.get("cancel_unknown").(map[string]any); outcome == nil || outcome["error"] != nil || outcome["value"] != nil {
		t.Errorf("cancel_queue(unknown id): got %v, want map[value:<nil>]", r.get("cancel_unknown"))
	}
}
