package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/plugins"
)

// driftFunc is an api.DriftChecker answering with itself.
type driftFunc func(cluster string) (jobsync.Report, error)

func (f driftFunc) Drift(_ context.Context, cluster string) (jobsync.Report, error) {
	return f(cluster)
}

func TestClusterDrift(t *testing.T) {
	t.Parallel()
	report := jobsync.Report{
		Cluster: "prod", CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Controllers: []jobsync.ControllerReport{{ID: 1, Name: "ci-1", Jobs: 1}, {ID: 2, Name: "ci-2", Error: "connection refused"}},
		Summary:     jobsync.Summary{Jobs: 1, Missing: 1},
		Jobs: []jobsync.JobReport{{Name: "team/app", Status: jobsync.StatusMissing, MissingOn: []string{"ci-3"},
			Variants: []jobsync.Variant{{SHA256: "ab12", Controllers: []string{"ci-1"}}}, Pending: true}},
		Pending: []jobsync.Pending{{ID: 7, Cluster: "prod", ControllerID: 3, Controller: "ci-3", Job: "team/app", Op: jobsync.OpCreate,
			Attempts: 2, LastError: "connection refused"}},
	}
	var asked apitest.Record
	f := setup(t, sqlite(t), func(c *api.Config) {
		c.Drift = driftFunc(func(cluster string) (jobsync.Report, error) {
			asked.Add("%s", cluster)
			if cluster != "prod" {
				return jobsync.Report{}, fmt.Errorf("cluster %q has no registered controllers: %w", cluster, controller.ErrNotFound)
			}
			return report, nil
		})
	})

	r := f.call(t, "GET", "/api/v1/clusters/prod/drift", "")
	if r.status != http.StatusOK || strings.TrimSpace(r.body) != apitest.JSON(t, report) {
		t.Errorf("GET drift: got %d %s\nwant 200 %s", r.status, r.body, apitest.JSON(t, report))
	}
	r = f.call(t, "GET", "/api/v1/clusters/nope/drift", "")
	wantError(t, r, http.StatusNotFound, api.CodeNotFound, "", `cluster "nope"`)
	if got := asked.String(); got != "prod|nope" {
		t.Errorf("asked: got %q", got)
	}
	r = f.call(t, "GET", "/api/v1/clusters/prod/drift", "", withoutToken)
	if r.status != http.StatusUnauthorized {
		t.Errorf("without a token: got %d, want 401", r.status)
	}
	r = f.call(t, "POST", "/api/v1/clusters/prod/drift", "")
	wantError(t, r, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "")
}

func TestClusterDriftNotEnabled(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	r := f.call(t, "GET", "/api/v1/clusters/default/drift", "")
	wantError(t, r, http.StatusNotImplemented, api.CodeNotEnabled, "", "drift")
}

// pluginDriftFunc is an api.PluginDriftChecker answering with itself.
type pluginDriftFunc func(cluster string) (plugins.Report, error)

func (f pluginDriftFunc) Drift(_ context.Context, cluster string) (plugins.Report, error) {
	return f(cluster)
}

// The plugin check is answered beside the job check, under "plugins".
func TestClusterDriftWithPlugins(t *testing.T) {
	t.Parallel()
	jobs := jobsync.Report{Cluster: "prod", CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Controllers: []jobsync.ControllerReport{}, Jobs: []jobsync.JobReport{}, Pending: []jobsync.Pending{}}
	pl := plugins.Report{CheckedAt: jobs.CheckedAt,
		Controllers: []plugins.Controller{{ID: 1, Name: "ci-1", Version: "2.528.3", Plugins: 1}, {ID: 2, Name: "ci-2", Version: "2.516.1", Plugins: 1}},
		Jenkins: plugins.Versions{Status: plugins.StatusDiffers, Variants: []plugins.Variant{
			{Version: "2.528.3", Controllers: []string{"ci-1"}}, {Version: "2.516.1", Controllers: []string{"ci-2"}}}},
		Summary: plugins.Summary{Plugins: 1, Differs: 1},
		Plugins: []plugins.Plugin{{Name: "git", Status: plugins.StatusDiffers, MissingOn: []string{}, Variants: []plugins.Variant{
			{Version: "5.7.0", Controllers: []string{"ci-1"}}, {Version: "5.6.0", Controllers: []string{"ci-2"}}}}},
	}
	f := setup(t, sqlite(t), func(c *api.Config) {
		c.Drift = driftFunc(func(string) (jobsync.Report, error) { return jobs, nil })
		c.PluginDrift = pluginDriftFunc(func(cluster string) (plugins.Report, error) {
			if cluster != "prod" {
				return plugins.Report{}, fmt.Errorf("cluster %q has no registered controllers: %w", cluster, controller.ErrNotFound)
			}
			return pl, nil
		})
	})
	r := f.call(t, "GET", "/api/v1/clusters/prod/drift", "")
	var got struct {
		Cluster string          `json:"cluster"`
		Plugins *plugins.Report `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET drift: %d %s (%v)", r.status, r.body, err)
	}
	if got.Cluster != "prod" || got.Plugins == nil || apitest.JSON(t, *got.Plugins) != apitest.JSON(t, pl) {
		t.Errorf("GET drift: %s\nwant the job report with plugins %s", r.body, apitest.JSON(t, pl))
	}
	r = f.call(t, "GET", "/api/v1/clusters/nope/drift", "")
	wantError(t, r, http.StatusNotFound, api.CodeNotFound, "", `cluster "nope"`)
}
