package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// tokenFile writes content to a file and returns its path.
func tokenFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInstancesAdd(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	file := tokenFile(t, apiToken+"\n")
	r := f.run(t, "instances", "add", "--name", "ci-1", "--url", "https://ci-1.example.com/", "--username", "admin",
		"--api-token-file", file, "--description", "the first", "--cluster", "prod", "--primary", "--priority", "10",
		"--load-balancer-url", "http://lb", "--health-check-url", "/login", "--max-connections", "50", "--active=false")
	r.want(t, 0, []string{"Name:", "ci-1", "API token:", "stored (never shown)"}, nil)
	got := lines(r.stdout)
	for _, want := range []string{"ID: 1", "Name: ci-1", "Cluster: prod", "URL: https://ci-1.example.com", "Username: admin",
		"Description: the first", "Primary: yes", "Active: no", "Priority: 10", "Load: 0/50", "Load balancer URL: http://lb",
		"Health check URL: /login", "Health: unknown (checked never)", "Last error: -", "Version: -", "Created: 2025-03-01T12:00:00Z"} {
		if !slices.Contains(got, want) {
			t.Errorf("add output: no line %q in\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("add with a token file: stderr %q, want nothing", r.stderr)
	}
	i, err := f.Store.GetByName(context.Background(), "ci-1")
	if err != nil {
		t.Fatal(err)
	}
	if i.ClusterID != "prod" || !i.IsPrimary || i.IsActive || i.Priority != 10 || i.MaxConnections != 50 || i.HealthCheckURL != "/login" || i.Description != "the first" {
		t.Errorf("stored: got %+v", i)
	}
	if token, _ := f.Store.Token(context.Background(), i.ID); token != apiToken {
		t.Errorf("stored token: got %q, want the file's without its newline", token)
	}

	// Defaults, the token as a flag (with a warning), JSON output.
	r = f.run(t, "instances", "add", "--name", "ci-2", "--url", "http://10.0.0.2:8080", "--api-token", "flag-token-value", "-o", "json")
	r.want(t, 0, []string{`"name": "ci-2"`, `"hasApiToken": true`, `"clusterId": "default"`, `"maxConnections": 100`, `"isActive": true`},
		[]string{"warning: --api-token puts the token in your shell history"})
	var inst controller.Instance
	if err := json.Unmarshal([]byte(r.stdout), &inst); err != nil || inst.Name != "ci-2" {
		t.Errorf("add -o json: got %q, %v; want an instance", r.stdout, err)
	}
}

func TestInstancesAddErrors(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.add(t, controller.CreateInput{Name: "taken", URL: "https://taken.example.com"})
	empty := tokenFile(t, " \n")
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no name", []string{"--url", "https://x.example.com"}, 2, "jenkinds: usage: instances add: --name and --url are required"},
		{"no url", []string{"--name", "x"}, 2, "--name and --url are required"},
		{"invalid url", []string{"--name", "x", "--url", "x.example.com"}, 1, "jenkinds: url: must be an absolute http or https URL, e.g. https://jenkins.example.com (field: url)\n"},
		{"invalid priority", []string{"--name", "x", "--url", "https://x.example.com", "--priority", "101"}, 1, "jenkinds: priority: must be between 0 and 100 (field: priority)\n"},
		{"taken name", []string{"--name", "taken", "--url", "https://x.example.com"}, 1, `jenkinds: name: "taken" is already the name of instance 1 (field: name)`},
		{"two token sources", []string{"--name", "x", "--url", "https://x.example.com", "--api-token", "a", "--api-token-stdin"}, 2, "give the API token one way, not with --api-token and --api-token-stdin"},
		{"missing token file", []string{"--name", "x", "--url", "https://x.example.com", "--api-token-file", "/nonexistent/token"}, 1, "read API token: open /nonexistent/token: no such file or directory"},
		{"empty token file", []string{"--name", "x", "--url", "https://x.example.com", "--api-token-file", empty}, 1, "read API token from " + empty + ": it is empty"},
		{"not a number", []string{"--name", "x", "--url", "https://x.example.com", "--priority", "high"}, 2, `invalid value "high" for flag -priority`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f.run(t, append([]string{"instances", "add"}, tt.args...)...).want(t, tt.code, nil, []string{tt.want})
		})
	}
}

// TestInstancesAddTokenFromStdin swaps the package's stdin, so it is not
// parallel; parallel tests start only after it has finished.
func TestInstancesAddTokenFromStdin(t *testing.T) {
	f := startCLI(t)
	old := stdin
	t.Cleanup(func() { stdin = old })
	for _, tt := range []struct {
		name, input, want string
		code              int
	}{
		{"token", apiToken + "\n", "", 0},
		{"nothing", "", "read API token from standard input: it is empty", 1},
		{"too much", strings.Repeat("x", 5000), "more than 4096 bytes", 1},
	} {
		stdin = strings.NewReader(tt.input)
		r := f.run(t, "instances", "add", "--name", "stdin-"+strings.ReplaceAll(tt.name, " ", "-"), "--url", "https://x.example.com", "--api-token-stdin")
		r.want(t, tt.code, nil, []string{tt.want})
	}
	if token, err := f.Store.Token(context.Background(), 1); err != nil || token != apiToken {
		t.Errorf("token read from stdin: got %q, %v; want it without the newline", token, err)
	}
}

func TestInstancesListGetRemove(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	r := f.run(t, "instances", "list")
	if got := lines(r.stdout); r.code != 0 || len(got) != 1 || got[0] != "ID NAME CLUSTER URL PRIMARY ACTIVE HEALTH LOAD PRIORITY VERSION" {
		t.Errorf("empty list: got %d %q, want the header alone", r.code, r.stdout)
	}
	if r := f.run(t, "instances", "list", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty list -o json: got %q, want []", r.stdout)
	}
	a := f.add(t, controller.CreateInput{Name: "a", URL: "https://a.example.com", ClusterID: ptr("prod"), IsPrimary: true, Priority: 5})
	f.add(t, controller.CreateInput{Name: "b", URL: "https://b.example.com"})
	if err := f.Store.RecordHealth(context.Background(), a.ID, controller.HealthRecord{Status: balance.Healthy, CurrentLoad: 7, Version: "2.452.1"}); err != nil {
		t.Fatal(err)
	}

	r = f.run(t, "instances", "list")
	want := []string{
		"ID NAME CLUSTER URL PRIMARY ACTIVE HEALTH LOAD PRIORITY VERSION",
		"1 a prod https://a.example.com yes yes healthy 7/100 5 2.452.1",
		"2 b default https://b.example.com no yes unknown 0/100 0 -",
	}
	if got := lines(r.stdout); !slices.Equal(got, want) {
		t.Errorf("list:\ngot  %q\nwant %q", got, want)
	}
	if got := lines(f.run(t, "instances", "list", "--cluster", "prod").stdout); len(got) != 2 || got[1] != want[1] {
		t.Errorf("list --cluster prod: got %q, want a alone", got)
	}
	var list []controller.Instance
	if err := json.Unmarshal([]byte(f.run(t, "instances", "list", "-o", "json").stdout), &list); err != nil || len(list) != 2 {
		t.Errorf("list -o json: got %v, %v", list, err)
	}

	// By ID or by name; flags before or after.
	for _, args := range [][]string{{"get", "1"}, {"get", "a"}, {"get", "-o", "table", "a"}, {"get", "a", "-o", "table"}} {
		r := f.run(t, append([]string{"instances"}, args...)...)
		r.want(t, 0, nil, nil)
		if got := lines(r.stdout); !slices.Contains(got, "Name: a") || !slices.Contains(got, "Health: healthy (checked 2025-03-01T12:00:00Z)") {
			t.Errorf("instances %s: got\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	f.run(t, "instances", "get", "a", "-o", "json").want(t, 0, []string{`"id": 1`, `"version": "2.452.1"`}, nil)
	f.run(t, "instances", "get", "nope").want(t, 1, nil, []string{`jenkinds: no instance is named "nope" (see 'jenkinds instances list')`})
	f.run(t, "instances", "get", "999").want(t, 1, nil, []string{"jenkinds: get instance 999: not found\n"})
	f.run(t, "instances", "get", "0").want(t, 1, nil, []string{`jenkinds: id must be a positive integer, not "0" (field: id)`})
	f.run(t, "instances", "get").want(t, 2, nil, []string{"instances get: got 0 arguments, want ID|NAME"})
	f.run(t, "instances", "get", "a", "b").want(t, 2, nil, []string{"got 2 arguments, want ID|NAME"})

	f.run(t, "instances", "remove", "b").want(t, 0, []string{"Removed instance 2 (b)."}, nil)
	f.run(t, "instances", "remove", "a", "-o", "json").want(t, 0, []string{`"name": "a"`}, nil)
	if got := lines(f.run(t, "instances", "list").stdout); len(got) != 1 {
		t.Errorf("list after remove: got %q, want the header alone", got)
	}
	f.run(t, "instances", "remove", "a").want(t, 1, nil, []string{`no instance is named "a"`})
}

func TestInstancesUpdate(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	orig := f.add(t, controller.CreateInput{Name: "a", URL: "https://a.example.com", Username: "admin", APIToken: apiToken,
		Description: "keep me", ClusterID: ptr("prod"), Priority: 5, HealthCheckURL: "/login", MaxConnections: ptr(40)})
	ctx := context.Background()

	f.run(t, "instances", "update", "a", "--priority", "20", "--active=false").want(t, 0, []string{"Priority:", "20"}, nil)
	got, _ := f.Store.Get(ctx, orig.ID)
	want := orig
	want.Priority, want.IsActive = 20, false
	if gotJSON, wantJSON := apitest.JSON(t, got), apitest.JSON(t, want); gotJSON != wantJSON {
		t.Errorf("after update of two fields:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}
	if token, _ := f.Store.Token(ctx, orig.ID); token != apiToken {
		t.Errorf("token after an update without token flags: got %q, want it kept", token)
	}

	// Every flag, by ID, -o json.
	r := f.run(t, "instances", "update", "1", "--name", "b", "--url", "http://b", "--username", "u", "--description", "",
		"--cluster", "staging", "--load-balancer-url", "http://lb", "--health-check-url", "", "--max-connections", "7",
		"--primary", "--active", "--priority", "0", "-o", "json")
	r.want(t, 0, []string{`"name": "b"`}, nil)
	got, _ = f.Store.Get(ctx, orig.ID)
	want.Name, want.URL, want.Username, want.Description, want.ClusterID, want.LoadBalancerURL = "b", "http://b", "u", "", "staging", "http://lb"
	want.HealthCheckURL, want.MaxConnections, want.IsPrimary, want.IsActive, want.Priority = "", 7, true, true, 0
	if gotJSON, wantJSON := apitest.JSON(t, got), apitest.JSON(t, want); gotJSON != wantJSON {
		t.Errorf("after update of every field:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}

	f.run(t, "instances", "update", "b", "--api-token", "").want(t, 0, []string{"API token:", "none"}, nil)
	if token, _ := f.Store.Token(ctx, orig.ID); token != "" {
		t.Errorf("token after --api-token '': got %q, want none", token)
	}
	f.run(t, "instances", "update", "b").want(t, 2, nil, []string{"instances update: nothing to change"})
	f.run(t, "instances", "update", "b", "--max-connections", "0").want(t, 1, nil, []string{"jenkinds: maxConnections: must be between 1 and 100000 (field: maxConnections)"})
	f.run(t, "instances", "update", "--priority", "1").want(t, 2, nil, []string{"want ID|NAME"})
}

func TestInstancesTest(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	var asked apitest.Record
	f.Prober.Test = func(url, username, token string) api.TestResult {
		asked.Add("%s %s %v", url, username, token == apiToken)
		if token != apiToken {
			return api.TestResult{Message: "Jenkins answered 401: check the username and API token"}
		}
		return api.TestResult{Success: true, Version: "2.452.1", Message: "authenticated as admin"}
	}
	file := tokenFile(t, apiToken)
	f.run(t, "instances", "test", "--url", "https://ci.example.com", "--username", "admin", "--api-token-file", file).
		want(t, 0, []string{"OK: Jenkins 2.452.1: authenticated as admin\n"}, nil)
	f.run(t, "instances", "test", "--url", "https://ci.example.com", "-o", "json").
		want(t, 1, []string{`"success": false`, `"message": "Jenkins answered 401`}, []string{"jenkinds: the connection test failed"})
	r := f.run(t, "instances", "test", "--url", "https://ci.example.com")
	r.want(t, 1, []string{"FAILED: Jenkins answered 401: check the username and API token\n"}, nil)
	if want := "https://ci.example.com admin true|https://ci.example.com  false|https://ci.example.com  false"; asked.String() != want {
		t.Errorf("prober asked %q, want %q", asked.String(), want)
	}
	f.run(t, "instances", "test").want(t, 2, nil, []string{"instances test: --url is required"})
	f.run(t, "instances", "test", "--url", "ci.example.com").want(t, 1, nil, []string{"(field: url)"})
}

func TestInstancesStats(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	a := f.add(t, controller.CreateInput{Name: "a", URL: "https://a.example.com", MaxConnections: ptr(8)})
	f.add(t, controller.CreateInput{Name: "down", URL: "https://down.example.com"})
	if err := f.Store.RecordHealth(context.Background(), a.ID, controller.HealthRecord{Status: balance.Healthy, CurrentLoad: 2}); err != nil {
		t.Fatal(err)
	}
	f.Prober.Live = func(inst controller.Instance) (api.LiveStats, error) {
		if inst.Name == "down" {
			return api.LiveStats{}, apitest.ErrDown
		}
		return api.LiveStats{TotalJobs: 12, ActiveJobs: 3, TotalExecutors: 4, BusyExecutors: 1, IdleExecutors: 3, RunningBuilds: 1, QueuedItems: 5, OnlineAgents: 2}, nil
	}
	want := []string{
		"Instance: 1 (a)",
		"Health: healthy (checked 2025-03-01T12:00:00Z)",
		"Load: 2/8 (25.0%)",
		"Jobs: 12 (3 active)",
		"Executors: 1 busy, 3 idle of 4 (25.0%)",
		"Running builds: 1",
		"Queued items: 5",
		"Online agents: 2",
	}
	if got := lines(f.run(t, "instances", "stats", "a").stdout); !slices.Equal(got, want) {
		t.Errorf("stats:\ngot  %q\nwant %q", got, want)
	}
	r := f.run(t, "instances", "stats", "down")
	want = []string{
		"Instance: 2 (down)",
		"Health: unknown (checked never)",
		"Load: 0/100 (0.0%)",
		"Live figures: unavailable: the controller did not answer, so only the stored figures are shown: " + apitest.ErrDown.Error(),
	}
	if got := lines(r.stdout); r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("stats of a down controller: got %d\n%q\nwant 0\n%q", r.code, got, want)
	}
	f.run(t, "instances", "stats", "2", "-o", "json").want(t, 0, []string{`"error": "the controller did not answer`}, nil)
}

func TestInstancesDrain(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.run(t, "instances", "add", "--name", "dr-1", "--url", "https://dr-1.example.com").want(t, 0, nil, nil)
	f.run(t, "instances", "drain", "dr-1", "-o", "json").want(t, 0, []string{`"draining": true`}, nil)
	f.run(t, "instances", "undrain", "dr-1").want(t, 0, []string{"Draining:", "false"}, nil)
	f.run(t, "instances", "drain", "nope").want(t, 1, nil, []string{"no instance is named"})
}
