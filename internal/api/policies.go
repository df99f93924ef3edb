package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// Where the policy that applies to a job comes from (RedispatchPolicy.Source).
const (
	PolicySourceJob     = "job"     // the job's own rule
	PolicySourceCluster = "cluster" // its cluster's rule
	PolicySourceDefault = "default" // no rule: always
)

// RedispatchPolicy is the answer of GET and PUT
// /api/v1/clusters/{clusterId}/redispatch-policy[?job=]: the re-dispatch
// policy that applies to the cluster's builds (of job, when given) from now
// on, and where it comes from.
type RedispatchPolicy struct {
	Cluster string `json:"cluster"`
	// Job is the job's full name, folder/job; "" for the cluster's policy.
	Job    string          `json:"job"`
	Policy dispatch.Policy `json:"policy"`
	// Source is job (the job's rule), cluster (the cluster's rule) or
	// default (no rule: always).
	Source string `json:"source"`
}

// PolicyRequest is the body of PUT …/redispatch-policy.
type PolicyRequest struct {
	// Policy is always or queued-only.
	Policy string `json:"policy"`
}

// policyRoutes are the routes of re-dispatch policies.
func (h *handler) policyRoutes() []route {
	return []route{
		{"GET", "/api/v1/clusters/{clusterId}/redispatch-policy", h.handle(h.getPolicy)},
		{"PUT", "/api/v1/clusters/{clusterId}/redispatch-policy", h.handle(h.setPolicy)},
		{"DELETE", "/api/v1/clusters/{clusterId}/redispatch-policy", h.handle(h.clearPolicy)},
		{"GET", "/api/v1/redispatch-policies", h.handle(h.listPolicies)},
	}
}

// redispatchPolicies returns the policy store, or not_enabled.
func (h *handler) redispatchPolicies() (RedispatchPolicies, error) {
	if h.policies == nil {
		return nil, notEnabled("re-dispatch policies")
	}
	return h.policies, nil
}

// policyTarget reads the cluster and job a …/redispatch-policy request is
// about: the {clusterId} path parameter and ?job=, the job's full name
// (folder/job) or absent for the cluster's own policy.
func (h *handler) policyTarget(r *http.Request) (RedispatchPolicies, string, string, error) {
	q, err := query(r, "job")
	if err != nil {
		return nil, "", "", err
	}
	policies, err := h.redispatchPolicies()
	if err != nil {
		return nil, "", "", err
	}
	job := strings.Trim(q.Get("job"), "/")
	if q.Has("job") && strings.TrimSpace(job) == "" {
		// An empty ?job= from a script with an empty variable must not
		// change the policy of the whole cluster.
		return nil, "", "", &problem{http.StatusBadRequest, CodeInvalidParameter,
			fmt.Sprintf("job must be a job's full name (folder/job), not %q; leave job out for the cluster's policy", q.Get("job")), "job"}
	}
	return policies, r.PathValue("clusterId"), job, nil
}

// GET /api/v1/clusters/{clusterId}/redispatch-policy[?job=]
func (h *handler) getPolicy(w http.ResponseWriter, r *http.Request) error {
	policies, cluster, job, err := h.policyTarget(r)
	if err != nil {
		return err
	}
	p, err := effectivePolicy(r.Context(), policies, cluster, job)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, p)
}

// PUT /api/v1/clusters/{clusterId}/redispatch-policy[?job=]
func (h *handler) setPolicy(w http.ResponseWriter, r *http.Request) error {
	policies, cluster, job, err := h.policyTarget(r)
	if err != nil {
		return err
	}
	var req PolicyRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := policies.SetPolicy(r.Context(), dispatch.PolicyRule{Cluster: cluster, Job: job, Policy: dispatch.Policy(req.Policy)}); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "re-dispatch policy set", "cluster", cluster, "job_name", job, "policy", req.Policy)
	p, err := effectivePolicy(r.Context(), policies, cluster, job)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, p)
}

// DELETE /api/v1/clusters/{clusterId}/redispatch-policy[?job=]
func (h *handler) clearPolicy(w http.ResponseWriter, r *http.Request) error {
	policies, cluster, job, err := h.policyTarget(r)
	if err != nil {
		return err
	}
	err = policies.ClearPolicy(r.Context(), cluster, job)
	if errors.Is(err, dispatch.ErrNotFound) {
		where := "cluster " + cluster
		if job != "" {
			where = fmt.Sprintf("job %s of cluster %s", job, cluster)
		}
		return &problem{http.StatusNotFound, CodeNotFound,
			fmt.Sprintf("no re-dispatch policy is set for %s: nothing to clear (GET %sredispatch-policies lists them)", where, Prefix), ""}
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "re-dispatch policy cleared", "cluster", cluster, "job_name", job)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /api/v1/redispatch-policies[?cluster=]
func (h *handler) listPolicies(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "cluster")
	if err != nil {
		return err
	}
	policies, err := h.redispatchPolicies()
	if err != nil {
		return err
	}
	rules, err := policies.Policies(r.Context(), q.Get("cluster"))
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, nonNil(rules))
}

// effectivePolicy is the policy that applies to job of cluster (the
// cluster's own for job ""), and its source, from one read of the
// cluster's rules: the job's rule, else the cluster's, else always — the
// order dispatch.Service.PolicyOf applies, which the tests hold it to.
func effectivePolicy(ctx context.Context, policies RedispatchPolicies, cluster, job string) (RedispatchPolicy, error) {
	rules, err := policies.Policies(ctx, cluster)
	if err != nil {
		return RedispatchPolicy{}, err
	}
	out := RedispatchPolicy{Cluster: cluster, Job: job, Policy: dispatch.PolicyAlways, Source: PolicySourceDefault}
	for _, rule := range rules {
		switch {
		case rule.Cluster != cluster:
		case job != "" && rule.Job == job:
			out.Policy, out.Source = rule.Policy, PolicySourceJob
			return out, nil
		case rule.Job == "":
			out.Policy, out.Source = rule.Policy, PolicySourceCluster
		}
	}
	return out, nil
}
