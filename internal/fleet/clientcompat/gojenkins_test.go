package clientcompat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// goResults script the short builds (10 ms) gojenkins triggers one after
// the other, besides a long one it stops.
var goResults = []string{"FAILURE", "SUCCESS", "UNSTABLE", "FAILURE"}

// TestGojenkins drives the front door with github.com/bndr/gojenkins
// v1.1.0. Its steps run in order on one client: they build on each other,
// and gojenkins' Init assigns package-level loggers, so parallel clients in
// one test binary would race.
func TestGojenkins(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	front := s.Front + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// gojenkins builds its requests without the context; the HTTP
	// client's timeout bounds each of them instead.
	client := &http.Client{Timeout: 10 * time.Second}
	jk, err := gojenkins.CreateJenkins(client, s.Front, servertest.User, servertest.Token).Init(ctx)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	waitFinished := func(t *testing.T, b *gojenkins.Build) {
		t.Helper()
		testkit.Eventually(t, waitTimeout, func() bool { return !b.IsRunning(ctx) }, testkit.Sayf("%s to finish", b.Base))
	}

	t.Run("Init", func(t *testing.T) {
		// Init reads X-Jenkins from GET /api/json (§10.3), which Jenkins
		// sets on every …/api/json answer (§1.1).
		if got, want := jk.Version, jenkinssim.DefaultVersion; got != want {
			t.Errorf("Version: got %q, want %q", got, want)
		}
		var names []string
		for _, j := range jk.Raw.Jobs {
			names = append(names, j.Name)
		}
		if want := []string{"deploy", "hello", "team-a"}; !slices.Equal(names, want) {
			t.Errorf("Raw.Jobs: got %v, want %v", names, want)
		}
	})

	t.Run("GetJob", func(t *testing.T) {
		job, err := jk.GetJob(ctx, "deploy")
		if err != nil {
			t.Fatalf("GetJob(deploy): %v", err)
		}
		if job.Raw.URL != front+"job/deploy/" || job.Raw.NextBuildNumber != 1 || len(job.Raw.Builds) != 0 || job.Raw.InQueue {
			t.Errorf("GetJob(deploy): url %q, nextBuildNumber %d, %d builds, inQueue %v; want %q, 1, none, false",
				job.Raw.URL, job.Raw.NextBuildNumber, len(job.Raw.Builds), job.Raw.InQueue, front+"job/deploy/")
		}
		inFolder, err := jk.GetJob(ctx, "pipeline", "team-a")
		if err != nil {
			t.Fatalf("GetJob(pipeline, team-a): %v", err)
		}
		if got, want := inFolder.Raw.URL, front+"job/team-a/job/pipeline/"; got != want {
			t.Errorf("GetJob(pipeline, team-a) url: got %q, want %q", got, want)
		}
		folder, err := jk.GetFolder(ctx, "team-a")
		if err != nil {
			t.Fatalf("GetFolder(team-a): %v", err)
		}
		if len(folder.Raw.Jobs) != 1 || folder.Raw.Jobs[0].Name != "pipeline" {
			t.Errorf("GetFolder(team-a) jobs: got %+v, want pipeline", folder.Raw.Jobs)
		}
	})

	// Builds one after the other, each followed from its queue id: a
	// scripted result each, numbered 1, 2, … whichever controller ran it.
	var seen []seenBuild
	t.Run("BuildJob and GetBuildFromQueueID", func(t *testing.T) {
		for i, result := range goResults {
			version := fmt.Sprintf("2.0.%d", i)
			qid, err := jk.BuildJob(ctx, "deploy", map[string]string{
				"SIM_DURATION_MS": "10", "SIM_RESULT": result, "ENV": "production", "VERSION": version, "DRY_RUN": "false"})
			if err != nil || qid <= 0 {
				t.Fatalf("BuildJob(deploy) #%d: got (%d, %v), want a queue id", i+1, qid, err)
			}
			b, err := jk.GetBuildFromQueueID(ctx, qid)
			if err != nil {
				t.Fatalf("GetBuildFromQueueID(%d): %v", qid, err)
			}
			n := int64(i + 1)
			seen = append(seen, seenBuild{queueID: qid, number: b.GetBuildNumber(), version: version, result: result})
			// §10.3: Job.GetBuild joins the path of the job's url
			// ("/job/deploy/") and "/N"; the front door takes "//".
			if got, want := b.Base, "/job/deploy//"+strconv.FormatInt(n, 10); got != want {
				t.Errorf("build Base: got %q, want %q", got, want)
			}
			if got := b.GetBuildNumber(); got != n {
				t.Errorf("GetBuildNumber: got %d, want %d", got, n)
			}
			if got, want := b.Raw.URL, fmt.Sprintf("%sjob/deploy/%d/", front, n); got != want {
				t.Errorf("build url: got %q, want %q", got, want)
			}
			if got := b.Raw.QueueID; got != qid {
				t.Errorf("build queueId: got %d, want %d", got, qid)
			}
			waitFinished(t, b)
			if got := b.GetResult(); got != result {
				t.Errorf("#%d GetResult: got %q, want %q", n, got, result)
			}
			params := map[string]string{}
			for _, p := range b.GetParameters() {
				params[p.Name] = p.Value
			}
			if params["VERSION"] != version || params["SIM_RESULT"] != result {
				t.Errorf("#%d parameters: got %v, want VERSION=%s SIM_RESULT=%s", n, params, version, result)
			}
			if console := b.GetConsoleOutput(ctx); !strings.HasSuffix(console, "Finished: "+result+"\n") {
				t.Errorf("#%d GetConsoleOutput: got %q, want it to end with \"Finished: %s\\n\"", n, console, result)
			}
			progressive, err := b.GetConsoleOutputFromIndex(ctx, 0)
			if err != nil {
				t.Fatalf("#%d GetConsoleOutputFromIndex: %v", n, err)
			}
			if progressive.HasMoreText || progressive.Offset != int64(len(progressive.Content)) || !strings.HasSuffix(progressive.Content, "Finished: "+result+"\n") {
				t.Errorf("#%d GetConsoleOutputFromIndex(0) of a finished build: more=%v offset=%d for %d bytes, want more=false, offset = length, ending in Finished: %s",
					n, progressive.HasMoreText, progressive.Offset, len(progressive.Content), result)
			}
			viaJenkins, err := jk.GetBuild(ctx, "deploy", n)
			if err != nil {
				t.Fatalf("Jenkins.GetBuild(deploy, %d): %v", n, err)
			}
			if viaJenkins.GetBuildNumber() != n || viaJenkins.GetResult() != result {
				t.Errorf("Jenkins.GetBuild(deploy, %d): got #%d %s, want #%d %s", n, viaJenkins.GetBuildNumber(), viaJenkins.GetResult(), n, result)
			}
		}
		per := checkPlacement(t, s, "deploy", seen)
		if len(per) < 2 {
			t.Errorf("the builds ran on %v: want at least two controllers", per)
		}
	})

	t.Run("GetAllBuildIds", func(t *testing.T) {
		ids, err := jk.GetAllBuildIds(ctx, "deploy")
		if err != nil {
			t.Fatalf("GetAllBuildIds: %v", err)
		}
		var got, want []string
		for _, b := range ids {
			got = append(got, fmt.Sprintf("%d %s", b.Number, b.URL))
		}
		for n := len(goResults); n >= 1; n-- {
			want = append(want, fmt.Sprintf("%d %sjob/deploy/%d/", n, front, n))
		}
		if !slices.Equal(got, want) {
			t.Errorf("GetAllBuildIds(deploy):\ngot  %q\nwant %q", got, want)
		}
		job, err := jk.GetJob(ctx, "deploy")
		if err != nil {
			t.Fatalf("GetJob(deploy): %v", err)
		}
		last := int64(len(goResults))
		if job.Raw.LastBuild.Number != last || job.Raw.NextBuildNumber != last+1 || len(job.Raw.Builds) != len(goResults) {
			t.Errorf("GetJob(deploy): lastBuild #%d, nextBuildNumber %d, %d builds; want #%d, %d, %d",
				job.Raw.LastBuild.Number, job.Raw.NextBuildNumber, len(job.Raw.Builds), last, last+1, len(goResults))
		}
		b, err := job.GetLastBuild(ctx)
		if err != nil {
			t.Fatalf("GetLastBuild: %v", err)
		}
		if want := goResults[len(goResults)-1]; b.GetBuildNumber() != last || b.GetResult() != want {
			t.Errorf("GetLastBuild: got #%d %s, want #%d %s", b.GetBuildNumber(), b.GetResult(), last, want)
		}
	})

	t.Run("Stop", func(t *testing.T) {
		qid, err := jk.BuildJob(ctx, "deploy", map[string]string{"SIM_DURATION_MS": "60000", "VERSION": "stop-me"})
		if err != nil || qid <= 0 {
			t.Fatalf("BuildJob(deploy): got (%d, %v), want a queue id", qid, err)
		}
		b, err := jk.GetBuildFromQueueID(ctx, qid)
		if err != nil {
			t.Fatalf("GetBuildFromQueueID(%d): %v", qid, err)
		}
		if want := int64(len(goResults) + 1); b.GetBuildNumber() != want {
			t.Errorf("GetBuildNumber: got %d, want %d", b.GetBuildNumber(), want)
		}
		if !b.IsRunning(ctx) {
			t.Fatalf("build %s of 60 s is not running", b.Base)
		}
		progressive, err := b.GetConsoleOutputFromIndex(ctx, 0)
		if err != nil {
			t.Fatalf("GetConsoleOutputFromIndex: %v", err)
		}
		if !progressive.HasMoreText {
			t.Errorf("GetConsoleOutputFromIndex of a running build: HasMoreText false, want true (X-More-Data, §5.2)")
		}
		// §5.3: 302 after the stop; Go follows it and gojenkins wants 200.
		if ok, err := b.Stop(ctx); !ok || err != nil {
			t.Fatalf("Stop: got (%v, %v), want (true, <nil>)", ok, err)
		}
		waitFinished(t, b)
		if got, want := b.GetResult(), "ABORTED"; got != want {
			t.Errorf("result after Stop: got %v, want %v", got, want)
		}
		if console := b.GetConsoleOutput(ctx); !strings.HasSuffix(console, "Finished: ABORTED\n") {
			t.Errorf("GetConsoleOutput after Stop: got %q, want it to end with \"Finished: ABORTED\\n\"", console)
		}
	})

	t.Run("queued job and Task.Cancel", func(t *testing.T) {
		// A trigger held back by jenkinds, as curl -X POST would send it.
		res, body := s.Jenkins("POST", "/job/hello/build?delay=60sec", nil, "")
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST /job/hello/build?delay=60sec: got %d, want 201: %s", res.StatusCode, body)
		}
		u, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatalf("Location %q: %v", res.Header.Get("Location"), err)
		}
		qid, err := strconv.ParseInt(path.Base(u.Path), 10, 64)
		if err != nil {
			t.Fatalf("Location %q: no queue id: %v", u, err)
		}
		// §3.4: InvokeSimple returns (0, nil) without triggering when the
		// job's inQueue is true.
		if got, err := jk.BuildJob(ctx, "hello", nil); got != 0 || err != nil {
			t.Errorf("BuildJob(hello) while queued: got (%d, %v), want (0, <nil>)", got, err)
		}
		queue, err := jk.GetQueue(ctx)
		if err != nil {
			t.Fatalf("GetQueue: %v", err)
		}
		if tasks := queue.Tasks(); len(tasks) != 1 || tasks[0].Raw.ID != qid || tasks[0].Raw.Task.Name != "hello" {
			t.Errorf("queue after BuildJob while queued: got %d tasks, want only item %d of hello", len(tasks), qid)
		}
		task, err := jk.GetQueueItem(ctx, qid)
		if err != nil {
			t.Fatalf("GetQueueItem(%d): %v", qid, err)
		}
		if !strings.HasPrefix(task.GetWhy(), "In the quiet period. Expires in ") {
			t.Errorf("GetQueueItem(%d) why: got %q, want the quiet period", qid, task.GetWhy())
		}
		// §4.4: cancelItem answers 204 and gojenkins reports success only
		// on 200, so a successful cancel returns false.
		if ok, err := task.Cancel(ctx); ok || err != nil {
			t.Errorf("Task.Cancel: got (%v, %v), want (false, <nil>)", ok, err)
		}
		res, body = s.Jenkins("GET", "/queue/item/"+strconv.FormatInt(qid, 10)+"/api/json", nil, "")
		var item struct {
			Class      string `json:"_class"`
			Cancelled  bool   `json:"cancelled"`
			Executable any    `json:"executable"`
		}
		if err := json.Unmarshal(body, &item); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET queue item %d: HTTP %d, %v: %s", qid, res.StatusCode, err, body)
		}
		if item.Class != "hudson.model.Queue$LeftItem" || !item.Cancelled || item.Executable != nil {
			t.Errorf("queue item %d after Task.Cancel: %+v, want a cancelled LeftItem without executable", qid, item)
		}
		if queue, err := jk.GetQueue(ctx); err != nil || len(queue.Tasks()) != 0 {
			t.Errorf("GetQueue after Task.Cancel: %v, want no tasks", err)
		}
		for _, c := range s.Sims {
			if bs := controllerBuilds(t, c, "hello"); len(bs) != 0 {
				t.Errorf("%s ran %d builds of hello, want none", c.Name(), len(bs))
			}
		}
	})

	t.Run("ReadYourWrites", func(t *testing.T) { goReadYourWrites(ctx, t, jk) })

	t.Run("GetAllNodes", func(t *testing.T) {
		nodes, err := jk.GetAllNodes(ctx)
		if err != nil {
			t.Fatalf("GetAllNodes: %v", err)
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.GetName())
		}
		// Every controller's nodes; a name already shown gets its
		// controller's name (package fleet).
		want := []string{"Built-In Node", "agent-1", "Built-In Node on jenkins-1", "agent-1 on jenkins-1",
			"Built-In Node on jenkins-2", "agent-1 on jenkins-2"}
		if !slices.Equal(names, want) {
			t.Fatalf("GetAllNodes names: got %q, want %q", names, want)
		}
		// §10.3: nodes are addressed as /computer/<displayName>; on one
		// Jenkins every node but the built-in one (§7.1) answers there.
		// The other controllers' built-in nodes are not asked: either
		// answer would do.
		for _, n := range nodes {
			want := http.StatusOK
			switch {
			case n.GetName() == "Built-In Node":
				want = http.StatusNotFound
			case strings.HasPrefix(n.GetName(), "Built-In Node"):
				continue
			}
			if got, err := n.Poll(ctx); got != want || err != nil {
				t.Errorf("Node(%s).Poll: got (%d, %v), want (%d, <nil>)", n.GetName(), got, err, want)
			}
		}
	})
}

// writesConfig is the job goReadYourWrites creates
// (testdata/writes_job.xml, which the python-jenkins scenario "writes"
// creates too), with the given description.
func writesConfig(t *testing.T, description string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/writes_job.xml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "DESCRIPTION", description)
}

// jobState is what gojenkins' reads show of a job: GetAllJobNames (the
// root's job list), GetJob and GetQueue.
type jobState struct {
	listed      bool
	status      string // GetJob's error, "" when it answered
	description string
	inQueue     bool
	queueItem   int64 // the job's queueItem.id, 0 when null
	builds      []int64
	lastBuild   int64
	queued      []int64 // the ids of the job's items in GetQueue
}

// seeJob reads name as gojenkins shows it: GetAllJobNames, GetQueue, GetJob.
func seeJob(ctx context.Context, t *testing.T, jk *gojenkins.Jenkins, name string) jobState {
	t.Helper()
	var s jobState
	names, err := jk.GetAllJobNames(ctx)
	if err != nil {
		t.Fatalf("GetAllJobNames: %v", err)
	}
	for _, j := range names {
		s.listed = s.listed || j.Name == name
	}
	queue, err := jk.GetQueue(ctx)
	if err != nil {
		t.Fatalf("GetQueue: %v", err)
	}
	for _, task := range queue.GetTasksForJob(name) {
		s.queued = append(s.queued, task.Raw.ID)
	}
	job, err := jk.GetJob(ctx, name)
	if err != nil {
		s.status = err.Error()
		return s
	}
	s.description, s.inQueue, s.lastBuild = job.Raw.Description, job.Raw.InQueue, job.Raw.LastBuild.Number
	if item, ok := job.Raw.QueueItem.(map[string]any); ok {
		id, _ := item["id"].(float64)
		s.queueItem = int64(id)
	}
	for _, b := range job.Raw.Builds {
		s.builds = append(s.builds, b.Number)
	}
	return s
}

// goReadYourWrites: gojenkins reads its own writes through the front door
// with no wait and no retry. Before each write it makes the reads it makes
// after it, so that the front door answers them from memory (younger than
// --fleet-max-staleness) when the write comes.
func goReadYourWrites(ctx context.Context, t *testing.T, jk *gojenkins.Jenkins) {
	const name = "ryw-gojenkins"
	want := func(step string, got, want jobState) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s, then GetAllJobNames, GetQueue, GetJob:\ngot  %+v\nwant %+v", step, got, want)
		}
	}
	want("before CreateJob", seeJob(ctx, t, jk, name), jobState{status: "404"})
	if _, err := jk.CreateJob(ctx, writesConfig(t, "v1"), name); err != nil {
		t.Fatalf("CreateJob(%s): %v", name, err)
	}
	want("CreateJob", seeJob(ctx, t, jk, name), jobState{listed: true, description: "v1"})
	all, err := jk.GetAllJobs(ctx)
	if err != nil {
		t.Fatalf("GetAllJobs: %v", err)
	}
	if !slices.ContainsFunc(all, func(j *gojenkins.Job) bool { return j.Raw.Name == name }) {
		t.Errorf("CreateJob, then GetAllJobs: %s missing", name)
	}

	job, err := jk.GetJob(ctx, name)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", name, err)
	}
	// UpdateConfig polls the job itself once the POST is answered.
	if err := job.UpdateConfig(ctx, writesConfig(t, "v2")); err != nil {
		t.Fatalf("UpdateConfig: %v", err)
	}
	if job.Raw.Description != "v2" {
		t.Errorf("UpdateConfig, then its own Poll: description %q, want v2", job.Raw.Description)
	}
	want("UpdateConfig", seeJob(ctx, t, jk, name), jobState{listed: true, description: "v2"})
	if config, err := job.GetConfig(ctx); err != nil || !strings.Contains(config, "<description>v2</description>") {
		t.Errorf("UpdateConfig, then GetConfig: got (%q, %v), want the v2 config", config, err)
	}

	// A trigger held in the queue (delay): Jenkins adds the item to its
	// queue before it answers 201 (Queue.schedule2), so the queue and the
	// job's inQueue show it in the next read.
	seeJob(ctx, t, jk, name)
	held, err := jk.BuildJob(ctx, name, map[string]string{"VERSION": "held", "delay": "3600sec"})
	if err != nil || held <= 0 {
		t.Fatalf("BuildJob(%s, delay=3600sec): got (%d, %v), want a queue id", name, held, err)
	}
	want("BuildJob (held)", seeJob(ctx, t, jk, name),
		jobState{listed: true, description: "v2", inQueue: true, queueItem: held, queued: []int64{held}})
	task, err := jk.GetQueueItem(ctx, held)
	if err != nil {
		t.Fatalf("GetQueueItem(%d): %v", held, err)
	}
	// §4.4: a successful cancel is 204, which gojenkins reports as false.
	if ok, err := task.Cancel(ctx); ok || err != nil {
		t.Fatalf("Task.Cancel: got (%v, %v), want (false, <nil>)", ok, err)
	}
	want("Task.Cancel", seeJob(ctx, t, jk, name), jobState{listed: true, description: "v2"})

	// A trigger that runs at once. BuildJob first reads the job and
	// triggers nothing if it is inQueue (§3.4): the cancel must show there.
	qid, err := jk.BuildJob(ctx, name, map[string]string{"SIM_DURATION_MS": "60000", "VERSION": "long"})
	if err != nil || qid <= 0 {
		t.Fatalf("BuildJob(%s) after the cancel: got (%d, %v), want a queue id", name, qid, err)
	}
	// On one Jenkins too, an item past its quiet period may start at any
	// moment, even while the job's JSON is written: each read after the
	// trigger shows it waiting or started as #1, never neither, and once a
	// read showed it started the later ones do too (the queue item is
	// read first, then the queue, then the job).
	task, err = jk.GetQueueItem(ctx, qid)
	if err != nil {
		t.Fatalf("GetQueueItem(%d): %v", qid, err)
	}
	got := seeJob(ctx, t, jk, name)
	itemStarted, queueStarted, jobStarted := task.Raw.Executable.Number != 0, len(got.queued) == 0, !got.inQueue
	if itemStarted && !queueStarted || queueStarted && !jobStarted {
		t.Errorf("BuildJob, then its queue item (started: %v), GetQueue (%v), GetJob (%v): a read went back in time",
			itemStarted, queueStarted, jobStarted)
	}
	if itemStarted && task.Raw.Executable.Number != 1 {
		t.Errorf("BuildJob, then GetQueueItem: executable #%d, want #1", task.Raw.Executable.Number)
	}
	if !queueStarted && !slices.Equal(got.queued, []int64{qid}) {
		t.Errorf("BuildJob, then GetQueue: items %v of %s, want [%d] or none", got.queued, name, qid)
	}
	inJob := got.inQueue && got.queueItem == qid || slices.Contains(got.builds, 1) || got.lastBuild == 1
	if !inJob || !got.listed || got.status != "" {
		t.Errorf("BuildJob, then GetJob: %+v, want %s inQueue with item %d or #1 among its builds", got, name, qid)
	}

	// Waiting for the build to start is Jenkins' own asynchrony.
	testkit.Eventually(t, waitTimeout, func() bool {
		_, err := task.Poll(ctx)
		return err == nil && task.Raw.Executable.Number != 0
	}, testkit.Sayf("queue item %d to start", qid))
	b, err := job.GetBuild(ctx, task.Raw.Executable.Number)
	if err != nil || b.GetBuildNumber() != 1 {
		t.Fatalf("GetBuild(%d): got %v, want #1", task.Raw.Executable.Number, err)
	}
	// Stop: Jenkins interrupts the executor and answers 302 at once; the
	// build ends when its thread sees the interrupt, so even on one
	// Jenkins a read right after the stop may still say building (§5.3).
	// It guarantees that the build ends soon, ABORTED: wait for that, as a
	// client of Jenkins must.
	if ok, err := b.Stop(ctx); !ok || err != nil {
		t.Fatalf("Stop: got (%v, %v), want (true, <nil>)", ok, err)
	}
	testkit.Eventually(t, waitTimeout, func() bool { return !b.IsRunning(ctx) }, testkit.Sayf("%s to end", b.Base))
	if got := b.GetResult(); got != "ABORTED" {
		t.Errorf("result after Stop: got %q, want ABORTED", got)
	}

	seeJob(ctx, t, jk, name)
	if ok, err := jk.DeleteJob(ctx, name); !ok || err != nil {
		t.Fatalf("DeleteJob(%s): got (%v, %v), want (true, <nil>)", name, ok, err)
	}
	want("DeleteJob", seeJob(ctx, t, jk, name), jobState{status: "404"})
}
