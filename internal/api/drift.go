package api

import (
	"context"
	"net/http"

	"github.com/jenkinds/jenkinds/internal/jobsync"
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

// GET /api/v1/clusters/{clusterId}/drift
func (h *handler) clusterDrift(w http.ResponseWriter, r *http.Request) error {
	if h.drift == nil {
		return notEnabled("job drift checks")
	}
	rep, err := h.drift.Drift(r.Context(), r.PathValue("clusterId"))
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, rep)
}
