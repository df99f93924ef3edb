package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// watcher asks a proxy whether it has taken a backend out of its pool:
// the proxy's own view, beside the traffic loadgen sees.
type watcher interface {
	// down reports whether the backend is out, and what took it out.
	down(ctx context.Context) (out bool, how string, err error)
}

var (
	_ watcher = haproxyWatch{}
	_ watcher = jenkindsWatch{}
)

// parseWatch reads -watch: "haproxy:URL of the stats page" or "jenkinds:URL
// of the admin API" (its token comes from JENKINDS_ADMIN_TOKEN). "" means
// no watch (nil, nil).
func parseWatch(spec, backend string, client *http.Client, getenv func(string) string) (watcher, error) {
	if spec == "" {
		return nil, nil
	}
	if backend == "" {
		return nil, errors.New("-watch needs -faulty: the backend to watch")
	}
	kind, arg, _ := strings.Cut(spec, ":")
	u, err := url.Parse(arg)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("-watch %q: want haproxy:URL or jenkinds:URL with an http URL", spec)
	}
	if err := checkLoopback(u); err != nil {
		return nil, fmt.Errorf("-watch %q: %w", spec, err)
	}
	switch kind {
	case "haproxy":
		return haproxyWatch{stats: arg, backend: backend, client: client}, nil
	case "jenkinds":
		token := getenv("JENKINDS_ADMIN_TOKEN")
		if token == "" {
			return nil, fmt.Errorf("-watch %q: set JENKINDS_ADMIN_TOKEN", spec)
		}
		return jenkindsWatch{admin: strings.TrimSuffix(arg, "/"), token: token, backend: backend, client: client}, nil
	}
	return nil, fmt.Errorf("-watch %q: want haproxy:URL or jenkinds:URL", spec)
}

// watchResult is when the proxy was first seen to have taken the backend
// out.
type watchResult struct {
	at  time.Duration // from the start of the load; valid when seen
	how string
	// seen is false when the backend was still in when the watch ended,
	// at until (from the start of the load); lastErr then says whether
	// the watch itself failed.
	seen    bool
	until   time.Duration
	lastErr error
}

// watch polls w every interval until it reports the backend out or stop
// is closed.
func watch(ctx context.Context, w watcher, start time.Time, interval time.Duration, stop <-chan struct{}) watchResult {
	t := time.NewTicker(interval)
	defer t.Stop()
	var res watchResult
	for {
		out, how, err := w.down(ctx)
		if err != nil {
			res.lastErr = err
		} else if out {
			at := time.Since(start)
			return watchResult{at: at, how: how, seen: true, until: at}
		}
		select {
		case <-t.C:
		case <-stop:
			res.until = time.Since(start)
			return res
		case <-ctx.Done():
			res.until = time.Since(start)
			return res
		}
	}
}

// haproxyWatch reads HAProxy's stats page as CSV (stats uri …;csv): the
// server is out when its status is DOWN or MAINT.
type haproxyWatch struct {
	stats, backend string
	client         *http.Client
}

func (h haproxyWatch) down(ctx context.Context) (bool, string, error) {
	body, err := get(ctx, h.client, h.stats, nil)
	if err != nil {
		return false, "", err
	}
	status, err := haproxyStatus(body, h.backend)
	if err != nil {
		return false, "", fmt.Errorf("read %s: %w", h.stats, err)
	}
	if strings.HasPrefix(status, "DOWN") || strings.HasPrefix(status, "MAINT") {
		return true, "checks", nil
	}
	return false, "", nil
}

// haproxyStatus finds the status column of server svname in HAProxy's CSV
// stats (first line "# pxname,svname,…").
func haproxyStatus(csvText []byte, svname string) (string, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(csvText), "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", errors.New("empty stats")
	}
	sv, st := -1, -1
	for i, name := range rows[0] {
		switch name {
		case "svname":
			sv = i
		case "status":
			st = i
		}
	}
	if sv < 0 || st < 0 {
		return "", errors.New("no svname or status column")
	}
	for _, row := range rows[1:] {
		if len(row) > max(sv, st) && row[sv] == svname {
			return row[st], nil
		}
	}
	return "", fmt.Errorf("no server %q", svname)
}

// jenkindsWatch asks jenkinds' health authority, through the admin API:
// the controller is out when GET /api/v1/instances shows it unhealthy. Its
// newest transition to unhealthy (GET /api/v1/instances/{id}/events) says
// on what evidence: "checks" (active probes) or "passive" (failed
// requests).
type jenkindsWatch struct {
	admin, token, backend string
	client                *http.Client
}

// jenkindsEvent is one entry of jenkinds' health event log.
type jenkindsEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Cluster string    `json:"cluster"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Source  string    `json:"source"`
	Reason  string    `json:"reason"`
}

func (j jenkindsWatch) down(ctx context.Context) (bool, string, error) {
	id, health, err := j.instance(ctx)
	if err != nil || health != "unhealthy" {
		return false, "", err
	}
	how := "checks"
	evs, err := j.page(ctx, id)
	if err != nil {
		return true, how, nil // out all the same; the events only name the evidence
	}
	for _, e := range evs { // newest first
		if e.Kind == "transition" && e.To == "unhealthy" {
			if e.Source == "passive" {
				how = "passive"
			}
			break
		}
	}
	return true, how, nil
}

// instance finds the watched controller's id and health.
func (j jenkindsWatch) instance(ctx context.Context) (int64, string, error) {
	body, err := get(ctx, j.client, j.admin+"/api/v1/instances", j.auth())
	if err != nil {
		return 0, "", err
	}
	var list []struct {
		ID           int64  `json:"id"`
		Name         string `json:"name"`
		HealthStatus string `json:"healthStatus"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, "", fmt.Errorf("decode instances: %w", err)
	}
	for _, in := range list {
		if in.Name == j.backend {
			return in.ID, in.HealthStatus, nil
		}
	}
	return 0, "", fmt.Errorf("jenkinds has no controller %q", j.backend)
}

// page is the newest page of the controller's events, newest first.
func (j jenkindsWatch) page(ctx context.Context, id int64) ([]jenkindsEvent, error) {
	body, err := get(ctx, j.client, fmt.Sprintf("%s/api/v1/instances/%d/events?limit=1000", j.admin, id), j.auth())
	if err != nil {
		return nil, err
	}
	var page struct {
		Events []jenkindsEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	return page.Events, nil
}

// events returns the controller's events (with its cluster's and
// jenkinds' freezes and thaws) at or after since, oldest first.
func (j jenkindsWatch) events(ctx context.Context, since time.Time) ([]jenkindsEvent, error) {
	id, _, err := j.instance(ctx)
	if err != nil {
		return nil, err
	}
	evs, err := j.page(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []jenkindsEvent
	for i := len(evs) - 1; i >= 0; i-- {
		if !evs[i].At.Before(since) {
			out = append(out, evs[i])
		}
	}
	return out, nil
}

func (j jenkindsWatch) auth() http.Header {
	return http.Header{"Authorization": {"Bearer " + j.token}}
}

// eventLines prints events, one a line, timed from the fault.
func eventLines(controller string, evs []jenkindsEvent, fault time.Time) string {
	var b strings.Builder
	if len(evs) == 0 {
		fmt.Fprintf(&b, "    health events of %s: none during the load\n", controller)
		return b.String()
	}
	fmt.Fprintf(&b, "    health events of %s (time from the fault):\n", controller)
	for _, e := range evs {
		what := e.Kind
		switch e.Kind {
		case "transition":
			what = fmt.Sprintf("%s → %s (%s)", e.From, e.To, e.Source)
		case "freeze", "thaw":
			scope := "jenkinds"
			if e.Cluster != "" {
				scope = "cluster " + e.Cluster
			}
			what = e.Kind + " of " + scope
		}
		if e.Reason != "" {
			what += ": " + e.Reason
		}
		fmt.Fprintf(&b, "      %8s  %s\n", signed(e.At.Sub(fault)), what)
	}
	return b.String()
}

// get fetches url and returns its body; anything but 200 is an error.
func get(ctx context.Context, client *http.Client, url string, header http.Header) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return body, nil
}
