package api

import (
	"net/http"
)

// Status is the answer of /healthz and of /readyz when ready.
type Status struct {
	Status string `json:"status"` // "ok" or "ready"
}

// POST /api/v1/health-checks[?clusterId=]
func (h *handler) runHealthChecks(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "clusterId")
	if err != nil {
		return err
	}
	results, err := h.checker.CheckNow(r.Context(), q.Get("clusterId"))
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, nonNil(results))
}

// GET /healthz: the process serves HTTP. It asks nothing else, so an
// orchestrator restarts the process only when it is truly stuck.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) error {
	return h.reply(w, http.StatusOK, Status{"ok"})
}

// GET /readyz: the process can serve requests (Config.Ready), so a load
// balancer sends it some.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := h.ready(r.Context()); err != nil {
		return &problem{http.StatusServiceUnavailable, CodeNotReady, "not ready: " + err.Error(), ""}
	}
	return h.reply(w, http.StatusOK, Status{"ready"})
}
