package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// startBuildsCLI is startCLI with a real build engine behind the server,
// over one simulated Jenkins controller of cluster "production".
func startBuildsCLI(t *testing.T) (*cliFixture, *apitest.Fleet) {
	t.Helper()
	s, fleet := apitest.StartFleet(t, dbtest.Engines(t)[0], apitest.FleetConfig{Cluster: "production"})
	return &cliFixture{Server: s, env: map[string]string{"JENKINDS_ADDR": s.URL, "JENKINDS_TOKEN": apitest.Token}}, fleet
}

// buildID is the build ID trigger printed on its first line.
func buildID(t *testing.T, r result) int64 {
	t.Helper()
	first, _, _ := strings.Cut(r.stdout, "\n")
	id, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		t.Fatalf("trigger: first line %q is not a build ID (exit %d, stderr %s)", first, r.code, r.stderr)
	}
	return id
}

func TestBuildsTriggerAndFollow(t *testing.T) {
	t.Parallel()
	f, fleet := startBuildsCLI(t)

	r := f.run(t, "builds", "trigger", "--cluster", "production", "hello", "--wait", "--poll", "10ms")
	r.want(t, 0, []string{" finished: SUCCESS (production/hello #1, attempt 1 on jenkins-0)"}, nil)
	id := buildID(t, r)

	f.run(t, "builds", "logs", strconv.FormatInt(id, 10), "--follow", "--poll", "10ms").want(t, 0, []string{"Finished: SUCCESS"}, nil)
	f.run(t, "builds", "logs", strconv.FormatInt(id, 10)).want(t, 0, []string{"Finished: SUCCESS"}, nil)

	// --follow prints the console while it waits; a failure exits 1.
	r = f.run(t, "builds", "trigger", "--cluster", "production", "build", "-p", "SIM_RESULT=FAILURE", "-p", "SEQ=2", "--follow", "--poll", "10ms")
	r.want(t, 1, []string{"Finished: FAILURE", "finished: FAILURE"}, []string{"jenkinds: build " + strconv.FormatInt(buildID(t, r), 10) + " finished: FAILURE"})

	// Without --wait: the ID at once, and the build goes on.
	r = f.run(t, "builds", "trigger", "--cluster", "production", "team/deploy", "-p", "ENV=staging")
	r.want(t, 0, nil, []string{"accepted; follow it: jenkinds builds logs"})
	if b := fleet.WaitBuild(t, buildID(t, r), apitest.Terminal); b.Result != "SUCCESS" || b.Params[0] != (dispatch.Param{Name: "ENV", Value: "staging"}) {
		t.Errorf("build triggered without --wait: %+v", b)
	}

	// -o json: the build as it ended, one document.
	r = f.run(t, "builds", "trigger", "--cluster", "production", "hello", "--wait", "--poll", "10ms", "-o", "json")
	var b api.Build
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || r.code != 0 || b.Result != "SUCCESS" || len(b.Attempts) != 1 {
		t.Errorf("trigger -o json: exit %d, %v, %+v\n%s", r.code, err, b, r.stdout)
	}
}

func TestBuildsListGetCancel(t *testing.T) {
	t.Parallel()
	f, fleet := startBuildsCLI(t)
	done := buildID(t, f.run(t, "builds", "trigger", "--cluster", "production", "hello"))
	fleet.WaitBuild(t, done, apitest.Terminal)
	held := buildID(t, f.run(t, "builds", "trigger", "--cluster", "production", "hello", "--delay", "1h"))
	doneID, heldID := strconv.FormatInt(done, 10), strconv.FormatInt(held, 10)

	r := f.run(t, "builds", "list")
	r.want(t, 0, nil, nil)
	if got := lines(r.stdout); len(got) != 3 || got[0] != "ID CLUSTER JOB NUMBER STATE RESULT ATTEMPT CAUSE CREATED" ||
		!strings.HasPrefix(got[1], doneID+" production hello #1 finished SUCCESS 1/3 api ") ||
		!strings.HasPrefix(got[2], heldID+" production hello - accepted - 0/3 api ") {
		t.Errorf("builds list:\n%s", r.stdout)
	}
	f.run(t, "builds", "list", "--limit", "1").want(t, 0, []string{doneID + " "}, []string{"More builds follow: add --after " + doneID})

	r = f.run(t, "builds", "list", "--state", "accepted", "-o", "json")
	var page api.BuildList
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 || len(page.Builds) != 1 || page.Builds[0].ID != held || page.Next != "" {
		t.Errorf("builds list -o json: exit %d, %v, %+v", r.code, err, page)
	}

	r = f.run(t, "builds", "get", doneID)
	r.want(t, 0, []string{"State:", "finished", "Result:", "SUCCESS", "Attempt:", "1 of at most 3"}, nil)
	if got := lines(r.stdout); !strings.Contains(strings.Join(got, "\n"), "ATTEMPT CONTROLLER QUEUE ID NUMBER STATE RESULT REASON FENCE POLICY\n1 jenkins-0 (1) ") {
		t.Errorf("builds get: no attempts table:\n%s", r.stdout)
	}
	f.run(t, "builds", "get", heldID).want(t, 0, []string{"accepted", "No attempts yet."}, nil)
	r = f.run(t, "builds", "get", doneID, "-o", "json")
	var b api.Build
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || b.ID != done || b.Attempts[0].ControllerName != "jenkins-0" {
		t.Errorf("builds get -o json: %v, %+v", err, b)
	}

	f.run(t, "builds", "cancel", heldID).want(t, 0, []string{"Build " + heldID + " cancelled."}, nil)
	f.run(t, "builds", "cancel", heldID).want(t, 1, nil, []string{"build " + heldID + " already ended (cancelled", "nothing to cancel"})
	f.run(t, "builds", "cancel", doneID).want(t, 1, nil, []string{"already ended (finished SUCCESS)"})
	f.run(t, "builds", "logs", heldID, "--follow", "--poll", "10ms").want(t, 0, nil, []string{"Build " + heldID + " cancelled without a console"})
}

// TestBuildsBadInput checks that every mistake is named.
func TestBuildsBadInput(t *testing.T) {
	t.Parallel()
	f, _ := startBuildsCLI(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trigger"}, 2, "builds trigger: got 0 arguments, want JOB"},
		{[]string{"trigger", "--cluster", "production", "nope"}, 1, `no controller of cluster "production" has a job "nope"`},
		{[]string{"trigger", "hello"}, 1, `no controller of cluster "default" has a job "hello"`},
		{[]string{"trigger", "--cluster", "production", "hello", "-p", "ENV=qa"}, 1, `job "hello" of cluster "production" is not parameterized: leave parameters out (field: parameters)`},
		{[]string{"trigger", "--cluster", "production", "off"}, 1, "is not buildable"},
		{[]string{"trigger", "--cluster", "production", "build", "-p", "SEQ"}, 2, "want NAME=VALUE"},
		{[]string{"trigger", "--cluster", "production", "build", "-p", "SEQ=1", "-p", "SEQ=2"}, 2, "-p SEQ is given twice"},
		{[]string{"trigger", "--cluster", "production", "hello", "--delay", "1500ms"}, 2, "want whole seconds"},
		{[]string{"list", "--state", "done"}, 1, `state must be accepted, placed, running, finished, failed or cancelled, not "done" (field: state)`},
		{[]string{"list", "--limit", "5000"}, 1, "limit must be an integer between 1 and 1000"},
		{[]string{"get", "abc"}, 2, `builds get: "abc" is not a build ID`},
		{[]string{"get"}, 2, "got 0 arguments, want ID"},
		{[]string{"get", "999"}, 1, "build not found"},
		{[]string{"cancel", "0"}, 2, "is not a build ID"},
		{[]string{"logs", "999"}, 1, "build not found"},
		{[]string{"logs", "1", "--poll", "0s"}, 2, "--poll 0s"},
	} {
		f.run(t, append([]string{"builds"}, tt.args...)...).want(t, tt.code, nil, []string{tt.want})
	}
}

func TestBuildsHelp(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.run(t, "builds", "-h").want(t, 0, nil, []string{"Usage: jenkinds builds <subcommand>", "  trigger  ", "  logs     ", "  submit   "})
	for _, tt := range []struct{ sub, usage string }{
		{"trigger", "builds trigger [--cluster CLUSTER] JOB [-p NAME=VALUE ...] [flags]"},
		{"list", "builds list [flags]"},
		{"get", "builds get ID [flags]"},
		{"cancel", "builds cancel ID [flags]"},
		{"logs", "builds logs ID [--follow] [flags]"},
	} {
		f.run(t, "builds", tt.sub, "-h").want(t, 0, nil, []string{"Usage: jenkinds " + tt.usage, "jenkinds builds " + tt.sub + " "})
	}
	f.run(t, "builds").want(t, 2, nil, []string{"name a subcommand: trigger, list, get, cancel, logs, submit"})
	// Without a build engine the server says so.
	f.run(t, "builds", "list").want(t, 1, nil, []string{"Jenkins-controller builds are not enabled on this server"})
}
