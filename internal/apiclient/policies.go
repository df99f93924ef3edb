package apiclient

import (
	"context"
	"net/url"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// Re-dispatch policies: what jenkinds does with a build whose controller
// was lost after the build started (dispatch.PolicyAlways,
// dispatch.PolicyQueuedOnly). A job's policy overrides its cluster's.

// RedispatchPolicy returns the policy that applies to job of clusterID
// ("" for the default cluster), or to the cluster's builds for job "",
// and where it comes from: GET /api/v1/clusters/{clusterId}/redispatch-policy.
func (c *Client) RedispatchPolicy(ctx context.Context, clusterID, job string) (api.RedispatchPolicy, error) {
	var out api.RedispatchPolicy
	return out, c.do(ctx, "GET", clusterPath(clusterID)+"/redispatch-policy", jobQuery(job), nil, &out)
}

// SetRedispatchPolicy sets the policy of clusterID ("" for the default
// cluster), or of one of its jobs, and returns the policy that applies
// now: PUT /api/v1/clusters/{clusterId}/redispatch-policy. An unknown
// policy is an *Error with Field "policy".
func (c *Client) SetRedispatchPolicy(ctx context.Context, clusterID, job string, p dispatch.Policy) (api.RedispatchPolicy, error) {
	var out api.RedispatchPolicy
	return out, c.do(ctx, "PUT", clusterPath(clusterID)+"/redispatch-policy", jobQuery(job), api.PolicyRequest{Policy: string(p)}, &out)
}

// ClearRedispatchPolicy removes the policy of clusterID ("" for the
// default cluster), or of one of its jobs: DELETE
// /api/v1/clusters/{clusterId}/redispatch-policy. None set is an *Error
// with Status 404.
func (c *Client) ClearRedispatchPolicy(ctx context.Context, clusterID, job string) error {
	return c.do(ctx, "DELETE", clusterPath(clusterID)+"/redispatch-policy", jobQuery(job), nil, nil)
}

// RedispatchPolicies lists the stored policies of clusterID, or of every
// cluster for "": GET /api/v1/redispatch-policies.
func (c *Client) RedispatchPolicies(ctx context.Context, clusterID string) ([]dispatch.PolicyRule, error) {
	q := url.Values{}
	if clusterID != "" {
		q.Set("cluster", clusterID)
	}
	var out []dispatch.PolicyRule
	return out, c.do(ctx, "GET", "/api/v1/redispatch-policies", q, nil, &out)
}

// jobQuery is the ?job= of a policy route: none for "".
func jobQuery(job string) url.Values {
	q := url.Values{}
	if job != "" {
		q.Set("job", job)
	}
	return q
}
