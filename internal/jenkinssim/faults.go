package jenkinssim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// faults holds the request-level faults: hang, slow and error.
type faults struct {
	mu         sync.Mutex
	hang       chan struct{} // non-nil while hanging; closed when the hang ends
	latency    time.Duration
	slowPath   string // the prefix of the paths latency applies to ("" all)
	failStatus int
	failPath   string
	active     map[string]string // kind -> description, for /__sim/state
}

func (f *faults) init() { f.active = map[string]string{} }

// Fault is a fault to inject, now or later.
type Fault struct {
	// Kind is one of: down, hang, slow, error, restart, agent-offline,
	// executors.
	Kind string `json:"kind"`
	// After delays the fault. For, if set, ends it after that long (for
	// restart: how long the restart answers 503).
	After Dur `json:"after,omitempty"`
	For   Dur `json:"for,omitempty"`
	// Status is the status code of an error fault. Default: 500.
	Status int `json:"status,omitempty"`
	// Path limits an error or slow fault to paths with this prefix.
	Path string `json:"path,omitempty"`
	// Latency is the delay of a slow fault.
	Latency Dur `json:"latency,omitempty"`
	// Node names the agent of agent-offline and executors ("" or
	// "built-in" for the built-in node, executors only).
	Node string `json:"node,omitempty"`
	// Executors is the new executor count of an executors fault.
	Executors int `json:"executors,omitempty"`
}

// Dur is a time.Duration that reads and writes Go duration strings in JSON.
type Dur time.Duration

// UnmarshalJSON accepts "3s", "250ms" or a number of milliseconds.
func (d *Dur) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: use Go syntax like \"3s\" or \"250ms\"", s)
		}
		*d = Dur(v)
		return nil
	}
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want a string like \"3s\" or a number of milliseconds")
	}
	*d = Dur(time.Duration(ms) * time.Millisecond)
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Dur) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (f Fault) validate(c *Controller) error {
	switch f.Kind {
	case "down", "hang", "restart":
	case "slow":
		if f.Latency <= 0 {
			return fmt.Errorf("slow: latency must be positive, e.g. \"latency\":\"500ms\"")
		}
	case "error":
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			return fmt.Errorf("error: status %d must be between 400 and 599", f.Status)
		}
	case "agent-offline":
		if c.nodeByName(f.Node) == nil || f.Node == "" || f.Node == "built-in" {
			return fmt.Errorf("agent-offline: node %q is not an agent of this controller (agents: %s)", f.Node, strings.Join(c.agentNames(), ", "))
		}
	case "executors":
		if c.nodeByName(f.Node) == nil {
			return fmt.Errorf("executors: no node %q (use \"built-in\" or one of %s)", f.Node, strings.Join(c.agentNames(), ", "))
		}
		if f.Executors < 0 || f.Executors > 1000 {
			return fmt.Errorf("executors: %d must be between 0 and 1000", f.Executors)
		}
	default:
		return fmt.Errorf("kind %q: must be one of down, hang, slow, error, restart, agent-offline, executors", f.Kind)
	}
	if f.After < 0 || f.For < 0 {
		return fmt.Errorf("after and for must not be negative")
	}
	return nil
}

// Schedule injects f after f.After, and undoes it after f.For if set.
func (c *Controller) Schedule(f Fault) error {
	if err := f.validate(c); err != nil {
		return err
	}
	apply := func() {
		c.applyFault(f, true)
		if f.For > 0 && f.Kind != "restart" {
			time.AfterFunc(time.Duration(f.For), func() { c.applyFault(f, false) })
		}
	}
	if f.After > 0 {
		time.AfterFunc(time.Duration(f.After), apply)
	} else {
		apply()
	}
	return nil
}

func (c *Controller) applyFault(f Fault, on bool) {
	switch f.Kind {
	case "down":
		if on {
			c.Down()
		} else if err := c.Up(); err != nil {
			c.log.Error("come back up", "err", err)
		}
	case "hang":
		if on {
			c.Hang()
		} else {
			c.Unhang()
		}
	case "slow":
		if on {
			c.SlowOn(f.Path, time.Duration(f.Latency))
		} else {
			c.Slow(0)
		}
	case "error":
		if on {
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			c.FailWith(status, f.Path)
		} else {
			c.FailWith(0, "")
		}
	case "restart":
		c.restartFor(time.Duration(f.For))
	case "agent-offline":
		_ = c.SetAgentOffline(f.Node, on)
	case "executors":
		_ = c.SetExecutors(f.Node, f.Executors)
	}
}

// Hang makes the controller accept requests and never answer them (until
// Unhang or the client gives up). /__sim/ keeps answering.
func (c *Controller) Hang() {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	if c.faults.hang == nil {
		c.faults.hang = make(chan struct{})
		c.faults.active["hang"] = "requests are accepted and never answered"
	}
}

// Unhang ends a hang; held requests are then answered.
func (c *Controller) Unhang() {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	if c.faults.hang != nil {
		close(c.faults.hang)
		c.faults.hang = nil
		delete(c.faults.active, "hang")
	}
}

// Slow adds latency to every answer; 0 removes it.
func (c *Controller) Slow(d time.Duration) { c.SlowOn("", d) }

// SlowOn adds latency to the answers to paths that start with pathPrefix
// ("" = all), the others answering at once; 0 removes it.
func (c *Controller) SlowOn(pathPrefix string, d time.Duration) {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.latency, c.faults.slowPath = d, pathPrefix
	if d > 0 {
		c.faults.active["slow"] = fmt.Sprintf("latency %s for paths %q", d, pathPrefix+"*")
	} else {
		delete(c.faults.active, "slow")
	}
}

// FailWith answers every request whose path starts with pathPrefix ("" =
// all) with status; 0 ends the fault.
func (c *Controller) FailWith(status int, pathPrefix string) {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.failStatus, c.faults.failPath = status, pathPrefix
	if status != 0 {
		c.faults.active["error"] = fmt.Sprintf("status %d for paths %q", status, pathPrefix+"*")
	} else {
		delete(c.faults.active, "error")
	}
}

// ClearFaults ends hang, slow and error faults.
func (c *Controller) ClearFaults() {
	c.Unhang()
	c.Slow(0)
	c.FailWith(0, "")
}

// requestFault applies hang, slow and error faults to a request. It
// reports whether the request was answered (or abandoned) by a fault.
func (c *Controller) requestFault(w http.ResponseWriter, r *http.Request) bool {
	c.faults.mu.Lock()
	hang, latency, status, path := c.faults.hang, c.faults.latency, c.faults.failStatus, c.faults.failPath
	if !strings.HasPrefix(r.URL.Path, c.faults.slowPath) {
		latency = 0
	}
	c.faults.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return true
		}
	}
	if latency > 0 && !sleepCtx(r.Context(), latency) {
		return true
	}
	if status != 0 && strings.HasPrefix(r.URL.Path, path) {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h2>HTTP ERROR %d</h2><p>Simulated failure</p></body></html>\n", status)
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Restart restarts the controller now, as POST /restart does.
func (c *Controller) Restart() { c.restartFor(0) }

func (c *Controller) restartFor(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateRunning {
		return
	}
	if d > 0 {
		saved := c.cfg.RestartDuration
		c.cfg.RestartDuration = d
		defer func() { c.cfg.RestartDuration = saved }()
	}
	c.beginRestartLocked("requested")
}

func (c *Controller) nodeByName(name string) *node {
	if name == "" || name == "built-in" || name == "(built-in)" {
		return c.nodes[0]
	}
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (c *Controller) agentNames() []string {
	var out []string
	for _, n := range c.nodes[1:] {
		out = append(out, n.name)
	}
	return out
}

// SetAgentOffline disconnects (or reconnects) an agent. Builds running on
// it fail, as they do when an agent's channel closes.
func (c *Controller) SetAgentOffline(name string, offline bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeByName(name)
	if n == nil || n.builtIn() {
		return fmt.Errorf("no agent %q", name)
	}
	n.offline = offline
	if offline {
		for _, b := range n.executors {
			if b != nil {
				c.finishLocked(b, "FAILURE", "FATAL: the agent went offline during the build\n")
			}
		}
	}
	c.maintainLocked()
	return nil
}

// SetExecutors changes a node's executor count ("" or "built-in" for the
// built-in node). Builds on removed executors keep running to the end.
func (c *Controller) SetExecutors(name string, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodeByName(name)
	if nd == nil {
		return fmt.Errorf("no node %q", name)
	}
	if n >= len(nd.executors) {
		nd.executors = append(nd.executors, make([]*build, n-len(nd.executors))...)
	} else {
		// Keep running builds: only trailing idle slots can go.
		keep := n
		for i := n; i < len(nd.executors); i++ {
			if nd.executors[i] != nil {
				keep = i + 1
			}
		}
		nd.executors = nd.executors[:keep]
	}
	c.maintainLocked()
	return nil
}

func (c *Controller) serveSim(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/__sim/faults" && r.Method == http.MethodPost:
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			simError(w, http.StatusBadRequest, "fault body: "+err.Error()+`; example: {"kind":"hang","after":"3s","for":"10s"}`)
			return
		}
		if err := f.validate(c); err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		// Answer first: a fault such as down would cut this very answer.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(f)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if f.Kind == "down" && f.After == 0 {
			f.After = Dur(time.Millisecond)
		}
		_ = c.Schedule(f)
	case r.URL.Path == "/__sim/faults" && r.Method == http.MethodDelete:
		c.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/__sim/state" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.State())
	default:
		simError(w, http.StatusNotFound, "unknown simulator endpoint; use POST|DELETE /__sim/faults or GET /__sim/state")
	}
}

func simError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// State is a snapshot of the simulator, served at /__sim/state.
type State struct {
	Name           string            `json:"name"`
	URL            string            `json:"url"`
	Session        string            `json:"session"`
	Restarting     bool              `json:"restarting"`
	Restarts       int               `json:"restarts"`
	QuietingDown   bool              `json:"quietingDown"`
	QueueLength    int               `json:"queueLength"`
	Running        int               `json:"running"`
	BuildsStarted  int64             `json:"buildsStarted"`
	BuildsFinished int64             `json:"buildsFinished"`
	BuildsLost     int64             `json:"buildsLost"`
	Requests       int64             `json:"requests"`
	Faults         map[string]string `json:"faults"`
}

// State returns a snapshot of the controller.
func (c *Controller) State() State {
	c.mu.RLock()
	s := State{
		Name: c.cfg.Name, URL: c.URL(), Session: c.session, Restarting: c.state == stateRestarting,
		Restarts: c.restarts, QuietingDown: c.quietingDown, QueueLength: len(c.queue), Running: c.runningLocked(),
	}
	c.mu.RUnlock()
	s.BuildsStarted = c.stats.buildsStarted.Load()
	s.BuildsFinished = c.stats.buildsFinished.Load()
	s.BuildsLost = c.stats.buildsLost.Load()
	s.Requests = c.stats.requests.Load()
	c.faults.mu.Lock()
	s.Faults = make(map[string]string, len(c.faults.active))
	for k, v := range c.faults.active {
		s.Faults[k] = v
	}
	c.faults.mu.Unlock()
	return s
}
