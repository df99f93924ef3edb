package controller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func testRecordHealth(t *testing.T, f fixture) {
	i := f.create(t, input("jenkins-1"))
	f.clock.Advance(30 * time.Second)
	checkedAt := start.Add(30 * time.Second).Truncate(time.Microsecond)

	record := func(r controller.HealthRecord) controller.Instance {
		t.Helper()
		if err := f.store.RecordHealth(f.ctx, i.ID, r); err != nil {
			t.Fatalf("RecordHealth(%+v): %v", r, err)
		}
		got, err := f.store.Get(f.ctx, i.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		return got
	}

	got := record(controller.HealthRecord{Status: balance.Healthy, CurrentLoad: 3, Version: "2.452.1", JenkinsSession: "s1"})
	want := i
	want.HealthStatus, want.CurrentLoad, want.Version, want.JenkinsSession = balance.Healthy, 3, "2.452.1", "s1"
	want.LastHealthCheck = &checkedAt
	if asJSON(t, got) != asJSON(t, want) || got.JenkinsSession != "s1" {
		t.Errorf("after healthy check:\ngot  %s\nwant %s", asJSON(t, got), asJSON(t, want))
	}
	if !got.UpdatedAt.Equal(i.UpdatedAt) {
		t.Errorf("updatedAt after RecordHealth: got %v, want unchanged %v", got.UpdatedAt, i.UpdatedAt)
	}

	// A failed check keeps what it could not see and records why.
	got = record(controller.HealthRecord{Status: balance.Unhealthy, Error: "dial tcp: connection refused"})
	if got.HealthStatus != balance.Unhealthy || got.LastError != "dial tcp: connection refused" ||
		got.Version != "2.452.1" || got.JenkinsSession != "s1" || got.CurrentLoad != 0 || got.RestartCount != 0 {
		t.Errorf("after failed check: got %s session=%q", asJSON(t, got), got.JenkinsSession)
	}
	if !strings.Contains(asJSON(t, got), `"lastError":"dial tcp: connection refused"`) {
		t.Errorf("JSON after failed check: got %s, want lastError", asJSON(t, got))
	}

	// Same session: no restart. New session: one restart.
	got = record(controller.HealthRecord{Status: balance.Healthy, JenkinsSession: "s1"})
	if got.RestartCount != 0 || got.LastError != "" {
		t.Errorf("same session: got restartCount %d, lastError %q, want 0 and cleared", got.RestartCount, got.LastError)
	}
	got = record(controller.HealthRecord{Status: balance.Degraded, JenkinsSession: "s2", Version: "2.460"})
	if got.RestartCount != 1 || got.JenkinsSession != "s2" || got.Version != "2.460" || got.HealthStatus != balance.Degraded {
		t.Errorf("new session: got %s session=%q, want restartCount 1, session s2, version 2.460, degraded", asJSON(t, got), got.JenkinsSession)
	}

	// Long errors are cut, on a character boundary.
	long := strings.Repeat("é", 600) // 1200 bytes
	got = record(controller.HealthRecord{Status: balance.Unhealthy, Error: long})
	if len(got.LastError) > 1000 || !strings.HasPrefix(long, got.LastError) || len(got.LastError) < 998 {
		t.Errorf("long error: got %d bytes, want the first 1000 bytes or fewer of whole characters", len(got.LastError))
	}
}

func testRecordHealthRejects(t *testing.T, f fixture) {
	i := f.create(t, input("jenkins-1"))
	for _, r := range []controller.HealthRecord{
		{Status: balance.Health(7)}, // not a health value: the type allows it, the store does not
		{Status: balance.Healthy, CurrentLoad: -1},
	} {
		if err := f.store.RecordHealth(f.ctx, i.ID, r); err == nil {
			t.Errorf("RecordHealth(%+v): got no error, want one", r)
		}
	}
	if got, _ := f.store.Get(f.ctx, i.ID); got.HealthStatus != balance.Unknown || got.LastHealthCheck != nil {
		t.Errorf("after rejected records: got %q at %v, want unknown, never checked", got.HealthStatus, got.LastHealthCheck)
	}
}
