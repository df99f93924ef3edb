package controller

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

func TestEligibleSaysWhy(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	tests := []struct {
		name string
		prep func(r *Runtime)
		want string // "" = eligible
	}{
		{"probed and idle", func(r *Runtime) {}, ""},
		{"inactive", func(r *Runtime) { in := r.Instance(); in.IsActive = false; r.inst.Store(&in) }, "inactive"},
		{"draining", func(r *Runtime) { r.SetDraining(true) }, "draining"},
		{"unhealthy", func(r *Runtime) { r.Transition(balance.Unhealthy, "connection refused", now) }, "unhealthy: connection refused"},
		{"quieting down", func(r *Runtime) { r.Probed(now, jenkins.Status{QuietingDown: true, TotalExecutors: 2}) }, "quieting down"},
		{"cooling down", func(r *Runtime) { r.CoolDown(now.Add(time.Second), "HTTP 503") }, "cooling down until 1970-01-01T00:16:41Z: HTTP 503"},
		{"cooled down", func(r *Runtime) { r.CoolDown(now, "HTTP 503") }, ""},
		{"no executors", func(r *Runtime) { r.Probed(now, jenkins.Status{TotalExecutors: 0}) }, "no online executors"},
		{"full", func(r *Runtime) { r.SetLive(4) }, "at build capacity (4 builds of jenkinds' there)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewPool()
			p.Sync([]Synced{synced(1, "a", 0, false)})
			r := p.Get(1)
			r.Probed(now, jenkins.Status{TotalExecutors: 2})
			tt.prep(r)
			ok, why := r.Eligible(now)
			if ok != (tt.want == "") || why != tt.want {
				t.Errorf("Eligible = %v, %q; want %q", ok, why, tt.want)
			}
			c := r.BuildCandidate(now)
			if c.Excluded != tt.want && !(tt.want == "inactive" || tt.want == "draining") {
				t.Errorf("BuildCandidate excluded %q, want %q", c.Excluded, tt.want)
			}
			if got := c.Eligible(); got != (tt.want == "") {
				t.Errorf("BuildCandidate eligible = %v", got)
			}
		})
	}
}

func TestBuildCapacityFromExecutors(t *testing.T) {
	t.Parallel()
	p := NewPool()
	p.Sync([]Synced{synced(1, "a", 0, false)})
	r := p.Get(1)
	if got := r.BuildCapacity(); got != 2 {
		t.Errorf("before any probe: %d, want 2", got)
	}
	r.Probed(time.Now(), jenkins.Status{TotalExecutors: 8, BusyExecutors: 3, RunningBuilds: 3, QueuedItems: 1})
	if got := r.BuildCapacity(); got != 16 {
		t.Errorf("8 executors: %d, want 16", got)
	}
	// The probe saw 4 builds running or queued while jenkinds had none
	// there: they are someone else's, and take room. maxConnections (the
	// proxy's cap, 10 here) plays no part.
	r.SetLive(8)
	c := r.BuildCandidate(time.Now())
	if !c.Eligible() || c.MaxConnections != 16 || c.Load != 12 {
		t.Errorf("8 of jenkinds' and 4 others' of 16: %+v", c)
	}
	// A probe that finds the controller full of jenkinds' own builds does
	// not keep it full once the follower saw them end.
	r.SetLive(16)
	r.Probed(time.Now(), jenkins.Status{TotalExecutors: 8, BusyExecutors: 8, RunningBuilds: 8, QueuedItems: 8})
	r.AddLive(-8)
	if c := r.BuildCandidate(time.Now()); !c.Eligible() || c.Load != 8 {
		t.Errorf("probed full of its own builds, then 8 ended: %+v, want load 8 and eligible", c)
	}
}

func TestSessionRestartReportedOnce(t *testing.T) {
	t.Parallel()
	p := NewPool()
	var mu sync.Mutex
	var restarts []string
	p.SetHooks(Hooks{Restarted: func(_ *Runtime, from, to string) {
		mu.Lock()
		restarts = append(restarts, from+">"+to)
		mu.Unlock()
	}})
	p.Sync([]Synced{synced(1, "a", 0, false)})
	r := p.Get(1)
	r.NoteSession("s1") // the first session is no restart
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { r.NoteSession("s2") })
	}
	wg.Wait()
	r.NoteSession("")
	if len(restarts) != 1 || restarts[0] != "s1>s2" || r.Session() != "s2" {
		t.Errorf("restarts %v, session %q", restarts, r.Session())
	}
}

func TestClientReportsToItsRuntime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Jenkins-Session", "abc")
		if strings.Contains(r.URL.Path, "busy") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	p := NewPool()
	var mu sync.Mutex
	var failures []error
	p.SetHooks(Hooks{Failed: func(_ *Runtime, err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }})
	in := synced(1, "a", 0, false)
	in.Instance.URL = srv.URL
	p.Sync([]Synced{in})
	r := p.Get(1)
	before := time.Now()
	var v map[string]any
	if _, err := r.Client().GetJSON(t.Context(), "api/json", &v); err != nil {
		t.Fatal(err)
	}
	if r.InFlight() != 0 || r.Session() != "abc" || r.LastAnswer().Before(before) {
		t.Errorf("after an answer: in flight %d, session %q, last answer %s", r.InFlight(), r.Session(), r.LastAnswer())
	}
	_, _, err := r.Client().Do(t.Context(), http.MethodGet, "busy", nil, "")
	var se *jenkins.StatusError
	if !errors.As(err, &se) || len(failures) != 1 {
		t.Errorf("a 503: err %v, failures reported %v", err, failures)
	}
	// A refused connection is evidence; an answer clears it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	in.Instance.URL = "http://" + dead
	p.Sync([]Synced{in})
	if _, _, err := r.Client().Do(t.Context(), http.MethodGet, "x", nil, ""); err == nil || len(failures) != 2 {
		t.Fatalf("refused: %v, failures %d", err, len(failures))
	}
	r.NoteGone(time.Now(), "connection refused")
	if since, _ := r.Gone(); since.IsZero() {
		t.Errorf("gone evidence not kept")
	}
	r.Answered(time.Now().Add(time.Second))
	if since, _ := r.Gone(); !since.IsZero() {
		t.Errorf("an answer must clear the gone evidence")
	}
}
