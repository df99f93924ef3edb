package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// Cluster is one cluster in GET /api/v1/clusters: its instances and their
// totals.
type Cluster struct {
	ClusterID      string `json:"clusterId"`
	TotalInstances int    `json:"totalInstances"`
	// HealthyInstances counts the instances whose last check was healthy,
	// active or not.
	HealthyInstances int `json:"healthyInstances"`
	// TotalLoad and TotalCapacity add up currentLoad and maxConnections of
	// every instance.
	TotalLoad     int                   `json:"totalLoad"`
	TotalCapacity int                   `json:"totalCapacity"`
	Instances     []controller.Instance `json:"instances"`
}

// groupClusters groups list by cluster, clusters by ID, instances in the
// order of list.
func groupClusters(list []controller.Instance) []Cluster {
	out := []Cluster{}
	index := map[string]int{}
	for _, inst := range list {
		i, ok := index[inst.ClusterID]
		if !ok {
			i = len(out)
			index[inst.ClusterID] = i
			out = append(out, Cluster{ClusterID: inst.ClusterID, Instances: []controller.Instance{}})
		}
		c := &out[i]
		c.TotalInstances++
		if inst.HealthStatus == balance.Healthy {
			c.HealthyInstances++
		}
		c.TotalLoad += inst.CurrentLoad
		c.TotalCapacity += inst.MaxConnections
		c.Instances = append(c.Instances, inst)
	}
	slices.SortFunc(out, func(a, b Cluster) int { return strings.Compare(a.ClusterID, b.ClusterID) })
	return out
}

// GET /api/v1/clusters
func (h *handler) listClusters(w http.ResponseWriter, r *http.Request) error {
	list, err := h.registry.List(r.Context(), controller.ListFilter{})
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, groupClusters(list))
}

// GET /api/v1/optimal-instance?clusterId=&strategy=
func (h *handler) optimalInstance(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "clusterId", "strategy")
	if err != nil {
		return err
	}
	cluster, strategy := q.Get("clusterId"), q.Get("strategy")
	if cluster == "" {
		cluster = controller.DefaultCluster
	}
	if strategy == "" {
		strategy = balance.StrategyLeastLoad
	}
	if _, err := balance.ByName(strategy); err != nil {
		return err
	}
	inst, err := h.picker.Optimal(r.Context(), cluster, strategy)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, inst)
}

// GET /api/v1/clusters/{clusterId}/primary
func (h *handler) primary(w http.ResponseWriter, r *http.Request) error {
	inst, err := h.picker.Primary(r.Context(), r.PathValue("clusterId"))
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, inst)
}

// FailoverRequest is the body of POST /api/v1/clusters/{clusterId}/failover.
type FailoverRequest struct {
	// CurrentInstanceID is the instance to move work away from.
	CurrentInstanceID int64 `json:"currentInstanceId"`
}

// POST /api/v1/clusters/{clusterId}/failover
func (h *handler) failover(w http.ResponseWriter, r *http.Request) error {
	var req FailoverRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.CurrentInstanceID <= 0 {
		return &problem{http.StatusBadRequest, CodeInvalidField,
			fmt.Sprintf("currentInstanceId must be the id of the instance to fail over from, a positive integer; got %d", req.CurrentInstanceID), "currentInstanceId"}
	}
	inst, err := h.picker.Failover(r.Context(), r.PathValue("clusterId"), req.CurrentInstanceID)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, inst)
}
