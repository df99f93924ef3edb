package jenkins

import (
	"context"
	"net/http"
	"time"
)

// Status is what one health probe learns about a controller: whether it
// answers, as which process, and its load (the CloudBees least-load
// inputs: running builds, queued items, online agents).
type Status struct {
	Version      string
	Session      string
	QuietingDown bool
	Latency      time.Duration

	RunningBuilds   int // busy executors
	QueuedItems     int
	OnlineAgents    int // online computers other than the built-in node
	TotalExecutors  int // executors of online computers
	BusyExecutors   int
	OfflineAgents   int
	TotalComputers  int
	HealthCheckCode int // status of the custom health check URL, if any
}

// Load is the controller's load for balancing: running builds + queued
// items + online agents, as CloudBees CI computes it.
func (s Status) Load() int { return s.RunningBuilds + s.QueuedItems + s.OnlineAgents }

// IdleExecutors are executors of online computers not running a build.
func (s Status) IdleExecutors() int { return max(0, s.TotalExecutors-s.BusyExecutors) }

const (
	rootTree     = "api/json?tree=quietingDown,mode"
	computerTree = "computer/api/json?tree=busyExecutors,totalExecutors,computer[offline,numExecutors,_class]"
	queueTree    = "queue/api/json?tree=items[id]"
)

// Probe asks the controller for its state: healthCheckURL (absolute, or a
// path relative to the controller; "" for none) must answer 2xx, then one
// request each for the root, the computers and the queue, all with tree=
// so they stay cheap.
func (c *Client) Probe(ctx context.Context, healthCheckURL string) (Status, error) {
	var st Status
	start := time.Now()
	if healthCheckURL != "" {
		r, _, err := c.Do(ctx, http.MethodGet, healthCheckURL, nil, "")
		if r != nil {
			st.HealthCheckCode = r.Code
		}
		if err != nil {
			return st, err
		}
	}
	var root struct {
		QuietingDown bool   `json:"quietingDown"`
		Mode         string `json:"mode"`
	}
	r, err := c.GetJSON(ctx, rootTree, &root)
	if r != nil {
		st.Version, st.Session = r.Version, r.Session
	}
	if err != nil {
		return st, err
	}
	st.QuietingDown = root.QuietingDown
	var comps struct {
		Busy     int `json:"busyExecutors"`
		Total    int `json:"totalExecutors"`
		Computer []struct {
			Class   string `json:"_class"`
			Offline bool   `json:"offline"`
		} `json:"computer"`
	}
	if _, err := c.GetJSON(ctx, computerTree, &comps); err != nil {
		return st, err
	}
	st.BusyExecutors, st.TotalExecutors, st.RunningBuilds = comps.Busy, comps.Total, comps.Busy
	st.TotalComputers = len(comps.Computer)
	for _, cp := range comps.Computer {
		if cp.Class == builtInClass {
			continue
		}
		if cp.Offline {
			st.OfflineAgents++
		} else {
			st.OnlineAgents++
		}
	}
	var q struct {
		Items []struct{} `json:"items"`
	}
	if _, err := c.GetJSON(ctx, queueTree, &q); err != nil {
		return st, err
	}
	st.QueuedItems = len(q.Items)
	st.Latency = time.Since(start)
	return st, nil
}

// JobStats counts jobs and building jobs (for the stats endpoint).
func (c *Client) JobStats(ctx context.Context) (total, active int, err error) {
	var root struct {
		Jobs []struct {
			Class string `json:"_class"`
			Color string `json:"color"`
		} `json:"jobs"`
	}
	if _, err := c.GetJSON(ctx, "api/json?tree=jobs[color]", &root); err != nil {
		return 0, 0, err
	}
	for _, j := range root.Jobs {
		total++
		if len(j.Color) > 6 && j.Color[len(j.Color)-6:] == "_anime" {
			active++
		}
	}
	return total, active, nil
}
