package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	f, fleet := startBuildsCLI(t)

	r := f.run(t, "policy", "get", "--cluster", "production", "--job", "team/deploy")
	if got, want := lines(r.stdout), []string{
		"Cluster: production", "Job: team/deploy", "Policy: always",
		"From: the default: neither the job nor cluster production has a policy",
		"Means: a build whose controller is lost is placed again while it has attempts left",
	}; r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("policy get with none set: exit %d\n got %q\nwant %q", r.code, got, want)
	}

	r = f.run(t, "policy", "set", "--cluster", "production", "--job", "team/deploy", "queued-only")
	r.want(t, 0, []string{"Policy:", "queued-only", "From:", "the job's own policy", "fails with the reason instead of running again"}, nil)
	f.run(t, "policy", "set", "--cluster", "production", "always").want(t, 0, []string{"Job:", "(all jobs without a policy of their own)", "the policy of cluster production"}, nil)
	r = f.run(t, "policy", "get", "--cluster", "production", "--job", "team/deploy", "-o", "json")
	var p api.RedispatchPolicy
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p != (api.RedispatchPolicy{Cluster: "production", Job: "team/deploy", Policy: dispatch.PolicyQueuedOnly, Source: "job"}) {
		t.Errorf("policy get -o json: %v\n%s", err, r.stdout)
	}
	if got, err := fleet.Service().PolicyOf(context.Background(), "production", "team/deploy"); err != nil || got != dispatch.PolicyQueuedOnly {
		t.Errorf("the build engine's policy of team/deploy: %s, %v", got, err)
	}

	r = f.run(t, "policy", "list")
	if got, want := lines(r.stdout), []string{"CLUSTER JOB POLICY", "production (cluster) always", "production team/deploy queued-only"}; r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("policy list: exit %d\n got %q\nwant %q", r.code, got, want)
	}
	if got := lines(f.run(t, "policy", "list", "--cluster", "staging").stdout); !slices.Equal(got, []string{"CLUSTER JOB POLICY"}) {
		t.Errorf("policy list of a cluster without: %q", got)
	}

	// A build placed now runs under its job's policy, and builds get says so.
	r = f.run(t, "builds", "trigger", "--cluster", "production", "team/deploy")
	id := buildID(t, r)
	fleet.WaitBuild(t, id, apitest.Terminal)
	r = f.run(t, "builds", "get", strconv.FormatInt(id, 10))
	if got := lines(r.stdout); !slices.ContainsFunc(got, func(l string) bool {
		return strings.HasPrefix(l, "1 jenkins-0 (1) ") && strings.HasSuffix(l, " queued-only")
	}) {
		t.Errorf("builds get: no attempt placed under queued-only:\n%s", r.stdout)
	}

	r = f.run(t, "policy", "clear", "--cluster", "production", "--job", "team/deploy")
	r.want(t, 0, []string{"Cleared the re-dispatch policy of job team/deploy of cluster production.", "Policy:", "always", "the policy of cluster production"}, nil)
	f.run(t, "policy", "clear", "--cluster", "production", "--job", "team/deploy").want(t, 1, nil,
		[]string{"jenkinds: no re-dispatch policy is set for job team/deploy of cluster production: nothing to clear"})
	r = f.run(t, "policy", "clear", "--cluster", "production", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Source != "default" || p.Policy != dispatch.PolicyAlways {
		t.Errorf("policy clear -o json: %v\n%s", err, r.stdout)
	}

	// Bad input.
	f.run(t, "policy", "set", "--cluster", "production", "sometimes").want(t, 1, nil, []string{`"sometimes": must be always or queued-only (field: policy)`})
	f.run(t, "policy", "set", "--cluster", "production").want(t, 2, nil, []string{"got 0 arguments, want always|queued-only"})
	f.run(t, "policy", "clear", "--cluster", "production", "--job", "").want(t, 2, nil, []string{"--job is empty"})
	f.run(t, "policy", "frobnicate").want(t, 2, nil, []string{`unknown subcommand "frobnicate" (want get, set, clear, list)`})
	if rules, _ := fleet.Service().Policies(context.Background(), ""); len(rules) != 0 {
		t.Errorf("rules left: %+v", rules)
	}
}
