package clientcompat

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/jenkinssim/pyjenkins"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

// runPyJenkins runs one scenario of testdata/pyjenkins_fleet.py against
// the front door of s.
func runPyJenkins(t *testing.T, s *servertest.Server, scenario string) *pyResult {
	t.Helper()
	return pyjenkins.Run(t, clientTimeout, "testdata/pyjenkins_fleet.py", scenario, s.Front+"/", servertest.User, servertest.Token)
}

type pyResult = pyjenkins.Result

func TestPythonJenkins(t *testing.T) {
	t.Parallel()
	pyjenkins.Require(t)
	for _, tc := range []struct {
		scenario string
		check    func(*testing.T, *servertest.Server, *pyResult)
	}{
		{"builds", checkPyBuilds},
		{"queue", checkPyQueue},
		{"writes", checkPyWrites},
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
	r.Expect("version_first_call.error", "BadHTTPException")
	r.Expect("version_first_call.status", 403)
	r.Expect("whoami_id", servertest.User)
	r.Expect("version_after_auth", jenkinssim.DefaultVersion)

	// Every controller has the demo jobs: merged, each appears once.
	r.Expect("jobs", []string{"deploy", "hello", "team-a"})
	r.Expect("all_jobs", []string{"deploy", "hello", "team-a", "team-a/pipeline"})
	r.Expect("job_exists", map[string]bool{"deploy": true, "hello": true, "team-a": true, "team-a/pipeline": true, "no-such-job": false})
	r.Expect("deploy_before.builds", []any{})
	r.Expect("deploy_before.lastBuild", nil)
	r.Expect("deploy_before.nextBuildNumber", 1)
	r.Expect("deploy_before.inQueue", false)
	r.Expect("deploy_before.color", "notbuilt")
	r.Expect("deploy_before.url", front+"job/deploy/")

	// The burst: queue ids followed to global numbers 1..n, each number
	// once, whichever controller ran the build.
	burst, _ := r.Get("burst").([]any)
	if len(burst) != 4 {
		t.Fatalf("burst: got %d builds, want 4\n%s", len(burst), r.Output())
	}
	var seen []seenBuild
	var numbers, queueIDs []int64
	for i := range burst {
		p := fmt.Sprintf("burst.%d.", i)
		b := r.Get(fmt.Sprintf("burst.%d", i)).(map[string]any)
		n, qid := r.Num(p+"number"), r.Num(p+"queue_id")
		result, version := b["result"].(string), b["version"].(string)
		numbers, queueIDs = append(numbers, n), append(queueIDs, qid)
		seen = append(seen, seenBuild{queueID: qid, number: n, version: version, result: result})
		url := fmt.Sprintf("%sjob/deploy/%d/", front, n)

		r.Expect(p+"item_class", "hudson.model.Queue$LeftItem")
		r.Expect(p+"item_id", qid)
		r.Expect(p+"executable_url", url)
		r.Expect(p+"info._class", "hudson.model.FreeStyleBuild")
		r.Expect(p+"info.number", n)
		r.Expect(p+"info.id", fmt.Sprint(n))
		r.Expect(p+"info.url", url)
		r.Expect(p+"info.queueId", qid)
		r.Expect(p+"info.result", result)
		r.Expect(p+"info.building", false)
		r.Expect(p+"info.displayName", fmt.Sprintf("#%d", n))
		r.Expect(p+"info.fullDisplayName", fmt.Sprintf("deploy #%d", n))
		r.Expect(p+"params.VERSION", version)
		r.Expect(p+"params.SIM_RESULT", result)
		r.Expect(p+"params.ENV", "production")
		r.Expect(p+"console_last_line", "Finished: "+result)
		r.Expect(p+"console_has_finished", true)
	}
	if sorted := slices.Sorted(slices.Values(numbers)); !slices.Equal(sorted, []int64{1, 2, 3, 4}) {
		t.Errorf("burst: global numbers %v, want 1, 2, 3 and 4 each once", numbers)
	}
	if sorted := slices.Compact(slices.Sorted(slices.Values(queueIDs))); len(sorted) != 4 || sorted[0] <= 0 {
		t.Errorf("burst: queue ids %v, want 4 distinct positive ids", queueIDs)
	}

	// The long build: running with no result, stopped, ABORTED.
	r.Expect("stopped.number", 5)
	r.Expect("stopped.running_result", nil)
	r.Expect("stopped.result", "ABORTED")
	r.Expect("stopped.console_last_line", "Finished: ABORTED")
	seen = append(seen, seenBuild{queueID: r.Num("stopped.queue_id"), number: r.Num("stopped.number"), version: "stop-me", result: "ABORTED"})

	// The job as one Jenkins would show it: every build of every
	// controller under its global number, newest first.
	all := []int64{5, 4, 3, 2, 1}
	r.Expect("deploy_after.builds", all)
	var urls []string
	for _, n := range all {
		urls = append(urls, fmt.Sprintf("%sjob/deploy/%d/", front, n))
	}
	r.Expect("deploy_after.build_urls", urls)
	r.Expect("deploy_after.firstBuild", 1)
	r.Expect("deploy_after.lastBuild", 5)
	r.Expect("deploy_after.lastCompletedBuild", 5)
	r.Expect("deploy_after.nextBuildNumber", 6)
	r.Expect("deploy_after.inQueue", false)
	r.Expect("deploy_after.queueItem", nil)
	r.Expect("deploy_after.color", "aborted")
	byResult := map[string]int64{}
	for _, b := range seen {
		byResult[b.result] = max(byResult[b.result], b.number)
	}
	r.Expect("deploy_after.lastFailedBuild", byResult["FAILURE"])
	r.Expect("deploy_after.lastSuccessfulBuild", max(byResult["SUCCESS"], byResult["UNSTABLE"]))
	r.Expect("deploy_after.lastUnstableBuild", byResult["UNSTABLE"])
	r.Expect("deploy_after_fetch_all", all)
	r.Expect("deploy_all_builds", all)
	// get_jobs() colours the job as get_job_info() does.
	r.Expect("deploy_color_in_jobs", []string{"aborted"})

	// get_nodes(): the nodes of every controller; names that repeat get
	// their controller's name.
	r.Expect("nodes", "[map[name:Built-In Node offline:false] map[name:agent-1 offline:false] "+
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
	qid := r.Num("queue_id")
	if qid <= 0 {
		t.Fatalf("queue_id: got %v, want a positive id\n%s", r.Get("queue_id"), r.Output())
	}
	r.Expect("delayed_item.class", "hudson.model.Queue$WaitingItem")
	r.Expect("delayed_item.id", qid)
	r.ExpectContains("delayed_item.why", "In the quiet period. Expires in ")
	// Queue.Item.getParams: every parameter of the job, the defaults of
	// those the trigger did not give (§4.2).
	r.Expect("delayed_item.params", "\nENV=staging\nVERSION=9.9.9\nDRY_RUN=true\nSIM_DURATION_MS=10\nSIM_RESULT=SUCCESS")
	r.Expect("delayed_item.task", "deploy")
	r.Expect("delayed_item.url", fmt.Sprintf("queue/item/%d/", qid))
	r.Expect("queue_ids", []any{qid})
	r.Expect("deploy_while_queued.inQueue", true)
	r.Expect("deploy_while_queued.queueItem", qid)
	r.Expect("deploy_while_queued.builds", []any{})

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
	r.Expect("deploy_after_cancel.inQueue", false)
	r.Expect("deploy_after_cancel.builds", []any{})
	r.Expect("deploy_after_cancel.nextBuildNumber", 1)
	// An unknown id is 404, which cancel_queue swallows: it returns None.
	if outcome, _ := r.Get("cancel_unknown").(map[string]any); outcome == nil || outcome["error"] != nil || outcome["value"] != nil {
		t.Errorf("cancel_queue(unknown id): got %v, want map[value:<nil>]", r.Get("cancel_unknown"))
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

// checkPyWrites judges scenario "writes": python-jenkins reads its own
// writes through the front door with no wait and no retry, though the
// reads it makes after each write were served from memory just before it.
func checkPyWrites(t *testing.T, s *servertest.Server, r *pyResult) {
	name, _ := r.Get("job").(string)
	if !strings.HasPrefix(name, "ryw-py-") {
		t.Fatalf("job: got %v, want a ryw-py-* name\n%s", r.Get("job"), r.Output())
	}
	r.Expect("whoami_id", servertest.User)
	r.Expect("before_create.listed", false)
	r.Expect("before_create.exists", false)
	r.Expect("before_create.info_error", "job["+name+"] does not exist")

	// create_job: listed, exists, its JSON answers (create_job itself
	// raised if job_exists did not see it).
	r.Expect("created.listed", true)
	r.Expect("created.exists", true)
	r.Expect("created.info_error", nil)
	r.Expect("created.description", "v1")
	r.Expect("created.builds", []any{})
	r.Expect("created.inQueue", false)

	// reconfig_job: the job's JSON and its config.xml say v2.
	r.Expect("reconfigured.description", "v2")
	r.Expect("reconfigured.config_v2", true)
	r.Expect("reconfigured.config_v1", false)

	// A held trigger is in the queue and the job's inQueue at once; a
	// cancel takes it out of both at once.
	held := r.Num("held.queue_id")
	r.Expect("held.queue_ids", []any{held})
	r.Expect("held.inQueue", true)
	r.Expect("held.queueItem", held)
	r.Expect("cancel.error", "EmptyResponseException")
	r.Expect("cancelled.queue_ids", []any{})
	r.Expect("cancelled.inQueue", false)
	r.Expect("cancelled.queueItem", nil)
	r.Expect("cancelled.builds", []any{})

	// A trigger that runs at once: on one Jenkins too, an item past its
	// quiet period may start at any moment, even while the job's JSON is
	// written. Each read after the trigger shows it waiting or started as
	// #1, never neither, and once a read showed it started the later ones
	// do too (the queue item was read first, then the queue, then the job).
	qid := r.Num("triggered.queue_id")
	r.Expect("triggered.item_id", qid)
	itemStarted := r.Get("triggered.item_class") == "hudson.model.Queue$LeftItem"
	queueStarted := fmt.Sprint(r.Get("triggered.queue_ids")) == "[]"
	jobStarted := r.Get("triggered.inQueue") != true
	if itemStarted && !queueStarted || queueStarted && !jobStarted {
		t.Errorf("trigger, then its queue item (started: %v), the queue (%v), the job (%v): a read went back in time\n%s",
			itemStarted, queueStarted, jobStarted, r.Output())
	}
	if itemStarted {
		r.Expect("triggered.item_number", 1)
	}
	if !queueStarted {
		r.Expect("triggered.queue_ids", []any{qid})
	}
	builds, _ := r.Get("triggered.builds").([]any)
	inJob := !jobStarted && r.Num("triggered.queueItem") == qid ||
		slices.Contains(builds, any(float64(1))) || r.Num("triggered.lastBuild") == 1
	if !inJob {
		t.Errorf("trigger, then get_job_info: neither inQueue with item %d nor #1 among its builds\n%s", qid, r.Output())
	}
	r.Expect("started.number", 1)

	r.Expect("stopped.building", false)
	r.Expect("stopped.result", "ABORTED")

	// delete_job: gone from the list, job_exists false, its JSON 404
	// (delete_job itself raised if job_exists still saw it).
	r.Expect("deleted.listed", false)
	r.Expect("deleted.exists", false)
	r.Expect("deleted.info_error", "job["+name+"] does not exist")

	// As jenkinds recorded them: the held build never ran, the long one
	// ran as #1 and was stopped.
	if b := record(t, s, held); b.State != string(dispatch.StateCancelled) || b.Number != 0 || len(b.Attempts) != 0 {
		t.Errorf("admin API: held build %d: state %s, number %d, %d attempts; want cancelled, never placed", held, b.State, b.Number, len(b.Attempts))
	}
	if b := record(t, s, qid); b.Job != name || b.Number != 1 || !b.terminal() {
		t.Errorf("admin API: build %d: %s #%d in state %s, want %s #1 over", qid, b.Job, b.Number, b.State, name)
	}
}
