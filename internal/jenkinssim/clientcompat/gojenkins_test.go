package clientcompat

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestGojenkins drives one simulator with github.com/bndr/gojenkins v1.1.0.
// Its steps run in order on one client: they build on each other, and
// gojenkins' Init assigns package-level loggers, so parallel clients in one
// test binary would race.
func TestGojenkins(t *testing.T) {
	t.Parallel()
	c := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// gojenkins builds its requests without the context; the HTTP
	// client's timeout bounds each of them instead.
	client := &http.Client{Timeout: 10 * time.Second}
	jk, err := gojenkins.CreateJenkins(client, c.URL(), c.User(), c.Token()).Init(ctx)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	waitFinished := func(t *testing.T, b *gojenkins.Build) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, func() bool { return !b.IsRunning(ctx) }, testkit.Sayf("%s to finish", b.Base))
	}
	consoleLastLine := func(b *gojenkins.Build) string {
		lines := strings.Split(strings.TrimSpace(b.GetConsoleOutput(ctx)), "\n")
		return lines[len(lines)-1]
	}

	t.Run("Init", func(t *testing.T) {
		if got, want := jk.Version, jenkinssim.DefaultVersion; got != want {
			t.Errorf("Version: got %v, want %v", got, want)
		}
		var names []string
		for _, j := range jk.Raw.Jobs {
			names = append(names, j.Name)
		}
		if want := []string{"deploy", "hello", "team-a"}; !slices.Equal(names, want) {
			t.Errorf("Raw.Jobs: got %v, want %v", names, want)
		}
	})

	t.Run("CreateJob", func(t *testing.T) {
		config, err := os.ReadFile("testdata/param-job.xml")
		if err != nil {
			t.Fatal(err)
		}
		job, err := jk.CreateJob(ctx, string(config), "go-param")
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		if got, want := job.GetName(), "go-param"; got != want {
			t.Errorf("GetName: got %v, want %v", got, want)
		}
		defs, err := job.GetParameters(ctx)
		if err != nil {
			t.Fatalf("GetParameters: %v", err)
		}
		var got []string
		for _, d := range defs {
			got = append(got, d.Type+":"+d.Name)
		}
		want := []string{"ChoiceParameterDefinition:ENV", "StringParameterDefinition:VERSION",
			"BooleanParameterDefinition:DRY_RUN", "StringParameterDefinition:SIM_DURATION_MS", "StringParameterDefinition:SIM_RESULT"}
		if !slices.Equal(got, want) {
			t.Errorf("GetParameters: got %v, want %v", got, want)
		}
	})

	t.Run("BuildJob without parameters", func(t *testing.T) {
		qid, err := jk.BuildJob(ctx, "hello", nil)
		if err != nil || qid <= 0 {
			t.Fatalf("BuildJob(hello): got (%d, %v), want a queue id", qid, err)
		}
		b, err := jk.GetBuildFromQueueID(ctx, qid)
		if err != nil {
			t.Fatalf("GetBuildFromQueueID(%d): %v", qid, err)
		}
		// §10.3: Job.GetBuild joins the path of the job's url ("/job/hello/")
		// and "/1"; the simulator must take the double slash.
		if got, want := b.Base, "/job/hello//1"; got != want {
			t.Errorf("build Base: got %v, want %v", got, want)
		}
		if got, want := b.GetBuildNumber(), int64(1); got != want {
			t.Errorf("GetBuildNumber: got %v, want %v", got, want)
		}
		waitFinished(t, b)
		if got, want := b.GetResult(), "SUCCESS"; got != want {
			t.Errorf("GetResult: got %v, want %v", got, want)
		}
		if got, want := consoleLastLine(b), "Finished: SUCCESS"; got != want {
			t.Errorf("console last line: got %q, want %q", got, want)
		}
	})

	t.Run("BuildJob with parameters", func(t *testing.T) {
		qid, err := jk.BuildJob(ctx, "go-param", map[string]string{
			"SIM_RESULT": "FAILURE", "SIM_DURATION_MS": "100", "ENV": "production", "DRY_RUN": "false"})
		if err != nil || qid <= 0 {
			t.Fatalf("BuildJob(go-param): got (%d, %v), want a queue id", qid, err)
		}
		b, err := jk.GetBuildFromQueueID(ctx, qid)
		if err != nil {
			t.Fatalf("GetBuildFromQueueID(%d): %v", qid, err)
		}
		waitFinished(t, b)
		if got, want := b.GetResult(), "FAILURE"; got != want {
			t.Errorf("GetResult: got %v, want %v", got, want)
		}
		params := map[string]string{}
		for _, p := range b.GetParameters() {
			params[p.Name] = p.Value
		}
		// gojenkins' parameter.Value is a string: the JSON boolean of a
		// BooleanParameterValue (§5.1) does not decode and reads as "".
		want := map[string]string{"ENV": "production", "VERSION": "1.0.0", "DRY_RUN": "", "SIM_DURATION_MS": "100", "SIM_RESULT": "FAILURE"}
		for k, v := range want {
			if params[k] != v {
				t.Errorf("parameter %s: got %q, want %q", k, params[k], v)
			}
		}
		if got, want := consoleLastLine(b), "Finished: FAILURE"; got != want {
			t.Errorf("console last line: got %q, want %q", got, want)
		}
		progressive, err := b.GetConsoleOutputFromIndex(ctx, 0)
		if err != nil {
			t.Fatalf("GetConsoleOutputFromIndex: %v", err)
		}
		if progressive.HasMoreText || progressive.Offset != int64(len(progressive.Content)) || !strings.HasSuffix(progressive.Content, "Finished: FAILURE\n") {
			t.Errorf("GetConsoleOutputFromIndex(0) of a finished build: got more=%v offset=%d for %d bytes ending %q, want more=false, offset = length, ending \"Finished: FAILURE\\n\"",
				progressive.HasMoreText, progressive.Offset, len(progressive.Content), progressive.Content[max(0, len(progressive.Content)-40):])
		}

		n := b.GetBuildNumber()
		viaJenkins, err := jk.GetBuild(ctx, "go-param", n)
		if err != nil {
			t.Fatalf("Jenkins.GetBuild(go-param, %d): %v", n, err)
		}
		if got, want := viaJenkins.GetResult(), "FAILURE"; got != want {
			t.Errorf("Jenkins.GetBuild result: got %v, want %v", got, want)
		}
		job, err := jk.GetJob(ctx, "go-param")
		if err != nil {
			t.Fatalf("GetJob(go-param): %v", err)
		}
		viaJob, err := job.GetBuild(ctx, n)
		if err != nil {
			t.Fatalf("Job.GetBuild(%d): %v", n, err)
		}
		if got, want := viaJob.GetBuildNumber(), n; got != want {
			t.Errorf("Job.GetBuild number: got %v, want %v", got, want)
		}
		if status, err := job.Poll(ctx); err != nil || status != http.StatusOK {
			t.Fatalf("Job.Poll: got (%d, %v), want 200", status, err)
		}
		if got, want := job.Raw.LastBuild.Number, n; got != want {
			t.Errorf("Job.Poll lastBuild.number: got %v, want %v", got, want)
		}
		last, err := job.GetLastBuild(ctx)
		if err != nil {
			t.Fatalf("GetLastBuild: %v", err)
		}
		if last.GetBuildNumber() != n || last.GetResult() != "FAILURE" {
			t.Errorf("GetLastBuild: got #%d %s, want #%d FAILURE", last.GetBuildNumber(), last.GetResult(), n)
		}
	})

	t.Run("Stop", func(t *testing.T) {
		qid, err := jk.BuildJob(ctx, "go-param", map[string]string{"SIM_DURATION_MS": "60000"})
		if err != nil || qid <= 0 {
			t.Fatalf("BuildJob(go-param): got (%d, %v), want a queue id", qid, err)
		}
		b, err := jk.GetBuildFromQueueID(ctx, qid)
		if err != nil {
			t.Fatalf("GetBuildFromQueueID(%d): %v", qid, err)
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
	})

	t.Run("queued job and Task.Cancel", func(t *testing.T) {
		status, loc := simPost(t, c, "job/hello/build?delay=60sec")
		if status != http.StatusCreated {
			t.Fatalf("POST job/hello/build?delay=60sec: got %d, want 201", status)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		qid, err := strconv.ParseInt(path.Base(u.Path), 10, 64)
		if err != nil {
			t.Fatalf("Location %q: no queue id: %v", loc, err)
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
		if tasks := queue.Tasks(); len(tasks) != 1 || tasks[0].Raw.ID != qid {
			t.Errorf("queue after BuildJob while queued: got %d tasks, want only item %d", len(tasks), qid)
		}
		task, err := jk.GetQueueItem(ctx, qid)
		if err != nil {
			t.Fatalf("GetQueueItem(%d): %v", qid, err)
		}
		// §4.4: cancelItem answers 204 and gojenkins reports success only
		// on 200, so a successful cancel returns false.
		if ok, err := task.Cancel(ctx); ok || err != nil {
			t.Errorf("Task.Cancel: got (%v, %v), want (false, <nil>)", ok, err)
		}
		var item struct {
			Cancelled bool `json:"cancelled"`
		}
		simJSON(t, c, "queue/item/"+strconv.FormatInt(qid, 10)+"/api/json", &item)
		if !item.Cancelled {
			t.Errorf("queue item %d after Task.Cancel: cancelled false, want true", qid)
		}
	})

	t.Run("GetAllNodes", func(t *testing.T) {
		nodes, err := jk.GetAllNodes(ctx)
		if err != nil {
			t.Fatalf("GetAllNodes: %v", err)
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.GetName())
		}
		if want := []string{"Built-In Node", "agent-1", "agent-2"}; !slices.Equal(names, want) {
			t.Fatalf("GetAllNodes names: got %v, want %v", names, want)
		}
		// §10.3: nodes are addressed as /computer/<displayName>, and
		// /computer/Built-In%20Node/ is 404 (§7.1): the built-in node
		// cannot be polled; agents can.
		for _, n := range nodes {
			want := http.StatusOK
			if n.GetName() == "Built-In Node" {
				want = http.StatusNotFound
			}
			if got, err := n.Poll(ctx); got != want || err != nil {
				t.Errorf("Node(%s).Poll: got (%d, %v), want (%d, <nil>)", n.GetName(), got, err, want)
			}
		}
		if _, err := jk.GetNode(ctx, "Built-In Node"); err == nil {
			t.Errorf("GetNode(\"Built-In Node\"): got no error, want \"No node found\"")
		}
		builtIn, err := jk.GetNode(ctx, "(built-in)")
		if err != nil {
			t.Fatalf("GetNode((built-in)): %v", err)
		}
		if got, want := builtIn.GetName(), "Built-In Node"; got != want {
			t.Errorf("GetNode((built-in)) name: got %v, want %v", got, want)
		}
	})

	t.Run("DeleteJob", func(t *testing.T) {
		if ok, err := jk.DeleteJob(ctx, "go-param"); !ok || err != nil {
			t.Fatalf("DeleteJob: got (%v, %v), want (true, <nil>)", ok, err)
		}
		if _, err := jk.GetJob(ctx, "go-param"); err == nil {
			t.Errorf("GetJob after DeleteJob: got no error, want 404")
		}
		expectStatus(t, c, "job/go-param/api/json", http.StatusNotFound)
	})
}
