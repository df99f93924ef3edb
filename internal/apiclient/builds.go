package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// The routes of builds on the Jenkins controllers of the fleet (package
// dispatch behind the API). Pipeline builds of build clusters are in
// buildclusters.go.

// Trigger asks for a build of a job on the controllers of a cluster.
type Trigger struct {
	// ClusterID is the controller cluster; "" is the default cluster.
	ClusterID string
	// Job is the job's full name, folder/job.
	Job string
	// Parameters are the build's parameters; a non-empty map needs a
	// parameterized job.
	Parameters map[string]string
	// Delay holds the build back, in whole seconds.
	Delay time.Duration
}

// TriggerBuild accepts a build on a Jenkins controller: POST /api/v1/builds
// with clusterId. The build is stored before the answer and placed on a
// controller in the background.
func (c *Client) TriggerBuild(ctx context.Context, t Trigger) (api.Build, error) {
	req := api.BuildRequest{ClusterID: t.ClusterID, Job: t.Job, DelaySeconds: int(t.Delay / time.Second)}
	if req.ClusterID == "" {
		req.ClusterID = controller.DefaultCluster
	}
	if len(t.Parameters) > 0 {
		b, err := json.Marshal(t.Parameters)
		if err != nil {
			return api.Build{}, err
		}
		req.Parameters = b
	}
	var out api.Build
	return out, c.do(ctx, "POST", "/api/v1/builds", nil, req, &out)
}

// BuildFilter narrows ListBuilds; the zero value is the first 100 builds.
type BuildFilter struct {
	ClusterID, Job string
	// State is accepted, placed, running, finished, failed or cancelled.
	State string
	// After is the Next of the previous page.
	After string
	// Limit is 1 to 1000; 0 is the server's default, 100.
	Limit int
}

// ListBuilds returns a page of builds by ascending id, without attempts:
// GET /api/v1/builds. Pass its Next as After for the next page; "" means
// it was the last.
func (c *Client) ListBuilds(ctx context.Context, f BuildFilter) (api.BuildList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"cluster": f.ClusterID, "job": f.Job, "state": f.State, "after": f.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out api.BuildList
	return out, c.do(ctx, "GET", "/api/v1/builds", q, nil, &out)
}

// GetBuild returns a build with its attempts: GET /api/v1/builds/{id}.
func (c *Client) GetBuild(ctx context.Context, id int64) (api.Build, error) {
	var out api.Build
	return out, c.do(ctx, "GET", buildPath(id), nil, nil, &out)
}

// CancelBuild cancels a waiting build or stops a running one:
// POST /api/v1/builds/{id}/cancel. A build that ended is an *Error with
// code api.CodeBuildEnded.
func (c *Client) CancelBuild(ctx context.Context, id int64) (api.Build, error) {
	var out api.Build
	return out, c.do(ctx, "POST", buildPath(id)+"/cancel", nil, nil, &out)
}

// BuildLog returns the console of a build from byte start, the offset to
// ask from next, and whether more is coming (the build has not ended):
// GET /api/v1/builds/{id}/log. next below start means the build was placed
// again and its console starts over.
func (c *Client) BuildLog(ctx context.Context, id, start int64) (text []byte, next int64, more bool, err error) {
	q := url.Values{}
	if start > 0 {
		q.Set("start", strconv.FormatInt(start, 10))
	}
	path := buildPath(id) + "/log"
	hdr, text, err := c.send(ctx, "GET", path, q, nil)
	if err != nil {
		return nil, 0, false, err
	}
	next, err = strconv.ParseInt(hdr.Get("X-Text-Size"), 10, 64)
	if err != nil {
		return nil, 0, false, fmt.Errorf("GET %s: X-Text-Size %q: not an offset", path, hdr.Get("X-Text-Size"))
	}
	return text, next, hdr.Get("X-More-Data") == "true", nil
}

func buildPath(id int64) string { return fmt.Sprintf("/api/v1/builds/%d", id) }
