package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/health"
)

// untimed returns the rows of an events table without their first
// column, the time, which the test does not control.
func untimed(stdout string) []string {
	var out []string
	for _, l := range lines(stdout) {
		if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(l, "20") {
			l = rest
		}
		out = append(out, l)
	}
	return out
}

func TestInstancesEvents(t *testing.T) {
	t.Parallel()
	f, fleet := startBuildsCLI(t)
	inst := fleet.Instances[0]
	fleet.Monitor().NoteStarved(time.Now(), 300*time.Millisecond)
	fleet.Fail(t, inst.ID) // unhealthy; the whole cluster, so it freezes too
	fleet.WaitEvents(t, 3)

	r := f.run(t, "instances", "events", inst.Name)
	r.want(t, 0, nil, nil)
	got := untimed(r.stdout)
	want := []string{
		"Re-dispatch frozen now: jenkinds: jenkinds starved: a timer of its own fired 300ms late;",
		"Re-dispatch frozen now: cluster production: mass failure: 1 of 1 controllers of cluster production turned unhealthy",
		"TIME KIND CHANGE SOURCE REASON",
		"freeze frozen: cluster production jenkinds mass failure: 1 of 1 controllers",
		"transition healthy → unhealthy passive 3 failed requests within 10s, the last: connection refused",
		"freeze frozen: jenkinds jenkinds jenkinds starved",
	}
	if len(got) != len(want) {
		t.Fatalf("instances events: got\n%s", r.stdout)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: got %q, want it to start %q", i+1, got[i], want[i])
		}
	}
	if !strings.HasPrefix(lines(r.stdout)[3], time.Now().UTC().Format("2006-01-02T")) || r.stderr != "" {
		t.Errorf("the first row has no time, or stderr %q:\n%s", r.stderr, r.stdout)
	}

	// Pages: --limit, then --before with the id the hint gives.
	r = f.run(t, "instances", "events", fmt.Sprint(inst.ID), "--limit", "1")
	if rows := untimed(r.stdout); r.code != 0 || len(rows) != 4 || !strings.HasPrefix(rows[3], "freeze frozen: cluster production") {
		t.Errorf("--limit 1: exit %d\n%s", r.code, r.stdout)
	}
	_, before, ok := strings.Cut(strings.TrimSpace(r.stderr), "Older events: add --before ")
	if !ok {
		t.Fatalf("--limit 1: no hint of the older page in stderr %q", r.stderr)
	}
	r = f.run(t, "instances", "events", inst.Name, "--before", before, "-o", "json")
	var page api.EventList
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 || len(page.Events) != 2 ||
		page.Events[0].Kind != health.KindTransition || page.Events[1].Cluster != "" || page.Next != 0 || len(page.Frozen) != 2 {
		t.Errorf("--before %s -o json: exit %d, %v\n%s", before, r.code, err, r.stdout)
	}

	f.run(t, "instances", "events", inst.Name, "--limit", "5000").want(t, 1, nil, []string{"limit must be an integer between 1 and 1000", "(field: limit)"})
	f.run(t, "instances", "events", "999").want(t, 1, nil, []string{"jenkinds: get instance 999: not found"})
	f.run(t, "instances", "events", "nope").want(t, 1, nil, []string{`no instance is named "nope"`})
	f.run(t, "instances", "events").want(t, 2, nil, []string{"got 0 arguments, want ID|NAME"})
}

func TestEventChange(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    health.Event
		want string
	}{
		{health.Event{Kind: health.KindTransition, From: "healthy", To: "degraded"}, "healthy → degraded"},
		{health.Event{Kind: health.KindRestart}, "restarted"},
		{health.Event{Kind: health.KindFreeze, Cluster: "production"}, "frozen: cluster production"},
		{health.Event{Kind: health.KindFreeze}, "frozen: jenkinds"},
		{health.Event{Kind: health.KindThaw, Cluster: "production"}, "thawed: cluster production"},
		{health.Event{Kind: health.KindThaw}, "thawed: jenkinds"},
	} {
		if got := eventChange(tt.e); got != tt.want {
			t.Errorf("eventChange(%+v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}
