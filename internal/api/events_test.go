package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/health"
)

// makeEvents has the fleet's health authority record, in this order: a
// freeze of jenkinds' own (starved), jenkins-0 turning unhealthy, jenkins-1
// turning unhealthy and, the two being the whole cluster, a freeze of
// cluster production. It returns once all four are in the event log.
func makeEvents(t *testing.T, f *buildsFixture) {
	t.Helper()
	f.fleet.Monitor().NoteStarved(time.Now(), 400*time.Millisecond)
	for _, inst := range f.fleet.Instances {
		f.fleet.Fail(t, inst.ID)
	}
	f.fleet.WaitEvents(t, 4)
}

// summary renders events as "kind cluster controller from→to source",
// leaving out what an event has not.
func summary(events []health.Event) []string {
	out := []string{}
	for _, e := range events {
		change := ""
		if e.From != "" || e.To != "" {
			change = e.From + "→" + e.To
		}
		out = append(out, strings.Join(strings.Fields(strings.Join([]string{string(e.Kind), e.Cluster, e.Controller, change, e.Source}, " ")), " "))
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setupBuilds(t, e, 2)
			makeEvents(t, f)
			a, b := f.fleet.Instances[0], f.fleet.Instances[1]
			freezeProd := "freeze production jenkinds"
			transition := func(name string) string { return "transition production " + name + " healthy→unhealthy passive" }
			starved := "freeze jenkinds"

			all := decode[api.EventList](t, f.call(t, "GET", "/api/v1/events", ""))
			if got, want := summary(all.Events), []string{freezeProd, transition(b.Name), transition(a.Name), starved}; !slices.Equal(got, want) {
				t.Errorf("all events, newest first:\n got %q\nwant %q", got, want)
			}
			if all.Next != 0 || len(all.Frozen) != 2 || all.Frozen[0].Cluster != "" || !strings.Contains(all.Frozen[0].Reason, "jenkinds starved") ||
				all.Frozen[1].Cluster != "production" || !strings.Contains(all.Frozen[1].Reason, "mass failure: 2 of 2 controllers") {
				t.Errorf("all events: next %d, frozen %+v", all.Next, all.Frozen)
			}
			ev := all.Events[2]
			if ev.ControllerID != a.ID || ev.ID == 0 || ev.At.IsZero() || ev.Replica != "apitest" || !strings.Contains(ev.Reason, "connection refused") {
				t.Errorf("a transition: %+v", ev)
			}

			// One instance: its own events with its cluster's and jenkinds' freezes.
			r := f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/events", a.ID), "")
			one := decode[api.EventList](t, r)
			if got, want := summary(one.Events), []string{freezeProd, transition(a.Name), starved}; r.status != http.StatusOK || !slices.Equal(got, want) {
				t.Errorf("instance %d's events: %d\n got %q\nwant %q", a.ID, r.status, got, want)
			}
			if len(one.Frozen) != 2 {
				t.Errorf("instance %d's freezes in effect: %+v", a.ID, one.Frozen)
			}

			// One cluster: its events and jenkinds'; another: jenkinds' only.
			prod := decode[api.EventList](t, f.call(t, "GET", "/api/v1/events?cluster=production", ""))
			if len(prod.Events) != 4 {
				t.Errorf("cluster production: %q", summary(prod.Events))
			}
			other := decode[api.EventList](t, f.call(t, "GET", "/api/v1/events?cluster=staging", ""))
			if got := summary(other.Events); !slices.Equal(got, []string{starved}) || len(other.Frozen) != 1 || other.Frozen[0].Cluster != "" {
				t.Errorf("cluster staging: %q, frozen %+v", got, other.Frozen)
			}

			// Pages: next is the before of the older page, absent on the last.
			r = f.call(t, "GET", "/api/v1/events?limit=3", "")
			first := decode[api.EventList](t, r)
			if len(first.Events) != 3 || first.Next != first.Events[2].ID || !strings.Contains(r.body, `"next":`) {
				t.Fatalf("first page of 3: %s", r.body)
			}
			r = f.call(t, "GET", fmt.Sprintf("/api/v1/events?limit=3&before=%d", first.Next), "")
			second := decode[api.EventList](t, r)
			if got := summary(second.Events); !slices.Equal(got, []string{starved}) || strings.Contains(r.body, `"next"`) {
				t.Errorf("second page: %s", r.body)
			}
			r = f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/events?limit=1&before=%d", a.ID, all.Events[0].ID), "")
			if page := decode[api.EventList](t, r); len(page.Events) != 1 || page.Events[0].ID != all.Events[2].ID || page.Next != page.Events[0].ID {
				t.Errorf("instance page before the newest: %s", r.body)
			}
		})
	}
}

func TestEventsBadRequests(t *testing.T) {
	t.Parallel()
	f := setupBuilds(t, sqlite(t), 1)
	id := f.fleet.Instances[0].ID
	for _, tt := range []struct {
		path        string
		status      int
		code, field string
		mentions    []string
	}{
		{path: "/api/v1/events?limit=5000", status: 400, code: api.CodeInvalidParameter, field: "limit", mentions: []string{"between 1 and 1000", `"5000"`}},
		{path: "/api/v1/events?limit=0", status: 400, code: api.CodeInvalidParameter, field: "limit"},
		{path: "/api/v1/events?limit=ten", status: 400, code: api.CodeInvalidParameter, field: "limit"},
		{path: "/api/v1/events?before=-1", status: 400, code: api.CodeInvalidParameter, field: "before", mentions: []string{"an event id"}},
		{path: "/api/v1/events?clusterId=production", status: 400, code: api.CodeInvalidParameter, field: "clusterId", mentions: []string{"cluster, limit, before"}},
		{path: fmt.Sprintf("/api/v1/instances/%d/events?limit=5000", id), status: 400, code: api.CodeInvalidParameter, field: "limit"},
		{path: fmt.Sprintf("/api/v1/instances/%d/events?before=x", id), status: 400, code: api.CodeInvalidParameter, field: "before"},
		{path: "/api/v1/instances/999/events", status: 404, code: api.CodeNotFound, mentions: []string{"999"}},
		{path: "/api/v1/instances/abc/events", status: 400, code: api.CodeInvalidParameter, field: "id"},
	} {
		wantError(t, f.call(t, "GET", tt.path, ""), tt.status, tt.code, tt.field, tt.mentions...)
	}
	r := f.call(t, "POST", "/api/v1/events", "")
	wantError(t, r, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "")
	if got := r.header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("POST /api/v1/events: Allow %q", got)
	}
	r = f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/events", id), "")
	if r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"events":[],"frozen":[]}` {
		t.Errorf("no events yet: %d %s", r.status, r.body)
	}

	// Without an event log, the routes say so.
	plain := setup(t, sqlite(t))
	wantError(t, plain.call(t, "GET", "/api/v1/events", ""), http.StatusNotImplemented, api.CodeNotEnabled, "", "health events")
}
