package clientcompat

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/jenkinssim/pyjenkins"
)

// runPyJenkins runs one scenario of testdata/pyjenkins_scenarios.py
// against c.
func runPyJenkins(t *testing.T, c *jenkinssim.Controller, scenario string) *pyResult {
	t.Helper()
	return pyjenkins.Run(t, clientTimeout, "testdata/pyjenkins_scenarios.py", scenario, c.URL(), c.User(), c.Token())
}

type pyResult = pyjenkins.Result

func TestPythonJenkins(t *testing.T) {
	t.Parallel()
	pyjenkins.Require(t)
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
	r.Expect("version_first_call.error", "BadHTTPException")
	r.Expect("version_first_call.status", 403)
	r.Expect("whoami_id", c.User())
	r.Expect("version_after_auth", jenkinssim.DefaultVersion)

	r.Expect("info.mode", "NORMAL")
	r.Expect("info.quietingDown", false)
	r.Expect("info.useCrumbs", true)
	r.Expect("info.jobs", []string{"deploy", "hello", "team-a"})
	r.Expect("all_jobs", []string{"deploy", "hello", "team-a", "team-a/pipeline"})
	r.Expect("job_exists.hello", true)
	r.Expect("job_exists.team-a/pipeline", true)
	r.Expect("job_exists.no-such-job", false)

	r.Expect("created_exists", true)
	r.Expect("config_first_line", `<?xml version="1.1" encoding="UTF-8"?>`)
	r.Expect("config_has_sim_result", true)
	r.Expect("created_params", []string{"ChoiceParameterDefinition:ENV", "StringParameterDefinition:VERSION",
		"BooleanParameterDefinition:DRY_RUN", "StringParameterDefinition:SIM_DURATION_MS", "StringParameterDefinition:SIM_RESULT"})
	r.Expect("description_after_reconfig", "Reconfigured by python-jenkins")
	r.Expect("config_after_reconfig_has_new_description", true)

	r.Expect("folder_job_exists", true)
	r.Expect("create_in_missing_folder.error", "JenkinsException")
	r.ExpectContains("create_in_missing_folder.message", "folder for the job does not exist")
	r.Expect("folder_job_exists_after_delete", false)
	r.Expect("pipeline_build.class", "org.jenkinsci.plugins.workflow.job.WorkflowRun")
	r.Expect("pipeline_build.result", "SUCCESS")

	r.Expect("hello_build.queue_id_positive", true)
	r.Expect("hello_build.queue_item_class", "hudson.model.Queue$LeftItem")
	r.Expect("hello_build.number", 1)
	r.Expect("hello_build.building", false)
	r.Expect("hello_build.result", "SUCCESS")
	r.Expect("hello_build.console_last_line", "Finished: SUCCESS")

	r.Expect("failure_build.number", 1)
	r.Expect("failure_build.result", "FAILURE")
	r.Expect("failure_build.console_last_line", "Finished: FAILURE")
	r.Expect("failure_build.params.ENV", "production")
	r.Expect("failure_build.params.VERSION", "2.0.0")
	r.Expect("failure_build.params.DRY_RUN", false)
	r.Expect("failure_build.params.SIM_RESULT", "FAILURE")

	// §3.3: POST /build on a parameterized job without a json form is
	// 400, which python-jenkins passes on as requests.HTTPError.
	r.Expect("build_param_job_without_params.error", "HTTPError")
	r.Expect("build_param_job_without_params.status", 400)

	// §10.1 get_running_builds(): GET computer/Built-In%20Node/api/json
	// is 404 (§7.1), so it raises instead of listing the running build.
	r.Expect("running_builds.error", "JenkinsException")
	r.ExpectContains("running_builds.message", "node[Built-In Node] does not exist")

	r.Expect("stopped_build.number", 2)
	r.Expect("stopped_build.result", "ABORTED")
	r.Expect("stopped_build.console_last_line", "Finished: ABORTED")
	r.Expect("exists_after_delete", false)
	if status, _ := simGet(t, c, "job/py-param/api/json"); status != 404 {
		t.Errorf("GET job/py-param/api/json after delete_job: got %d, want 404", status)
	}
}

// checkPyAdmin judges scenario "admin": nodes, plugins, quiet down and
// cancelling it.
func checkPyAdmin(t *testing.T, c *jenkinssim.Controller, r *pyResult) {
	r.Expect("nodes", "[map[name:Built-In Node offline:false] map[name:agent-1 offline:false] map[name:agent-2 offline:false]]")
	// §7.1: the built-in node is not reachable by its display name.
	r.Expect("node_info_by_display_name.error", "JenkinsException")
	r.ExpectContains("node_info_by_display_name.message", "node[Built-In Node] does not exist")
	r.Expect("node_info_built_in", "Built-In Node")

	r.Expect("plugins", []string{"cloudbees-folder", "credentials", "git", "matrix-auth", "workflow-aggregator", "workflow-job"})
	r.Expect("plugin_git_version", "5.7.0")
	r.Expect("plugin_by_long_name", "git")

	r.Expect("quieting_down", true)
	// §9 / §4.2: new items are blocked while quieting down.
	r.Expect("queued_while_quieting_down.class", "hudson.model.Queue$BlockedItem")
	r.Expect("queued_while_quieting_down.why", "Jenkins is about to shut down")
	r.Expect("quieting_down_after_cancel", false)
	r.Expect("result_after_cancel", "SUCCESS")
}

// checkPyQueue judges scenario "queue": a delayed trigger, the 303 on a
// duplicate trigger, cancel_queue.
func checkPyQueue(t *testing.T, c *jenkinssim.Controller, r *pyResult) {
	r.Expect("delayed_item.class", "hudson.model.Queue$WaitingItem")
	r.ExpectContains("delayed_item.why", "In the quiet period. Expires in ")
	r.Expect("delayed_item.params", "\nENV=staging\nVERSION=1.0.0\nDRY_RUN=true\nSIM_DURATION_MS=50\nSIM_RESULT=SUCCESS")
	qid := r.Get("queue_id")
	r.Expect("queue_ids", []any{qid})

	// §3.4: 303 -> requests GETs /queue/item/N/ -> no Location there.
	r.Expect("duplicate_trigger.error", "EmptyResponseException")
	r.ExpectContains("duplicate_trigger.message", "Header 'Location' not found")
	r.Expect("queue_ids_after_duplicate", []any{qid})

	// §4.4: 204 without Content-Length -> EmptyResponseException, but
	// the item is cancelled.
	r.Expect("cancel_queue.error", "EmptyResponseException")
	r.Expect("cancelled_item.class", "hudson.model.Queue$LeftItem")
	r.Expect("cancelled_item.cancelled", true)
	r.Expect("cancelled_item.executable", nil)
	r.Expect("queue_ids_after_cancel", []any{})
	// An unknown id is 404, which cancel_queue swallows: it returns None.
	if outcome, _ := r.Get("cancel_unknown").(map[string]any); outcome == nil || outcome["error"] != nil || outcome["value"] != nil {
		t.Errorf("cancel_queue(unknown id): got %v, want map[value:<nil>]", r.Get("cancel_unknown"))
	}
}
