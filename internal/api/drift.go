package api

import (
	"context"
	"net/http"
	"sync"

	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/plugins"
)

// DriftChecker compares the job definitions the controllers of a cluster
// hold (GET /api/v1/clusters/{clusterId}/drift). *jobsync.Service is one.
type DriftChecker interface {
	// Drift checks cluster now: every job's config.xml on every active
	// controller, and the job writes still pending. An error wrapping
	// controller.ErrNotFound means the cluster has no registered
	// controller (404).
	Drift(ctx context.Context, cluster string) (jobsync.Report, error)
}

var _ DriftChecker = (*jobsync.Service)(nil)

// PluginDriftChecker compares the Jenkins versions and plugins of a
// cluster's controllers. *plugins.Checker is one.
type PluginDriftChecker interface {
	// Drift checks cluster now. An error wrapping controller.ErrNotFound
	// means the cluster has no registered controller (404).
	Drift(ctx context.Context, cluster string) (plugins.Report, error)
}

var _ PluginDriftChecker = (*plugins.Checker)(nil)

// driftReply is the job drift report, with the plugin drift report beside
// it when plugin checks are enabled.
type driftReply struct {
	jobsync.Report
	Plugins *plugins.Report `json:"plugins,omitempty"`
}

// GET /api/v1/clusters/{clusterId}/drift: the job check and the plugin
// check run at once.
func (h *handler) clusterDrift(w http.ResponseWriter, r *http.Request) error {
	if h.drift == nil {
		return notEnabled("job drift checks")
	}
	cluster := r.PathValue("clusterId")
	var out driftReply
	var perr error
	var wg sync.WaitGroup
	if h.plugins != nil {
		wg.Go(func() {
			var rep plugins.Report
			if rep, perr = h.plugins.Drift(r.Context(), cluster); perr == nil {
				out.Plugins = &rep
			}
		})
	}
	rep, err := h.drift.Drift(r.Context(), cluster)
	wg.Wait()
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	out.Report = rep
	return h.reply(w, http.StatusOK, out)
}
