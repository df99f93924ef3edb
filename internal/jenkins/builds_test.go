package jenkins_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

var withParam = jenkinssim.JobSpec{Name: "team/p", DurationMs: 1,
	Parameters: []jenkinssim.ParamSpec{{Name: "A", Default: "a"}, {Type: "boolean", Name: "B", Default: "true"}}}

// builtBy follows queue item id to its build's number.
func builtBy(t *testing.T, f fixture, id int64) int64 {
	t.Helper()
	var n int64
	testkit.Eventually(t, 10*time.Second, func() bool {
		it, _, err := f.client.QueueItem(f.ctx, id)
		n = it.Executable
		return err == nil && n > 0
	}, testkit.Sayf("queue item becomes a build"))
	return n
}

// finished waits for build n of job to end and returns it.
func finished(t *testing.T, f fixture, job string, n int64) jenkins.Build {
	t.Helper()
	var b jenkins.Build
	testkit.Eventually(t, 10*time.Second, func() bool {
		var err error
		b, _, err = f.client.Build(f.ctx, job, n)
		return err == nil && !b.Building
	}, testkit.Sayf("%s finishes", job))
	return b
}

func TestTriggerBuildAndLog(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: []jenkinssim.JobSpec{fast, {Name: "team", Type: "folder"}, withParam}})

	ref, err := f.client.Trigger(f.ctx, "fast", nil, false)
	if err != nil || ref.ID <= 0 || ref.Session != f.sim.Session() || ref.Merged {
		t.Fatalf("trigger: %+v %v", ref, err)
	}
	n := builtBy(t, f, ref.ID)
	b := finished(t, f, "fast", n)
	if b.Number != n || b.QueueID != ref.ID || b.Result != "SUCCESS" || b.Timestamp == 0 ||
		len(b.Params) != 0 || !slices.Equal(b.Causes, []string{"Started by user admin"}) {
		t.Errorf("build: %+v", b)
	}

	chunk, r, err := f.client.ProgressiveLog(f.ctx, "fast", n, 0)
	if err != nil || chunk.More || chunk.Size != int64(len(chunk.Text)) || !strings.HasSuffix(string(chunk.Text), "Finished: SUCCESS\n") || r.Code != 200 {
		t.Errorf("whole log: %+v %q %v", chunk, chunk.Text, err)
	}
	rest, _, err := f.client.ProgressiveLog(f.ctx, "fast", n, chunk.Size)
	if err != nil || len(rest.Text) != 0 || rest.Size != chunk.Size {
		t.Errorf("log past the end: %+v %v", rest, err)
	}
	if ok, err := f.client.HasFinishedFooter(f.ctx, "fast", n); err != nil || !ok {
		t.Errorf("footer of a finished build: %v %v", ok, err)
	}

	// A parameterized job in a folder: parameters as a form, defaults for the rest.
	ref, err = f.client.Trigger(f.ctx, "team/p", []jenkins.Param{{Name: "A", Value: "x y&z"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	n = builtBy(t, f, ref.ID)
	b = finished(t, f, "team/p", n)
	if want := []jenkins.Param{{Name: "A", Value: "x y&z"}, {Name: "B", Value: "true"}}; !slices.Equal(b.Params, want) {
		t.Errorf("parameters: %+v, want %+v", b.Params, want)
	}
	page, _, err := f.client.BuildsPage(f.ctx, "team/p", 0, 10, true)
	if err != nil || page.Next != n+1 || len(page.Builds) != 1 || page.Builds[0].Number != n || len(page.Builds[0].Params) != 2 {
		t.Errorf("full page: %+v %v", page, err)
	}
	page, _, err = f.client.BuildsPage(f.ctx, "team/p", 0, 10, false)
	if err != nil || len(page.Builds) != 1 || len(page.Builds[0].Params) != 0 || page.Builds[0].Result != "SUCCESS" {
		t.Errorf("light page: %+v %v", page, err)
	}
	if page, _, err = f.client.BuildsPage(f.ctx, "team/p", 1, 10, false); err != nil || len(page.Builds) != 0 {
		t.Errorf("page past the builds: %+v %v", page, err)
	}
}

func TestTriggerRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: []jenkinssim.JobSpec{fast, {Name: "off", Disabled: true}}})
	for _, tc := range []struct {
		job           string
		parameterized bool
		code          int
	}{
		{"nope", false, 404},
		{"fast", true, 400}, // "fast is not parameterized"
		{"off", false, 409},
	} {
		ref, err := f.client.Trigger(f.ctx, tc.job, nil, tc.parameterized)
		if jenkins.Classify(err) != jenkins.Refused || !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(tc.code)) {
			t.Errorf("trigger %s: %v", tc.job, err)
		}
		if ref.Session != f.sim.Session() {
			t.Errorf("trigger %s: the session of a refusal: %q", tc.job, ref.Session)
		}
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: []jenkinssim.JobSpec{slow}})
	ref, err := f.client.Trigger(f.ctx, "slow", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	n := builtBy(t, f, ref.ID)
	chunk, _, err := f.client.ProgressiveLog(f.ctx, "slow", n, 0)
	if err != nil || !chunk.More {
		t.Errorf("log of a running build: %+v %v", chunk, err)
	}
	if ok, err := f.client.HasFinishedFooter(f.ctx, "slow", n); err != nil || ok {
		t.Errorf("footer of a running build: %v %v", ok, err)
	}
	if err := f.client.Stop(f.ctx, "slow", n); err != nil {
		t.Fatalf("stop (302): %v", err)
	}
	if b := finished(t, f, "slow", n); b.Result != "ABORTED" {
		t.Errorf("stopped build: %+v", b)
	}
	if err := f.client.Stop(f.ctx, "slow", n); err != nil {
		t.Errorf("stop a finished build: %v", err)
	}
	if _, _, err := f.client.Build(f.ctx, "slow", n+1); !jenkins.IsNotFound(err) {
		t.Errorf("a build that does not exist: %v", err)
	}
}
