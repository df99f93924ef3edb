package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

const policyPath = "/api/v1/clusters/production/redispatch-policy"

// policy returns GET policyPath?query, which must answer 200.
func (f *buildsFixture) policy(t *testing.T, query string) api.RedispatchPolicy {
	t.Helper()
	r := f.call(t, "GET", policyPath+query, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s%s: got %d %s", policyPath, query, r.status, r.body)
	}
	return decode[api.RedispatchPolicy](t, r)
}

func TestRedispatchPolicies(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setupBuilds(t, e, 1)
			want := func(what string, got api.RedispatchPolicy, job string, p dispatch.Policy, source string) {
				t.Helper()
				if w := (api.RedispatchPolicy{Cluster: "production", Job: job, Policy: p, Source: source}); got != w {
					t.Errorf("%s: got %+v, want %+v", what, got, w)
				}
			}
			want("no rule", f.policy(t, ""), "", dispatch.PolicyAlways, api.PolicySourceDefault)
			want("no rule, a job", f.policy(t, "?job=team/deploy"), "team/deploy", dispatch.PolicyAlways, api.PolicySourceDefault)

			// The cluster's rule, then a job's that overrides it.
			r := f.call(t, "PUT", policyPath, `{"policy": "queued-only"}`)
			if r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"cluster":"production","job":"","policy":"queued-only","source":"cluster"}` {
				t.Fatalf("PUT the cluster's: %d %s", r.status, r.body)
			}
			want("a job under the cluster's rule", f.policy(t, "?job=team/deploy"), "team/deploy", dispatch.PolicyQueuedOnly, api.PolicySourceCluster)
			r = f.call(t, "PUT", policyPath+"?job=/team/deploy/", `{"policy": "always"}`)
			want("PUT a job's", decode[api.RedispatchPolicy](t, r), "team/deploy", dispatch.PolicyAlways, api.PolicySourceJob)
			want("the job", f.policy(t, "?job=team/deploy"), "team/deploy", dispatch.PolicyAlways, api.PolicySourceJob)
			want("another job", f.policy(t, "?job=hello"), "hello", dispatch.PolicyQueuedOnly, api.PolicySourceCluster)
			want("the cluster", f.policy(t, ""), "", dispatch.PolicyQueuedOnly, api.PolicySourceCluster)
			if !strings.Contains(f.Logs.String(), `msg="re-dispatch policy set" cluster=production job_name=team/deploy policy=always`) {
				t.Errorf("no log line of the change in:\n%s", f.Logs)
			}

			// The API's answer is the build engine's.
			for _, job := range []string{"", "team/deploy", "hello", "team"} {
				q := ""
				if job != "" {
					q = "?job=" + job
				}
				p, err := f.fleet.Service().PolicyOf(f.ctx, "production", job)
				if got := f.policy(t, q); err != nil || got.Policy != p {
					t.Errorf("job %q: the API says %s, PolicyOf %s (%v)", job, got.Policy, p, err)
				}
			}

			// The stored rules.
			r = f.call(t, "GET", "/api/v1/redispatch-policies", "")
			rules := decode[[]dispatch.PolicyRule](t, r)
			if wantRules := []dispatch.PolicyRule{{Cluster: "production", Policy: dispatch.PolicyQueuedOnly}, {Cluster: "production", Job: "team/deploy", Policy: dispatch.PolicyAlways}}; !slices.Equal(rules, wantRules) {
				t.Errorf("rules: got %s", r.body)
			}
			if r = f.call(t, "GET", "/api/v1/redispatch-policies?cluster=staging", ""); r.status != 200 || strings.TrimSpace(r.body) != "[]" {
				t.Errorf("rules of a cluster without: %d %s", r.status, r.body)
			}

			// Builds placed from now on carry the policy of their job.
			deploy := f.trigger(t, `{"clusterId": "production", "job": "team/deploy"}`)
			hello := f.trigger(t, `{"clusterId": "production", "job": "hello"}`)
			for b, p := range map[int64]dispatch.Policy{deploy.ID: dispatch.PolicyAlways, hello.ID: dispatch.PolicyQueuedOnly} {
				f.fleet.WaitBuild(t, b, apitest.Terminal)
				if got := f.get(t, b); len(got.Attempts) != 1 || got.Attempts[0].Redispatch != p {
					t.Errorf("build %d of %s: attempts %+v, want one placed under %s", b, got.Job, got.Attempts, p)
				}
			}

			// Clearing: the job follows its cluster's again, the cluster the default.
			if r = f.call(t, "DELETE", policyPath+"?job=team/deploy", ""); r.status != http.StatusNoContent || r.body != "" {
				t.Fatalf("DELETE the job's: %d %s", r.status, r.body)
			}
			want("the job, cleared", f.policy(t, "?job=team/deploy"), "team/deploy", dispatch.PolicyQueuedOnly, api.PolicySourceCluster)
			wantError(t, f.call(t, "DELETE", policyPath+"?job=team/deploy", ""), http.StatusNotFound, api.CodeNotFound, "",
				"no re-dispatch policy is set for job team/deploy of cluster production")
			if r = f.call(t, "DELETE", policyPath, ""); r.status != http.StatusNoContent {
				t.Fatalf("DELETE the cluster's: %d %s", r.status, r.body)
			}
			want("the cluster, cleared", f.policy(t, ""), "", dispatch.PolicyAlways, api.PolicySourceDefault)
			wantError(t, f.call(t, "DELETE", policyPath, ""), http.StatusNotFound, api.CodeNotFound, "", "cluster production")
		})
	}
}

func TestRedispatchPolicyBadRequests(t *testing.T) {
	t.Parallel()
	f := setupBuilds(t, sqlite(t), 1)
	for _, tt := range []struct {
		method, path, body string
		status             int
		code, field        string
		mentions           []string
	}{
		{"PUT", policyPath, `{"policy": "sometimes"}`, 400, api.CodeInvalidField, "policy", []string{`"sometimes"`, "always or queued-only"}},
		{"PUT", policyPath, `{}`, 400, api.CodeInvalidField, "policy", []string{"always or queued-only"}},
		{"PUT", policyPath, `{"policy": 1}`, 400, api.CodeInvalidField, "policy", []string{"a string"}},
		{"PUT", policyPath, `{"polcy": "always"}`, 400, api.CodeUnknownField, "polcy", []string{"the fields are policy"}},
		{"PUT", policyPath, ``, 400, api.CodeInvalidJSON, "", nil},
		{"PUT", policyPath + "?job=", `{"policy": "always"}`, 400, api.CodeInvalidParameter, "job", []string{"leave job out for the cluster's policy"}},
		{"DELETE", policyPath + "?job=/", ``, 400, api.CodeInvalidParameter, "job", nil},
		{"GET", policyPath + "?cluster=production", ``, 400, api.CodeInvalidParameter, "cluster", []string{"takes job"}},
		{"GET", "/api/v1/redispatch-policies?job=x", ``, 400, api.CodeInvalidParameter, "job", nil},
		{"POST", policyPath, `{"policy": "always"}`, 405, api.CodeMethodNotAllowed, "", []string{"GET, HEAD, PUT, DELETE"}},
	} {
		wantError(t, f.call(t, tt.method, tt.path, tt.body), tt.status, tt.code, tt.field, tt.mentions...)
	}
	if rules, _ := f.fleet.Service().Policies(f.ctx, ""); len(rules) != 0 {
		t.Errorf("bad requests stored rules: %+v", rules)
	}

	// Without a policy store, the routes say so.
	plain := setup(t, sqlite(t))
	wantError(t, plain.call(t, "PUT", policyPath, `{"policy": "always"}`), http.StatusNotImplemented, api.CodeNotEnabled, "", "re-dispatch policies")
	wantError(t, plain.call(t, "GET", "/api/v1/redispatch-policies", ""), http.StatusNotImplemented, api.CodeNotEnabled, "")
}
