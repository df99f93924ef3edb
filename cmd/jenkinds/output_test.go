package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// apiToken is the Jenkins API token the client tests register; it must
// never be printed.
const apiToken = "tok-PLAINTEXT-123"

// cliFixture is a real API server and the environment that points the
// client commands at it.
type cliFixture struct {
	*apitest.Server
	env map[string]string
}

func startCLI(t *testing.T) *cliFixture {
	t.Helper()
	s := apitest.Start(t, dbtest.Engines(t)[0])
	return &cliFixture{Server: s, env: map[string]string{"JENKINDS_ADDR": s.URL, "JENKINDS_TOKEN": apitest.Token}}
}

// result is what one command did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs jenkinds with args and f's environment, and checks that no
// secret reached its output.
func (f *cliFixture) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &environment{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return f.env[k] }}
	code := runMain(context.Background(), args, env)
	r := result{code, stdout.String(), stderr.String()}
	for _, secret := range []string{apiToken, apitest.Token} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("jenkinds %s: output contains a secret:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	return r
}

// want checks a result's exit code and that stdout and stderr contain the
// given texts.
func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code: got %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout %q: want it to contain %q", r.stdout, s)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q: want it to contain %q", r.stderr, s)
		}
	}
}

// add registers an instance directly in the store.
func (f *cliFixture) add(t *testing.T, in controller.CreateInput) controller.Instance {
	t.Helper()
	i, err := f.Store.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func ptr[T any](v T) *T { return &v }

// lines returns the non-empty lines of s with runs of spaces collapsed,
// to compare tables without their padding.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestConnecting checks where the commands find the server and the token:
// flags first, then JENKINDS_ADDR and JENKINDS_TOKEN.
func TestConnecting(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.add(t, controller.CreateInput{Name: "a", URL: "https://a.example.com"})
	dead := "http://" + apitest.DeadAddr(t)
	hostPort := strings.TrimPrefix(f.URL, "http://")

	tests := []struct {
		name         string
		env          map[string]string
		args         []string
		code         int
		stdout       []string
		stderr       []string
		stderrAbsent string
	}{
		{"environment", f.env, nil, 0, []string{"ID  NAME"}, nil, ""},
		{"address flag wins", map[string]string{"JENKINDS_ADDR": dead, "JENKINDS_TOKEN": apitest.Token}, []string{"--addr", f.URL}, 0, []string{" a "}, nil, ""},
		{"token flag wins", map[string]string{"JENKINDS_ADDR": f.URL, "JENKINDS_TOKEN": "jk_wrong-0123456789"}, []string{"--token", apitest.Token}, 0, []string{" a "}, nil, ""},
		{"address without scheme", map[string]string{"JENKINDS_TOKEN": apitest.Token}, []string{"--addr", hostPort}, 0, []string{" a "}, nil, ""},
		{"no token", map[string]string{"JENKINDS_ADDR": f.URL}, nil, 2, nil, []string{"jenkinds: usage: instances list: no admin token: set JENKINDS_TOKEN", "admin.token"}, ""},
		{"wrong token", map[string]string{"JENKINDS_ADDR": f.URL, "JENKINDS_TOKEN": "jk_wrong-0123456789"}, nil, 1, nil, []string{"jenkinds: the admin token is not valid", "JENKINDS_ADMIN_TOKEN"}, "usage"},
		{"server down", map[string]string{"JENKINDS_ADDR": dead, "JENKINDS_TOKEN": apitest.Token}, nil, 1, nil, []string{"jenkinds: cannot reach the jenkinds server at " + dead, "refused", "set --addr or JENKINDS_ADDR"}, ""},
		{"default address", map[string]string{"JENKINDS_TOKEN": apitest.Token}, []string{"--timeout", "1ms"}, 1, nil, []string{"cannot reach the jenkinds server at http://127.0.0.1:7070"}, ""},
		{"bad address", map[string]string{"JENKINDS_TOKEN": apitest.Token}, []string{"--addr", "ftp://x"}, 2, nil, []string{`jenkinds address "ftp://x"`}, ""},
		{"bad output", f.env, []string{"-o", "yaml"}, 2, nil, []string{`-o "yaml": want table or json`}, ""},
		{"unknown flag", f.env, []string{"--clusterr", "x"}, 2, nil, []string{"flag provided but not defined: -clusterr", "run 'jenkinds instances list -h'"}, ""},
		{"stray argument", f.env, []string{"extra"}, 2, nil, []string{"got 1 arguments, want no arguments"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &cliFixture{Server: f.Server, env: tt.env}
			r := g.run(t, append([]string{"instances", "list"}, tt.args...)...)
			r.want(t, tt.code, tt.stdout, tt.stderr)
			if tt.stderrAbsent != "" && strings.Contains(r.stderr, tt.stderrAbsent) {
				t.Errorf("stderr %q: want no %q", r.stderr, tt.stderrAbsent)
			}
		})
	}
}

// TestHelp checks that every client command explains itself with -h and
// refuses what it does not know.
func TestHelp(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	for _, tt := range []struct {
		args        []string
		usage, want string
	}{
		{[]string{"instances", "-h"}, "instances <subcommand> [flags]", "Subcommands:\n  add "},
		{[]string{"help", "instances"}, "instances <subcommand> [flags]", "Subcommands:"},
		{[]string{"clusters", "--help"}, "clusters <subcommand> [flags]", "  failover "},
		{[]string{"health", "help"}, "health <subcommand> [flags]", "  check "},
		{[]string{"instances", "add", "-h"}, "instances add [flags]", "--api-token-stdin"},
		{[]string{"instances", "list", "-h"}, "instances list [flags]", "Examples:"},
		{[]string{"instances", "get", "-h"}, "instances get ID|NAME [flags]", "Examples:"},
		{[]string{"instances", "update", "-h"}, "instances update ID|NAME [flags]", "--api-token '' removes"},
		{[]string{"instances", "remove", "-h"}, "instances remove ID|NAME [flags]", "Example:"},
		{[]string{"instances", "test", "-h"}, "instances test --url URL [flags]", "Examples:"},
		{[]string{"instances", "stats", "-h"}, "instances stats ID|NAME [flags]", "Examples:"},
		{[]string{"clusters", "list", "-h"}, "clusters list [flags]", "Examples:"},
		{[]string{"clusters", "primary", "-h"}, "clusters primary CLUSTER [flags]", "Example:"},
		{[]string{"clusters", "failover", "-h"}, "clusters failover CLUSTER --from ID|NAME [flags]", "Example:"},
		{[]string{"optimal", "-h"}, "optimal [flags]", "primary-backup  the primary"},
		{[]string{"health", "check", "-h"}, "health check [flags]", "Examples:"},
		{[]string{"instances", "events", "-h"}, "instances events ID|NAME [flags]", "Examples:\n  jenkinds instances events ci-1"},
		{[]string{"policy", "-h"}, "policy <subcommand> [flags]", "queued-only  place it again only while it has not started"},
		{[]string{"help", "policy"}, "policy <subcommand> [flags]", "  set "},
		{[]string{"policy", "get", "-h"}, "policy get [--cluster CLUSTER] [--job JOB] [flags]", "Examples:"},
		{[]string{"policy", "set", "-h"}, "policy set [--cluster CLUSTER] [--job JOB] always|queued-only [flags]", "jenkinds policy set --cluster production --job team/deploy queued-only"},
		{[]string{"policy", "clear", "-h"}, "policy clear [--cluster CLUSTER] [--job JOB] [flags]", "Examples:"},
		{[]string{"policy", "list", "-h"}, "policy list [flags]", "Examples:"},
	} {
		f.run(t, tt.args...).want(t, 0, nil, []string{"Usage: jenkinds " + tt.usage, tt.want})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"instances"}, "jenkinds: usage: instances: name a subcommand: add, list, get, update, remove, drain, undrain, test, stats, events"},
		{[]string{"instances", "frobnicate"}, `jenkinds: usage: instances: unknown subcommand "frobnicate" (want add, list, get, update, remove, drain, undrain, test, stats, events)`},
		{[]string{"clusters"}, "name a subcommand: list, primary, failover"},
		{[]string{"health", "status"}, `unknown subcommand "status" (want check)`},
	} {
		f.run(t, tt.args...).want(t, 2, nil, []string{tt.want})
	}
	f.run(t, "help").want(t, 0, []string{"\n  instances ", "\n  policy         set, show and clear the re-dispatch policies of clusters and jobs\n"}, nil)
}
