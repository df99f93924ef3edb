package api

import (
	"context"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
)

// Registry is the part of the controller registry the API uses.
// *controller.Store is one.
type Registry interface {
	Create(ctx context.Context, in controller.CreateInput) (controller.Instance, error)
	Get(ctx context.Context, id int64) (controller.Instance, error)
	List(ctx context.Context, f controller.ListFilter) ([]controller.Instance, error)
	Update(ctx context.Context, id int64, p controller.Patch) (controller.Instance, error)
	Delete(ctx context.Context, id int64) error
	// SetDraining starts (true) or ends draining of an instance: no new
	// sessions or builds go to it, what it runs finishes.
	SetDraining(ctx context.Context, id int64, draining bool) error
}

var _ Registry = (*controller.Store)(nil)

// Checker runs health checks on demand, for POST /api/v1/health-checks.
type Checker interface {
	// CheckNow checks every instance of clusterID ("" for all clusters)
	// now, records the outcomes, and returns one result per instance
	// checked (an empty slice when there is none). An instance that cannot
	// be reached is a result with Status "unhealthy" and Error set, not an
	// error: the error is for when checking itself was impossible.
	CheckNow(ctx context.Context, clusterID string) ([]CheckResult, error)
}

// CheckResult is the outcome of checking one instance.
type CheckResult struct {
	InstanceID     int64  `json:"instanceId"`
	Name           string `json:"name"`
	ClusterID      string `json:"clusterId"`
	Status         string `json:"status"`         // healthy, degraded or unhealthy
	PreviousStatus string `json:"previousStatus"` // what was recorded before this check
	LatencyMs      int64  `json:"latencyMs"`
	Version        string `json:"version"` // Jenkins version, when it answered
	// Error says why the check failed or degraded; "" when it passed. It
	// must not hold credentials.
	Error     string    `json:"error"`
	CheckedAt time.Time `json:"checkedAt"`
}

// Picker answers which instance should get work. The API checks its
// arguments first: clusterID is never "", strategy is one of
// balance.Strategies(), currentID is positive.
//
// Errors: one wrapping balance.ErrNoneEligible, whose message says why
// ("3 controllers: 2 unhealthy, 1 inactive"), becomes 503
// no_eligible_instance with Retry-After; one wrapping controller.ErrNotFound
// (an unknown cluster or instance, a cluster without a primary) becomes
// 404 with the error's message; one wrapping balance.ErrUnknownStrategy
// becomes 400. Anything else is a 500.
type Picker interface {
	// Optimal picks an instance of clusterID with strategy.
	Optimal(ctx context.Context, clusterID, strategy string) (controller.Instance, error)
	// Failover picks the instance of clusterID to use instead of the one
	// with currentID.
	Failover(ctx context.Context, clusterID string, currentID int64) (controller.Instance, error)
	// Primary returns the primary instance of clusterID.
	Primary(ctx context.Context, clusterID string) (controller.Instance, error)
}

// Prober asks Jenkins controllers directly.
type Prober interface {
	// TestConnection tries url with the credentials, without registering
	// anything. It reports failure in the result, never as an error;
	// Message must not hold apiToken.
	TestConnection(ctx context.Context, url, username, apiToken string) TestResult
	// Stats asks inst's controller for its live figures. The implementation
	// fetches the API token itself (controller.Store.Token).
	Stats(ctx context.Context, inst controller.Instance) (LiveStats, error)
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	Success bool   `json:"success"`
	Version string `json:"version"` // Jenkins version, when it answered
	Message string `json:"message"` // what worked, or what failed and how to fix it
}

// LiveStats are the figures a controller reports about itself.
type LiveStats struct {
	TotalJobs      int `json:"totalJobs"`
	ActiveJobs     int `json:"activeJobs"`
	TotalExecutors int `json:"totalExecutors"`
	BusyExecutors  int `json:"busyExecutors"`
	IdleExecutors  int `json:"idleExecutors"`
	RunningBuilds  int `json:"runningBuilds"`
	QueuedItems    int `json:"queuedItems"`
	OnlineAgents   int `json:"onlineAgents"`
}

// HealthEvents is the health authority's event log, for
// GET /api/v1/events and …/instances/{id}/events. *health.Monitor is one.
type HealthEvents interface {
	// Events returns the events f selects, newest first; f.Limit is
	// checked by the API first (1 to 1000).
	Events(ctx context.Context, f health.EventFilter) ([]health.Event, error)
	// Frozen returns the freezes of re-dispatch in effect now, by cluster
	// ("" for jenkinds' own starvation), each with its reason.
	Frozen() map[string]string
}

var _ HealthEvents = (*health.Monitor)(nil)

// RedispatchPolicies keeps the re-dispatch policies of clusters and jobs,
// for …/redispatch-policy and /api/v1/redispatch-policies.
// *dispatch.Service is one; its errors are mapped by classifyDispatch.
type RedispatchPolicies interface {
	// SetPolicy stores r (a *dispatch.ValidationError names a bad field).
	SetPolicy(ctx context.Context, r dispatch.PolicyRule) error
	// ClearPolicy removes the policy of cluster (job "") or of one of its
	// jobs; dispatch.ErrNotFound when none was set.
	ClearPolicy(ctx context.Context, cluster, job string) error
	// Policies lists the stored rules of cluster ("" = all), by cluster
	// and job.
	Policies(ctx context.Context, cluster string) ([]dispatch.PolicyRule, error)
}

var _ RedispatchPolicies = (*dispatch.Service)(nil)
