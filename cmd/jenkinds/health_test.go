package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
)

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	var asked apitest.Record
	at := time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)
	f.Checker.Check = func(cluster string) ([]api.CheckResult, error) {
		asked.Add("%s", cluster)
		switch cluster {
		case "empty":
			return nil, nil
		case "broken":
			return nil, errors.New("monitor stopped")
		}
		return []api.CheckResult{
			{InstanceID: 1, Name: "a", ClusterID: "prod", Status: "healthy", PreviousStatus: "unknown", LatencyMs: 12, Version: "2.452.1", CheckedAt: at},
			{InstanceID: 2, Name: "b", ClusterID: "prod", Status: "unhealthy", PreviousStatus: "healthy", LatencyMs: 5000, Error: "timeout after 5s:\ncontext deadline exceeded", CheckedAt: at},
		}, nil
	}
	want := []string{
		"ID NAME CLUSTER STATUS WAS LATENCY VERSION ERROR",
		"1 a prod healthy unknown 12ms 2.452.1 -",
		"2 b prod unhealthy healthy 5000ms - timeout after 5s: context deadline exceeded",
		"2 checked: 1 healthy, 1 unhealthy",
	}
	if got := lines(f.run(t, "health", "check").stdout); !slices.Equal(got, want) {
		t.Errorf("health check:\ngot  %q\nwant %q", got, want)
	}
	f.run(t, "health", "check", "--cluster", "prod", "-o", "json").want(t, 0, []string{`"previousStatus": "unknown"`, `"latencyMs": 5000`}, nil)
	if got := lines(f.run(t, "health", "check", "--cluster", "empty").stdout); !slices.Equal(got, []string{want[0], "0 checked"}) {
		t.Errorf("health check of nothing: got %q", got)
	}
	f.run(t, "health", "check", "--cluster", "broken").want(t, 1, nil, []string{"jenkinds: internal error: the details are in the server's log"})
	if want := "|prod|empty|broken"; asked.String() != want {
		t.Errorf("checker asked %q, want %q", asked.String(), want)
	}
}
