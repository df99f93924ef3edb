package jenkinssim

import (
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

func TestTriggerStatuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.status("POST", "/job/hello/build", "", 201)
	if loc := resp.Header.Get("Location"); loc != b.c.URL()+"queue/item/1/" || body != "" {
		t.Errorf("build: Location %q body %q", loc, body)
	}
	b.status("GET", "/job/hello/build", "", 405)
	if resp, _ := b.do("GET", "/job/hello/build", ""); resp.Header.Get("Allow") != "POST" {
		t.Errorf("405 Allow: %q", resp.Header.Get("Allow"))
	}
	b.status("POST", "/job/nope/build", "", 404)
	resp, _ = b.status("POST", "/job/hello/buildWithParameters", "", 400)
	if resp.Header.Get("X-Error") != "hello is not parameterized" {
		t.Errorf("X-Error: %q", resp.Header.Get("X-Error"))
	}
	// POST /build on a parameterized job needs the json form.
	_, body = b.status("POST", "/job/deploy/build", "", 400)
	if !strings.Contains(body, "Nothing is submitted") {
		t.Errorf("no form: %.200s", body)
	}
	_, body = b.status("POST", "/job/deploy/build?delay=0sec", "", 400)
	if !strings.Contains(body, "This page expects a form submission") {
		t.Errorf("params but no json: %.200s", body)
	}
	b.status("POST", "/job/deploy/build", `json={"parameter":[{"name":"NOPE","value":"1"}]}`, 500, header("Content-Type", "application/x-www-form-urlencoded"))
	qid := b.trigger("/job/deploy/build?json=" + `%7B%22parameter%22%3A%5B%7B%22name%22%3A%22SIM_DURATION_MS%22%2C%22value%22%3A%225%22%7D%5D%7D`)
	if got := b.waitBuild("deploy", qid); got["result"] != "SUCCESS" {
		t.Errorf("json-form build: %v", got["result"])
	}
	resp, _ = b.status("POST", "/job/deploy/buildWithParameters?ENV=qa", "", 400)
	if !strings.Contains(resp.Header.Get("X-Error"), "Illegal choice for parameter ENV") {
		t.Errorf("illegal choice: %q", resp.Header.Get("X-Error"))
	}
	b.status("POST", "/job/hello/build?delay=soon", "", 400)
}

func TestDuplicateQueuedItems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.trigger("/job/deploy/buildWithParameters?delay=60sec&VERSION=2")
	resp, _ := b.status("POST", "/job/deploy/buildWithParameters?delay=60sec&VERSION=2", "", 303)
	if queueID(t, resp.Header.Get("Location")) != first {
		t.Errorf("303 Location %q, want item %d", resp.Header.Get("Location"), first)
	}
	if other := b.trigger("/job/deploy/buildWithParameters?delay=60sec&VERSION=3"); other == first {
		t.Errorf("different parameters must make a new item")
	}
	h := b.trigger("/job/hello/build?delay=60sec")
	if again := b.trigger("/job/hello/build?delay=60sec"); again != h {
		t.Errorf("non-parameterized duplicate: 201 to item %d, want existing %d", again, h)
	}
	job := b.json("/job/hello/api/json")
	if job["inQueue"] != true || job["queueItem"].(map[string]any)["id"] != float64(h) {
		t.Errorf("inQueue %v queueItem %v", job["inQueue"], job["queueItem"])
	}
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Agents = 0; c.Executors = 1 })
	// Waiting: the quiet period.
	w := b.trigger("/job/hello/build?delay=30sec")
	item := b.json("/queue/item/" + itoa(w) + "/api/json")
	if item["_class"] != "hudson.model.Queue$WaitingItem" || !strings.HasPrefix(item["why"].(string), "In the quiet period. Expires in ") {
		t.Errorf("waiting item: %v", item)
	}
	if item["url"] != "queue/item/"+itoa(w)+"/" || item["params"] != "" || item["timestamp"] == nil {
		t.Errorf("waiting item fields: url %v params %q timestamp %v", item["url"], item["params"], item["timestamp"])
	}
	// Cancel it: 204; again: 422; unknown: 404.
	b.status("POST", "/queue/cancelItem?id="+itoa(w), "", 204)
	left := b.json("/queue/item/" + itoa(w) + "/api/json")
	if left["_class"] != "hudson.model.Queue$LeftItem" || left["cancelled"] != true || left["executable"] != nil {
		t.Errorf("cancelled item: %v", left)
	}
	b.status("POST", "/queue/cancelItem?id="+itoa(w), "", 422)
	b.status("POST", "/queue/cancelItem?id=999", "", 404)
	b.status("GET", "/queue/cancelItem?id=1", "", 405)
	b.status("POST", "/queue/item/999/cancelQueue", "", 404) // Queue.getItem(999) is null: no item to call it on
	b.status("GET", "/queue/item/999/api/json", "", 404)

	// One executor: a long build runs, the next job's item is buildable and
	// waits for an executor; a second build of the same job is blocked.
	running := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=60000")
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, ok := b.json("/queue/item/" + itoa(running) + "/api/json")["executable"].(map[string]any)
		return ok
	}, testkit.Sayf("long build to start"))
	waiting := b.trigger("/job/hello/build")
	item = b.json("/queue/item/" + itoa(waiting) + "/api/json")
	if item["_class"] != "hudson.model.Queue$BuildableItem" || item["why"] != "Waiting for next available executor" || item["buildable"] != true {
		t.Errorf("buildable item: %v", item)
	}
	blocked := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=5")
	item = b.json("/queue/item/" + itoa(blocked) + "/api/json")
	if item["_class"] != "hudson.model.Queue$BlockedItem" || !strings.HasPrefix(item["why"].(string), "Build #1 is already in progress (ETA: ") || item["blocked"] != true {
		t.Errorf("blocked item: %v", item)
	}
	q := b.json("/queue/api/json")
	if q["_class"] != "hudson.model.Queue" || len(q["items"].([]any)) != 2 {
		t.Errorf("queue: %v", q)
	}
	_, body := b.status("GET", "/queue/item/"+itoa(waiting)+"/", "", 200)
	if !strings.HasPrefix(body, "Queue item exists.") {
		t.Errorf("GET /queue/item/N/: %q", body)
	}
	// Progressive log of the running build.
	resp, text := b.status("GET", "/job/deploy/1/logText/progressiveText?start=0", "", 200)
	if resp.Header.Get("X-More-Data") != "true" || resp.Header.Get("X-Text-Size") != itoa(len(text)) || !strings.HasPrefix(text, "Started by user admin\n") {
		t.Errorf("progressive running: headers %v text %q", resp.Header, text)
	}
	resp, more := b.status("POST", "/job/deploy/1/logText/progressiveText", "start="+itoa(len(text)), 200, header("Content-Type", "application/x-www-form-urlencoded"))
	if more != "" || resp.Header.Get("X-Text-Size") != itoa(len(text)) {
		t.Errorf("progressive from the end: %q size %s", more, resp.Header.Get("X-Text-Size"))
	}
	build := b.json("/job/deploy/1/api/json")
	if build["building"] != true || build["result"] != nil || build["executor"] == nil || build["duration"] != float64(0) {
		t.Errorf("running build: building %v result %v executor %v duration %v", build["building"], build["result"], build["executor"], build["duration"])
	}
	// Stop it: 302, ABORTED; the queue drains.
	resp, _ = b.status("POST", "/job/deploy/1/stop", "", 302)
	if resp.Header.Get("Location") != b.c.URL()+"job/deploy/1/" {
		t.Errorf("stop Location %q", resp.Header.Get("Location"))
	}
	build = b.json("/job/deploy/1/api/json")
	if build["result"] != "ABORTED" || build["building"] != false {
		t.Errorf("stopped build: %v %v", build["result"], build["building"])
	}
	_, console := b.status("GET", "/job/deploy/1/consoleText", "", 200)
	if !strings.HasSuffix(console, "Aborted by admin\nFinished: ABORTED\n") {
		t.Errorf("console of stopped build: %q", console)
	}
	resp, _ = b.status("GET", "/job/deploy/lastBuild/logText/progressiveText?start=99999", "", 200)
	if resp.Header.Get("X-More-Data") != "" {
		t.Errorf("finished log must not say X-More-Data")
	}
	b.waitBuild("hello", waiting)
	b.waitBuild("deploy", blocked)
	b.status("POST", "/job/deploy/1/stop", "", 302) // stopping a finished build is harmless
}

func TestScriptedResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, result := range []string{"SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED"} {
		qid := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=30&SIM_RESULT=" + result)
		build := b.waitBuild("deploy", qid)
		if build["result"] != result {
			t.Errorf("scripted %s: got %v", result, build["result"])
		}
		if d := build["duration"].(float64); d < 30 {
			t.Errorf("scripted duration 30 ms: got %v", d)
		}
		_, console := b.status("GET", "/job/deploy/"+itoa(int(build["number"].(float64)))+"/consoleText", "", 200)
		if !strings.HasSuffix(console, "Finished: "+result+"\n") {
			t.Errorf("console: %q", console)
		}
	}
	job := b.json("/job/deploy/api/json")
	for link, want := range map[string]float64{"lastBuild": 5, "lastSuccessfulBuild": 2, "lastStableBuild": 1, "lastFailedBuild": 3, "lastUnstableBuild": 2, "lastUnsuccessfulBuild": 5, "lastCompletedBuild": 5} {
		if got := job[link].(map[string]any)["number"]; got != want {
			t.Errorf("%s: got %v, want %v", link, got, want)
		}
	}
	if job["color"] != "aborted" {
		t.Errorf("color after ABORTED: %v", job["color"])
	}
	b.status("GET", "/job/deploy/lastStableBuild/api/json", "", 200)
	b.status("GET", "/job/hello/lastBuild/api/json", "", 404)
	b.status("GET", "/job/deploy/99/api/json", "", 404)
}

func TestRemoteTokenTrigger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.c.AddJob(JobSpec{Name: "remote", AuthToken: "s3cret", DurationMs: 5}); err != nil {
		t.Fatal(err)
	}
	qid := b.trigger("/job/remote/build?token=s3cret&cause=webhook")
	b.waitBuild("remote", qid)
	causes := b.json("/job/remote/1/api/json")["actions"].([]any)[0].(map[string]any)["causes"].([]any)
	c := causes[0].(map[string]any)
	if c["_class"] != "hudson.model.Cause$RemoteCause" || c["shortDescription"] != "Started by remote host 127.0.0.1 with note: webhook" {
		t.Errorf("remote cause: %v", c)
	}
	b.status("GET", "/job/remote/build?token=s3cret&delay=0sec", "", 201) // a valid token allows GET
	b.status("POST", "/job/remote/build?token=wrong", "", 403)
}

func TestPipelineBuild(t *testing.T) {
	t.Parallel()
	b := setup(t)
	qid := b.trigger("/job/team-a/job/pipeline/build")
	build := b.waitBuild("team-a/job/pipeline", qid)
	if build["_class"] != "org.jenkinsci.plugins.workflow.job.WorkflowRun" {
		t.Errorf("pipeline build class: %v", build["_class"])
	}
	for _, k := range []string{"changeSets", "nextBuild", "previousBuild"} {
		if _, ok := build[k]; !ok {
			t.Errorf("WorkflowRun lacks %s", k)
		}
	}
}

func TestQuietPeriodDefault(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.QuietPeriod = time.Hour })
	qid := b.trigger("/job/hello/build")
	item := b.json("/queue/item/" + itoa(qid) + "/api/json")
	if item["_class"] != "hudson.model.Queue$WaitingItem" || !strings.Contains(item["why"].(string), "min") {
		t.Errorf("default quiet period: %v", item["why"])
	}
	// delay=10 is ten milliseconds, which Queue.schedule2 rounds to 0 s.
	qid = b.trigger("/job/deploy/buildWithParameters?delay=10&SIM_DURATION_MS=1")
	b.waitBuild("deploy", qid)
}
