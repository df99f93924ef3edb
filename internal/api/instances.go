package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// POST /api/v1/instances
func (h *handler) createInstance(w http.ResponseWriter, r *http.Request) error {
	var in controller.CreateInput
	if err := h.decode(w, r, &in); err != nil {
		return err
	}
	inst, err := h.registry.Create(r.Context(), in)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "instance registered", "controller", inst)
	w.Header().Set("Location", fmt.Sprintf("%sinstances/%d", Prefix, inst.ID))
	return h.reply(w, http.StatusCreated, inst)
}

// GET /api/v1/instances[?clusterId=]
func (h *handler) listInstances(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "clusterId")
	if err != nil {
		return err
	}
	list, err := h.registry.List(r.Context(), controller.ListFilter{ClusterID: q.Get("clusterId")})
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, nonNil(list))
}

// instance returns the instance the {id} path parameter names.
func (h *handler) instance(r *http.Request) (controller.Instance, error) {
	id, err := pathID(r)
	if err != nil {
		return controller.Instance{}, err
	}
	return h.registry.Get(r.Context(), id)
}

// GET /api/v1/instances/{id}
func (h *handler) getInstance(w http.ResponseWriter, r *http.Request) error {
	inst, err := h.instance(r)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, inst)
}

// POST /api/v1/instances/{id}/drain and /undrain
func (h *handler) drain(on bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := h.registry.SetDraining(r.Context(), id, on); err != nil {
			return err
		}
		inst, err := h.registry.Get(r.Context(), id)
		if err != nil {
			return err
		}
		h.log.Info("instance draining changed", "instance", inst.Name, "cluster", inst.ClusterID, "draining", on)
		return h.reply(w, http.StatusOK, inst)
	}
}

// PATCH /api/v1/instances/{id}
func (h *handler) updateInstance(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var p controller.Patch
	if err := h.decode(w, r, &p); err != nil {
		return err
	}
	inst, err := h.registry.Update(r.Context(), id, p)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "instance updated", "controller", inst, "changes", p)
	return h.reply(w, http.StatusOK, inst)
}

// DELETE /api/v1/instances/{id}
func (h *handler) deleteInstance(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.registry.Delete(r.Context(), id); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "instance removed", "controller", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// InstanceStats is the answer of GET /api/v1/instances/{id}/stats: the
// stored figures, and the controller's live ones when it answered.
type InstanceStats struct {
	InstanceID     int64  `json:"instanceId"`
	Name           string `json:"name"`
	CurrentLoad    int    `json:"currentLoad"`
	MaxConnections int    `json:"maxConnections"`
	// UtilizationPercent is CurrentLoad/MaxConnections×100, to one decimal.
	UtilizationPercent float64        `json:"utilizationPercent"`
	HealthStatus       balance.Health `json:"healthStatus"`
	LastHealthCheck    *time.Time     `json:"lastHealthCheck"`
	// LiveStats is nil, and its fields absent from the JSON, when the
	// controller could not be asked; Error then says why.
	*LiveStats
	// ExecutorUtilization is BusyExecutors/TotalExecutors×100, to one
	// decimal (0 without executors); nil with LiveStats.
	ExecutorUtilization *float64 `json:"executorUtilization,omitempty"`
	Error               string   `json:"error,omitempty"`
}

// GET /api/v1/instances/{id}/stats
func (h *handler) instanceStats(w http.ResponseWriter, r *http.Request) error {
	inst, err := h.instance(r)
	if err != nil {
		return err
	}
	st := InstanceStats{
		InstanceID:         inst.ID,
		Name:               inst.Name,
		CurrentLoad:        inst.CurrentLoad,
		MaxConnections:     inst.MaxConnections,
		UtilizationPercent: percent(inst.CurrentLoad, inst.MaxConnections),
		HealthStatus:       inst.HealthStatus,
		LastHealthCheck:    inst.LastHealthCheck,
	}
	live, err := h.prober.Stats(r.Context(), inst)
	switch {
	case r.Context().Err() != nil:
		return r.Context().Err()
	case err != nil:
		// The controller being down is what stats are often asked for:
		// answer with what is stored rather than fail.
		st.Error = "the controller did not answer, so only the stored figures are shown: " + err.Error()
		h.log.DebugContext(r.Context(), "live stats unavailable", "controller", inst, "err", err)
	default:
		u := percent(live.BusyExecutors, live.TotalExecutors)
		st.LiveStats, st.ExecutorUtilization = &live, &u
	}
	return h.reply(w, http.StatusOK, st)
}

// percent is part/whole×100 to one decimal; 0 when whole is not positive.
func percent(part, whole int) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Round(float64(part)*1000/float64(whole)) / 10
}

// TestConnectionRequest is the body of POST /api/v1/instances/test-connection.
type TestConnectionRequest struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	APIToken string `json:"apiToken"`
}

// POST /api/v1/instances/test-connection
func (h *handler) testConnection(w http.ResponseWriter, r *http.Request) error {
	var req TestConnectionRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	// The same rule as an instance's url, checked here because nothing is
	// registered; the registry normalises the same way.
	check := controller.CreateInput{Name: "test-connection", URL: req.URL}
	if err := check.Validate(); err != nil {
		return err
	}
	url := strings.TrimRight(strings.TrimSpace(req.URL), "/")
	return h.reply(w, http.StatusOK, h.prober.TestConnection(r.Context(), url, req.Username, req.APIToken))
}

// nonNil returns s, or an empty slice for nil, so it renders as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
