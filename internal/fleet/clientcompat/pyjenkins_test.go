package clientcompat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

// pyResult is the JSON a scenario of testdata/pyjenkins_fleet.py printed:
// what python-jenkins observed.
type pyResult struct {
	t      *testing.T
	data   map[string]any
	output string // stdout and stderr, shown with failures
}

// runPyJenkins runs one scenario against the front door of s with Debian's
// python3 and decodes its JSON; it fails the test, showing the output, if
// the script exits non-zero or prints no JSON.
func runPyJenkins(t *testing.T, s *servertest.Server, scenario string) *pyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "testdata/pyjenkins_fleet.py", scenario, s.Front+"/", servertest.User)
	cmd.Env = append(cmd.Environ(), "JENKINS_TOKEN="+servertest.Token, "PYTHONDONTWRITEBYTECODE=1")
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

// get returns the value at a dotted path ("stopped.result", "burst.0.number"
// with an index into a list), or nil.
func (r *pyResult) get(path string) any {
	var v any = r.data
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
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

// num reads the JSON number at path as an int64 (0 when it is not one).
func (r *pyResult) num(path string) int64 {
	f, _ := r.get(path).(float64)
	return int64(f)
}

func TestPythonJenkins(t *testing.T) {
	t.Parallel()
	requirePythonJenkins(t)
	for _, tc := range []struct {
		scenario string
		check    func(*testing.T, *servertest.Server, *pyResult)
	}{
		{"builds", checkPyBuilds},
		{"queue", checkPyQueue},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			s := startFleet(t)
			tc.check(t, s, runPyJenkins(t, s, tc.scenario))
		})
	}
}

// checkPyBuilds judges scenario "builds".
func checkPyBuilds(t *testing.T, s *servertest.Server, r *pyResult) {
	front := s.Front + "/"
	// §10.1 get_version(): anonymous unless auth was resolved by an
	// earlier call; GET / anonymously is 403 (§2.1) -> BadHTTPException,
	// on the front door as on Jenkins.
	r.expect("version_first_call.error", "BadHTTPException")
	r.expect("version_first_call.status", 403)
	r.expect("whoami_id", servertest.User)
	r.expect("version_after_auth", jenkinssim.DefaultVersion)

	// Every controller has the demo jobs: merged, each appears once.
	r.expect("jobs", []string{"deploy", "hello", "team-a"})
	r.expect("all_jobs", []string{"deploy", "hello", "team-a", "team-a/pipeline"})
	r.expect("job_exists", map[string]bool{"deploy": true, "hello": true, "team-a": true, "team-a/pipeline": true, "no-such-job": false})
	r.expect("deploy_before.builds", []any{})
	r.expect("deploy_before.lastBuild", nil)
	r.expect("deploy_before.nextBuildNumber", 1)
	r.expect("deploy_before.inQueue", false)
	r.expect("deploy_before.color", "notbuilt")
	r.expect("deploy_before.url", front+"job/deploy/")

	// The burst: queue ids followed to global numbers 1..n, each number
	// once, whichever controller ran the build.
	burst, _ := r.get("burst").([]any)
	if len(burst) != 4 {
		t.Fatalf("burst: got %d builds, want 4\n%s", len(burst), r.output)
	}
	var seen []seenBuild
	var numbers, queueIDs []int64
	for i := range burst {
		p := fmt.Sprintf("burst.%d.", i)
		b := r.get(fmt.Sprintf("burst.%d", i)).(map[string]any)
		n, qid := r.num(p+"number"), r.num(p+"queue_id")
		result, version := b["result"].(string), b["version"].(string)
		numbers, queueIDs = append(numbers, n), append(queueIDs, qid)
		seen = append(seen, seenBuild{queueID: qid, number: n, version: version, result: result})
		url := fmt.Sprintf("%sjob/deploy/%d/", front, n)

		r.expect(p+"item_class", "hudson.model.Queue$LeftItem")
		r.expect(p+"item_id", qid)
		r.expect(p+"executable_url", url)
		r.expect(p+"info._class", "hudson.model.FreeStyleBuild")
		r.expect(p+"info.number", n)
		r.expect(p+"info.id", fmt.Sprint(n))
		r.expect(p+"info.url", url)
		r.expect(p+"info.queueId", qid)
		r.expect(p+"info.result", result)
		r.expect(p+"info.building", false)
		r.expect(p+"info.displayName", fmt.Sprintf("#%d", n))
		r.expect(p+"info.fullDisplayName", fmt.Sprintf("deploy #%d", n))
		r.expect(p+"params.VERSION", version)
		r.expect(p+"params.SIM_RESULT", result)
		r.expect(p+"params.ENV", "production")
		r.expect(p+"console_last_line", "Finished: "+result)
		r.expect(p+"console_has_finished", true)
	}
	if sorted := slices.Sorted(slices.Values(numbers)); !slices.Equal(sorted, []int64{1, 2, 3, 4}) {
		t.Errorf("burst: global numbers %v, want 1, 2, 3 and 4 each once", numbers)
	}
	if sorted := slices.Compact(slices.Sorted(slices.Values(queueIDs))); len(sorted) != 4 || sorted[0] <= 0 {
		t.Errorf("burst: queue ids %v, want 4 distinct positive ids", queueIDs)
	}

	// The long build: running with no result, stopped, ABORTED.
	r.expect("stopped.number", 5)
	r.expect("stopped.running_result", nil)
	r.expect("stopped.result", "ABORTED")
	r.expect("stopped.console_last_line", "Finished: ABORTED")
	seen = append(seen, seenBuild{queueID: r.num("stopped.queue_id"), number: r.num("stopped.number"), version: "stop-me", result: "ABORTED"})

	// The job as one Jenkins would show it: every build of every
	// controller under its global number, newest first.
	all := []int64{5, 4, 3, 2, 1}
	r.expect("deploy_after.builds", all)
	var urls []string
	for _, n := range all {
		urls = append(urls, fmt.Sprintf("%sjob/deploy/%d/", front, n))
	}
	r.expect("deploy_after.build_urls", urls)
	r.expect("deploy_after.firstBuild", 1)
	r.expect("deploy_after.lastBuild", 5)
	r.expect("deploy_after.lastCompletedBuild", 5)
	r.expect("deploy_after.nextBuildNumber", 6)
	r.expect("deploy_after.inQueue", false)
	r.expect("deploy_after.queueItem", nil)
	r.expect("deploy_after.color", "aborted")
	byResult := map[string]int64{}
	for _, b := range seen {
		byResult[b.result] = max(byResult[b.result], b.number)
	}
	r.expect("deploy_after.lastFailedBuild", byResult["FAILURE"])
	r.expect("deploy_after.lastSuccessfulBuild", max(byResult["SUCCESS"], byResult["UNSTABLE"]))
	r.expect("deploy_after.lastUnstableBuild", byResult["UNSTABLE"])
	r.expect("deploy_after_fetch_all", all)
	r.expect("deploy_all_builds", all)
	// get_jobs() colours the job as get_job_info() does.
	r.expect("deploy_color_in_jobs", []string{"aborted"})

	// get_nodes(): the nodes of every controller; names that repeat get
	// their controller's name.
	r.expect("nodes", "[map[name:Built-In Node offline:false] map[name:agent-1 offline:false] "+
		"map[name:Built-In Node on jenkins-1 offline:false] map[name:agent-1 on jenkins-1 offline:false] "+
		"map[name:Built-In Node on jenkins-2 offline:false] map[name:agent-1 on jenkins-2 offline:false]]")

	// Where the builds ran: spread over the controllers, as the admin API
	// and the controllers themselves tell.
	per := checkPlacement(t, s, "deploy", seen)
	if len(per) < 2 {
		t.Errorf("the builds ran on %v: want at least two controllers", per)
	}
}

// checkPyQueue judges scenario "queue".
func checkPyQueue(t *testing.T, s *servertest.Server, r *pyResult) {
	qid := r.num("queue_id")
	if qid <= 0 {
		t.Fatalf("queue_id: got %v, want a positive id\n%s", r.get("queue_id"), r.output)
	}
	r.expect("delayed_item.class", "hudson.model.Queue$WaitingItem")
	r.expect("delayed_item.id", qid)
	r.expectContains("delayed_item.why", "In the quiet period. Expires in ")
	// Queue.Item.getParams: every parameter of the job, the defaults of
	// those the trigger did not give (§4.2).
	r.expect("delayed_item.params", "\nENV=staging\nVERSION=9.9.9\nDRY_RUN=true\nSIM_DURATION_MS=10\nSIM_RESULT=SUCCESS")
	r.expect("delayed_item.task", "deploy")
	r.expect("delayed_item.url", fmt.Sprintf("queue/item/%d/", qid))
	r.expect("queue_ids", []any{qid})
	r.expect("deploy_while_queued.inQueue", true)
	r.expect("deploy_while_queued.queueItem", qid)
	r.expect("deploy_while_queued.builds", []any{})

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
	r.expect("deploy_after_cancel.inQueue", false)
	r.expect("deploy_after_cancel.builds", []any{})
	r.expect("deploy_after_cancel.nextBuildNumber", 1)
	// An unknown id is 404, which cancel_queue swallows: it returns None.
	if outcome, _ := r.get("cancel_unknown").(map[string]any); outcome == nil || outcome["error"] != nil || outcome["value"] != nil {
		t.Errorf("cancel_queue(unknown id): got %v, want map[value:<nil>]", r.get("cancel_unknown"))
	}

	// The build never ran anywhere.
	if b := record(t, s, qid); b.State != string(dispatch.StateCancelled) || b.Number != 0 || len(b.Attempts) != 0 {
		t.Errorf("admin API: build %d after cancel_queue: state %s, number %d, %d attempts; want cancelled, never placed", qid, b.State, b.Number, len(b.Attempts))
	}
	for _, c := range s.Sims {
		if bs := controllerBuilds(t, c, "deploy"); len(bs) != 0 {
			t.Errorf("%s ran %d builds of deploy, want none", c.Name(), len(bs))
		}
	}
}
