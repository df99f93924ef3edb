package api

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"net/url"
	"slices"

	"github.com/jenkinds/jenkinds/internal/health"
)

// EventList is the answer of the event routes: a page of the health
// authority's events, newest first, and the freezes of re-dispatch in
// effect now among those the page is about.
type EventList struct {
	Events []health.Event `json:"events"`
	// Next is the before of the next (older) page; absent on the last.
	Next int64 `json:"next,omitempty"`
	// Frozen are the freezes in effect now: the selected cluster's (or
	// every cluster's) and jenkinds' own; [] when none is.
	Frozen []Freeze `json:"frozen"`
}

// Freeze is a freeze of re-dispatch in effect: while it lasts, builds that
// already started on the cluster's lost controllers are not placed again.
type Freeze struct {
	// Cluster is the frozen cluster (a mass failure); absent for jenkinds'
	// own starvation, which freezes every cluster.
	Cluster string `json:"cluster,omitempty"`
	Reason  string `json:"reason"`
}

// Limits of the event routes (those of health.EventFilter).
const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

// eventRoutes are the routes of the health authority's event log.
func (h *handler) eventRoutes() []route {
	return []route{
		{"GET", "/api/v1/events", h.handle(h.listEvents)},
		{"GET", "/api/v1/instances/{id}/events", h.handle(h.instanceEvents)},
	}
}

// healthEvents returns the event log, or not_enabled.
func (h *handler) healthEvents() (HealthEvents, error) {
	if h.events == nil {
		return nil, notEnabled("health events")
	}
	return h.events, nil
}

// GET /api/v1/events[?cluster=&limit=&before=]
func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "cluster", "limit", "before")
	if err != nil {
		return err
	}
	events, err := h.healthEvents()
	if err != nil {
		return err
	}
	f, err := eventFilter(q)
	if err != nil {
		return err
	}
	f.Cluster = q.Get("cluster")
	out, err := eventPage(r.Context(), events, f, f.Cluster)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, out)
}

// GET /api/v1/instances/{id}/events[?limit=&before=]: the controller's
// events with the freezes and thaws of its cluster and of jenkinds.
func (h *handler) instanceEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit", "before")
	if err != nil {
		return err
	}
	events, err := h.healthEvents()
	if err != nil {
		return err
	}
	inst, err := h.instance(r)
	if err != nil {
		return err
	}
	f, err := eventFilter(q)
	if err != nil {
		return err
	}
	f.ControllerID = inst.ID
	out, err := eventPage(r.Context(), events, f, inst.ClusterID)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, out)
}

// eventFilter reads the page an event route is asked for: before and
// limit.
func eventFilter(q url.Values) (health.EventFilter, error) {
	var f health.EventFilter
	var err error
	if f.Before, err = intParam(q, "before", 0, 1, math.MaxInt64, "the next of the previous page (an event id)"); err != nil {
		return f, err
	}
	f.Limit, err = pageLimit(q, defaultEventLimit, maxEventLimit)
	return f, err
}

// eventPage reads the page f selects, and the freezes in effect of
// cluster ("" for every cluster's) and of jenkinds.
func eventPage(ctx context.Context, events HealthEvents, f health.EventFilter, cluster string) (EventList, error) {
	limit := f.Limit
	f.Limit = min(limit+1, maxEventLimit) // one more, to know whether another page follows
	list, err := events.Events(ctx, f)
	if err != nil {
		return EventList{}, err
	}
	out := EventList{Frozen: []Freeze{}}
	var more bool
	if out.Events, more = cutPage(list, limit, maxEventLimit); more {
		out.Next = out.Events[limit-1].ID
	}
	for c, reason := range events.Frozen() {
		if cluster == "" || c == cluster || c == "" {
			out.Frozen = append(out.Frozen, Freeze{Cluster: c, Reason: reason})
		}
	}
	slices.SortFunc(out.Frozen, func(a, b Freeze) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return out, nil
}
