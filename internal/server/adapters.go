package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// checker runs health checks for the API.
type checker struct{ m *health.Monitor }

var _ api.Checker = checker{}

func (c checker) CheckNow(ctx context.Context, clusterID string) ([]api.CheckResult, error) {
	res := c.m.CheckNow(ctx, clusterID)
	out := make([]api.CheckResult, len(res))
	for i, r := range res {
		out[i] = api.CheckResult{
			InstanceID: r.InstanceID, Name: r.Name, ClusterID: r.ClusterID,
			Status: r.Status.String(), PreviousStatus: r.Previous.String(),
			LatencyMs: r.Latency.Milliseconds(), Version: r.Version, Error: r.Err, CheckedAt: r.CheckedAt,
		}
	}
	return out, nil
}

// picker answers the balancing questions of the API from the pool.
type picker struct{ pool *controller.Pool }

var _ api.Picker = picker{}

func (p picker) Optimal(_ context.Context, clusterID, strategy string) (controller.Instance, error) {
	r, err := p.pool.Pick(clusterID, strategy)
	if err != nil {
		return controller.Instance{}, err
	}
	return live(r), nil
}

func (p picker) Failover(_ context.Context, clusterID string, currentID int64) (controller.Instance, error) {
	r, err := p.pool.Failover(clusterID, currentID)
	if err != nil {
		return controller.Instance{}, err
	}
	return live(r), nil
}

func (p picker) Primary(_ context.Context, clusterID string) (controller.Instance, error) {
	rs := p.pool.Cluster(clusterID)
	if len(rs) == 0 {
		return controller.Instance{}, fmt.Errorf("cluster %q: %w", clusterID, controller.ErrNotFound)
	}
	for _, r := range rs {
		if r.Instance().IsPrimary {
			return live(r), nil
		}
	}
	return controller.Instance{}, fmt.Errorf("cluster %q has no primary (mark one with isPrimary): %w", clusterID, controller.ErrNotFound)
}

// live is the instance with the runtime's current health and load.
func live(r *controller.Runtime) controller.Instance {
	inst := r.Instance()
	inst.HealthStatus = r.Health()
	inst.CurrentLoad = r.Candidate().Load
	if t := r.LastChecked(); !t.IsZero() {
		inst.LastHealthCheck = &t
	}
	return inst
}

// prober asks controllers directly for the API.
type prober struct {
	pool    *controller.Pool
	timeout time.Duration
	client  *http.Client
}

var _ api.Prober = (*prober)(nil)

func (p *prober) httpClient() *http.Client {
	if p.client == nil {
		return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return p.client
}

func (p *prober) TestConnection(ctx context.Context, url, username, apiToken string) api.TestResult {
	c, err := jenkins.New(url, username, apiToken, p.httpClient())
	if err != nil {
		return api.TestResult{Success: false, Message: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	st, err := c.Probe(ctx, "")
	if err != nil {
		return api.TestResult{Success: false, Version: st.Version, Message: jenkins.Explain(err, p.timeout)}
	}
	return api.TestResult{Success: true, Version: st.Version,
		Message: fmt.Sprintf("connected to Jenkins %s as %s: %d of %d executors busy, %d queued, %d agents online", st.Version, username, st.BusyExecutors, st.TotalExecutors, st.QueuedItems, st.OnlineAgents)}
}

func (p *prober) Stats(ctx context.Context, inst controller.Instance) (api.LiveStats, error) {
	tok := ""
	if r := p.pool.Get(inst.ID); r != nil {
		tok = r.Token()
	}
	c, err := jenkins.New(inst.URL, inst.Username, tok, p.httpClient())
	if err != nil {
		return api.LiveStats{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	st, err := c.Probe(ctx, "")
	if err != nil {
		return api.LiveStats{}, fmt.Errorf("read %s: %s", inst.Name, jenkins.Explain(err, p.timeout))
	}
	total, active, err := c.JobStats(ctx)
	if err != nil {
		return api.LiveStats{}, fmt.Errorf("read jobs of %s: %s", inst.Name, jenkins.Explain(err, p.timeout))
	}
	return api.LiveStats{
		TotalJobs: total, ActiveJobs: active, TotalExecutors: st.TotalExecutors, BusyExecutors: st.BusyExecutors,
		IdleExecutors: st.IdleExecutors(), RunningBuilds: st.RunningBuilds, QueuedItems: st.QueuedItems, OnlineAgents: st.OnlineAgents,
	}, nil
}
