package apiclient

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jobsync"
)

// One method per route of the API, in the order of its documentation.

// CreateInstance registers a controller: POST /api/v1/instances.
func (c *Client) CreateInstance(ctx context.Context, in controller.CreateInput) (controller.Instance, error) {
	var out controller.Instance
	return out, c.do(ctx, "POST", "/api/v1/instances", nil, in, &out)
}

// ListInstances lists the instances of clusterID, or all for "":
// GET /api/v1/instances.
func (c *Client) ListInstances(ctx context.Context, clusterID string) ([]controller.Instance, error) {
	var out []controller.Instance
	return out, c.do(ctx, "GET", "/api/v1/instances", cluster(clusterID), nil, &out)
}

// GetInstance returns one instance: GET /api/v1/instances/{id}.
func (c *Client) GetInstance(ctx context.Context, id int64) (controller.Instance, error) {
	var out controller.Instance
	return out, c.do(ctx, "GET", instancePath(id), nil, nil, &out)
}

// SetDraining drains (true) or undrains an instance:
// POST /api/v1/instances/{id}/drain or /undrain.
func (c *Client) SetDraining(ctx context.Context, id int64, draining bool) (controller.Instance, error) {
	var out controller.Instance
	action := "/undrain"
	if draining {
		action = "/drain"
	}
	return out, c.do(ctx, "POST", instancePath(id)+action, nil, nil, &out)
}

// UpdateInstance changes the fields p sets: PATCH /api/v1/instances/{id}.
func (c *Client) UpdateInstance(ctx context.Context, id int64, p controller.Patch) (controller.Instance, error) {
	var out controller.Instance
	return out, c.do(ctx, "PATCH", instancePath(id), nil, p, &out)
}

// DeleteInstance removes an instance: DELETE /api/v1/instances/{id}.
func (c *Client) DeleteInstance(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", instancePath(id), nil, nil, nil)
}

// InstanceStats returns the stored and live figures of an instance:
// GET /api/v1/instances/{id}/stats. LiveStats is nil, and Error set, when
// the controller could not be asked.
func (c *Client) InstanceStats(ctx context.Context, id int64) (api.InstanceStats, error) {
	var out api.InstanceStats
	return out, c.do(ctx, "GET", instancePath(id)+"/stats", nil, nil, &out)
}

// TestConnection tries a URL and credentials without registering anything:
// POST /api/v1/instances/test-connection.
func (c *Client) TestConnection(ctx context.Context, req api.TestConnectionRequest) (api.TestResult, error) {
	var out api.TestResult
	return out, c.do(ctx, "POST", "/api/v1/instances/test-connection", nil, req, &out)
}

// OptimalInstance returns the instance of clusterID ("" for the default
// cluster) that strategy ("" for least-load) chooses:
// GET /api/v1/optimal-instance.
func (c *Client) OptimalInstance(ctx context.Context, clusterID, strategy string) (controller.Instance, error) {
	q := cluster(clusterID)
	if strategy != "" {
		q.Set("strategy", strategy)
	}
	var out controller.Instance
	return out, c.do(ctx, "GET", "/api/v1/optimal-instance", q, nil, &out)
}

// Clusters returns every cluster with its instances and totals:
// GET /api/v1/clusters.
func (c *Client) Clusters(ctx context.Context) ([]api.Cluster, error) {
	var out []api.Cluster
	return out, c.do(ctx, "GET", "/api/v1/clusters", nil, nil, &out)
}

// Primary returns the primary instance of clusterID ("" for the default
// cluster): GET /api/v1/clusters/{clusterId}/primary.
func (c *Client) Primary(ctx context.Context, clusterID string) (controller.Instance, error) {
	var out controller.Instance
	return out, c.do(ctx, "GET", clusterPath(clusterID)+"/primary", nil, nil, &out)
}

// Failover returns the instance of clusterID ("" for the default cluster)
// to use instead of currentID: POST /api/v1/clusters/{clusterId}/failover.
func (c *Client) Failover(ctx context.Context, clusterID string, currentID int64) (controller.Instance, error) {
	var out controller.Instance
	return out, c.do(ctx, "POST", clusterPath(clusterID)+"/failover", nil, api.FailoverRequest{CurrentInstanceID: currentID}, &out)
}

// Drift compares the job definitions of clusterID's controllers ("" for
// the default cluster) now: GET /api/v1/clusters/{clusterId}/drift.
func (c *Client) Drift(ctx context.Context, clusterID string) (jobsync.Report, error) {
	var out jobsync.Report
	return out, c.do(ctx, "GET", clusterPath(clusterID)+"/drift", nil, nil, &out)
}

// RunHealthChecks checks the instances of clusterID, or all for "", now:
// POST /api/v1/health-checks.
func (c *Client) RunHealthChecks(ctx context.Context, clusterID string) ([]api.CheckResult, error) {
	var out []api.CheckResult
	return out, c.do(ctx, "POST", "/api/v1/health-checks", cluster(clusterID), nil, &out)
}

// OpenAPI returns the server's OpenAPI document: GET /api/v1/openapi.json.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, "GET", "/api/v1/openapi.json", nil, nil, &out)
}

// Healthz reports whether the server is alive: GET /healthz.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, "GET", "/healthz", nil, nil, nil)
}

// Readyz reports whether the server is ready, or an *Error saying why not:
// GET /readyz.
func (c *Client) Readyz(ctx context.Context) error {
	return c.do(ctx, "GET", "/readyz", nil, nil, nil)
}

// Metrics returns the server's metrics in the Prometheus text format:
// GET /metrics.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, "GET", "/metrics", nil, nil, &out)
}

func instancePath(id int64) string { return fmt.Sprintf("/api/v1/instances/%d", id) }

func clusterPath(clusterID string) string {
	if clusterID == "" {
		clusterID = controller.DefaultCluster
	}
	return "/api/v1/clusters/" + url.PathEscape(clusterID)
}

// cluster is the clusterId query of a filter: none for "".
func cluster(clusterID string) url.Values {
	q := url.Values{}
	if clusterID != "" {
		q.Set("clusterId", clusterID)
	}
	return q
}
