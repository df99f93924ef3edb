package apiclient

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// The routes of build clusters and pipeline builds. A record is named by
// its name and scmContext; scmContext "" is enough while the name is
// registered for one scmContext only.

// CreateBuildCluster registers a build cluster: POST /api/v1/buildClusters.
func (c *Client) CreateBuildCluster(ctx context.Context, in buildcluster.CreateInput) (buildcluster.Cluster, error) {
	var out buildcluster.Cluster
	return out, c.do(ctx, "POST", "/api/v1/buildClusters", nil, in, &out)
}

// ListBuildClusters lists the records f selects: GET /api/v1/buildClusters.
func (c *Client) ListBuildClusters(ctx context.Context, f buildcluster.ListFilter) ([]buildcluster.Cluster, error) {
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.SCMContext != "" {
		q.Set("scmContext", f.SCMContext)
	}
	if f.ActiveOnly {
		q.Set("active", "true")
	}
	var out []buildcluster.Cluster
	return out, c.do(ctx, "GET", "/api/v1/buildClusters", q, nil, &out)
}

// GetBuildCluster returns one record: GET /api/v1/buildClusters/{name}.
func (c *Client) GetBuildCluster(ctx context.Context, name, scmContext string) (buildcluster.Cluster, error) {
	var out buildcluster.Cluster
	return out, c.do(ctx, "GET", buildClusterPath(name), scmQuery(scmContext), nil, &out)
}

// UpdateBuildCluster changes the fields p sets: PUT /api/v1/buildClusters/{name}.
func (c *Client) UpdateBuildCluster(ctx context.Context, name, scmContext string, p buildcluster.Patch) (buildcluster.Cluster, error) {
	var out buildcluster.Cluster
	return out, c.do(ctx, "PUT", buildClusterPath(name), scmQuery(scmContext), p, &out)
}

// DeleteBuildCluster removes a record: DELETE /api/v1/buildClusters/{name}.
func (c *Client) DeleteBuildCluster(ctx context.Context, name, scmContext string) error {
	return c.do(ctx, "DELETE", buildClusterPath(name), scmQuery(scmContext), nil, nil)
}

// AddBuildClusterKey registers one more worker key:
// POST /api/v1/buildClusters/{name}/keys.
func (c *Client) AddBuildClusterKey(ctx context.Context, name, scmContext string, k buildcluster.PublicKey) (buildcluster.Cluster, error) {
	var out buildcluster.Cluster
	return out, c.do(ctx, "POST", buildClusterPath(name)+"/keys", scmQuery(scmContext), k, &out)
}

// RemoveBuildClusterKey retires a worker key:
// DELETE /api/v1/buildClusters/{name}/keys/{kid}.
func (c *Client) RemoveBuildClusterKey(ctx context.Context, name, scmContext, kid string) (buildcluster.Cluster, error) {
	var out buildcluster.Cluster
	return out, c.do(ctx, "DELETE", buildClusterPath(name)+"/keys/"+url.PathEscape(kid), scmQuery(scmContext), nil, &out)
}

// SubmitPipelineBuild routes and queues a pipeline build: POST /api/v1/builds.
func (c *Client) SubmitPipelineBuild(ctx context.Context, req api.BuildRequest) (api.PipelineBuild, error) {
	var out api.PipelineBuild
	return out, c.do(ctx, "POST", "/api/v1/builds", nil, req, &out)
}

// QueueJob returns a pipeline build's queue job: GET /api/v1/queue/jobs/{id}.
func (c *Client) QueueJob(ctx context.Context, id int64) (queue.Job, error) {
	var out queue.Job
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/queue/jobs/%d", id), nil, nil, &out)
}

// QueueJobLog returns what the workers uploaded of a job's log, of attempt
// (0: the latest): GET /api/v1/queue/jobs/{id}/log.
func (c *Client) QueueJobLog(ctx context.Context, id int64, attempt int) ([]byte, error) {
	q := url.Values{}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	var out []byte
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/queue/jobs/%d/log", id), q, nil, &out)
}

func buildClusterPath(name string) string { return "/api/v1/buildClusters/" + url.PathEscape(name) }

// scmQuery is the scmContext query of a record's address: none for "".
func scmQuery(scmContext string) url.Values {
	q := url.Values{}
	if scmContext != "" {
		q.Set("scmContext", scmContext)
	}
	return q
}
