package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func TestInstanceStats(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"a","url":"https://a.example.com","maxConnections":3}`)
	if err := f.Store.RecordHealth(f.ctx, i.ID, controller.HealthRecord{Status: balance.Healthy, CurrentLoad: 2}); err != nil {
		t.Fatal(err)
	}
	var asked apitest.Record
	f.Prober.Live = func(inst controller.Instance) (api.LiveStats, error) {
		asked.Add("%d", inst.ID)
		return api.LiveStats{TotalJobs: 12, ActiveJobs: 3, TotalExecutors: 3, BusyExecutors: 1, IdleExecutors: 2, RunningBuilds: 1, QueuedItems: 4, OnlineAgents: 2}, nil
	}
	r := f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/stats", i.ID), "")
	if r.status != http.StatusOK {
		t.Fatalf("stats: got %d %s", r.status, r.body)
	}
	want := fmt.Sprintf(`{"instanceId":%d,"name":"a","currentLoad":2,"maxConnections":3,"utilizationPercent":66.7,`+
		`"healthStatus":"healthy","lastHealthCheck":"2025-03-01T12:00:00Z",`+
		`"totalJobs":12,"activeJobs":3,"totalExecutors":3,"busyExecutors":1,"idleExecutors":2,"runningBuilds":1,"queuedItems":4,"onlineAgents":2,`+
		`"executorUtilization":33.3}`, i.ID)
	if got := strings.TrimSpace(r.body); got != want {
		t.Errorf("stats:\ngot  %s\nwant %s", got, want)
	}
	if got, want := asked.String(), fmt.Sprint(i.ID); got != want {
		t.Errorf("prober asked about %q, want %q", got, want)
	}
}

// TestInstanceStatsControllerDown checks that an unreachable controller
// still gets a 200 with the stored figures and the reason.
func TestInstanceStatsControllerDown(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"a","url":"https://a.example.com"}`)
	f.Prober.Live = func(controller.Instance) (api.LiveStats, error) {
		return api.LiveStats{}, errors.New("dial tcp 10.0.0.1:8080: connection refused")
	}
	r := f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/stats", i.ID), "")
	want := fmt.Sprintf(`{"instanceId":%d,"name":"a","currentLoad":0,"maxConnections":100,"utilizationPercent":0,`+
		`"healthStatus":"unknown","lastHealthCheck":null,`+
		`"error":"the controller did not answer, so only the stored figures are shown: dial tcp 10.0.0.1:8080: connection refused"}`, i.ID)
	if got := strings.TrimSpace(r.body); r.status != http.StatusOK || got != want {
		t.Errorf("stats of a down controller: got %d\n%s\nwant 200\n%s", r.status, got, want)
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		load, max              int
		busy, total            int
		wantUtil, wantExecUtil float64
	}{
		{0, 100, 0, 0, 0, 0},
		{25, 100, 1, 4, 25, 25},
		{1, 3, 1, 3, 33.3, 33.3},
		{2, 3, 2, 3, 66.7, 66.7},
		{1, 8, 1, 8, 12.5, 12.5},
		{150, 100, 5, 4, 150, 125}, // over capacity shows as such
		{1, 1000, 1, 1000, 0.1, 0.1},
		{1, 100000, 1, 100000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d of %d", tt.load, tt.max), func(t *testing.T) {
			t.Parallel()
			f := setup(t, sqlite(t))
			i := f.create(t, fmt.Sprintf(`{"name":"a","url":"https://a.example.com","maxConnections":%d}`, tt.max))
			if err := f.Store.RecordHealth(f.ctx, i.ID, controller.HealthRecord{Status: balance.Healthy, CurrentLoad: tt.load}); err != nil {
				t.Fatal(err)
			}
			f.Prober.Live = func(controller.Instance) (api.LiveStats, error) {
				return api.LiveStats{BusyExecutors: tt.busy, TotalExecutors: tt.total}, nil
			}
			st := decode[api.InstanceStats](t, f.call(t, "GET", fmt.Sprintf("/api/v1/instances/%d/stats", i.ID), ""))
			if st.UtilizationPercent != tt.wantUtil {
				t.Errorf("utilizationPercent: got %v, want %v", st.UtilizationPercent, tt.wantUtil)
			}
			if st.ExecutorUtilization == nil || *st.ExecutorUtilization != tt.wantExecUtil {
				t.Errorf("executorUtilization: got %v, want %v", st.ExecutorUtilization, tt.wantExecUtil)
			}
		})
	}
}

func TestTestConnection(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	var calls apitest.Record
	f.Prober.Test = func(url, username, token string) api.TestResult {
		calls.Add("%s %s %s", url, username, token)
		if token != "good" {
			return api.TestResult{Success: false, Message: "Jenkins answered 401: check the username and API token"}
		}
		return api.TestResult{Success: true, Version: "2.452.1", Message: "connected as " + username}
	}
	for _, tt := range []struct{ body, want, call string }{
		{`{"url":"https://jenkins.example.com/","username":"admin","apiToken":"good"}`,
			`{"success":true,"version":"2.452.1","message":"connected as admin"}`,
			"https://jenkins.example.com admin good"},
		{`{"url":" http://10.0.0.1:8080/jenkins ","username":"admin","apiToken":"bad"}`,
			`{"success":false,"version":"","message":"Jenkins answered 401: check the username and API token"}`,
			"http://10.0.0.1:8080/jenkins admin bad"},
	} {
		before := calls.String()
		r := f.call(t, "POST", "/api/v1/instances/test-connection", tt.body)
		if got := strings.TrimSpace(r.body); r.status != http.StatusOK || got != tt.want {
			t.Errorf("test-connection %s: got %d %s, want 200 %s", tt.body, r.status, got, tt.want)
		}
		if got := strings.TrimPrefix(strings.TrimPrefix(calls.String(), before), "|"); got != tt.call {
			t.Errorf("test-connection %s: prober got %q, want one call %q", tt.body, got, tt.call)
		}
	}

	before := calls.String()
	for _, url := range []string{"", "jenkins.example.com", "ftp://jenkins.example.com", "https://u:p@jenkins.example.com", "https://", "https://jenkins.example.com/?q=1"} {
		wantError(t, f.call(t, "POST", "/api/v1/instances/test-connection", fmt.Sprintf(`{"url":%q}`, url)), 400, "invalid_field", "url")
	}
	if calls.String() != before {
		t.Errorf("prober called for invalid URLs: %q", strings.TrimPrefix(calls.String(), before))
	}
	if r := f.call(t, "GET", "/api/v1/instances", ""); strings.TrimSpace(r.body) != "[]" {
		t.Errorf("instances after test-connection: got %s, want none registered", r.body)
	}
}

// TestCheckResultJSON pins the JSON of a check result.
func TestCheckResultJSON(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	at := time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)
	var clusters apitest.Record
	f.Checker.Check = func(cluster string) ([]api.CheckResult, error) {
		clusters.Add("%s", cluster)
		if cluster == "empty" {
			return nil, nil
		}
		return []api.CheckResult{{InstanceID: 1, Name: "a", ClusterID: "prod", Status: "unhealthy", PreviousStatus: "healthy",
			LatencyMs: 5003, Version: "2.452.1", Error: "timeout after 5s", CheckedAt: at}}, nil
	}
	r := f.call(t, "POST", "/api/v1/health-checks?clusterId=prod", "")
	want := `[{"instanceId":1,"name":"a","clusterId":"prod","status":"unhealthy","previousStatus":"healthy","latencyMs":5003,` +
		`"version":"2.452.1","error":"timeout after 5s","checkedAt":"2025-03-01T12:00:30Z"}]`
	if got := strings.TrimSpace(r.body); r.status != http.StatusOK || got != want {
		t.Errorf("health checks: got %d %s\nwant 200 %s", r.status, got, want)
	}
	if r := f.call(t, "POST", "/api/v1/health-checks?clusterId=empty", ""); strings.TrimSpace(r.body) != "[]" {
		t.Errorf("health checks of nothing: got %s, want []", r.body)
	}
	f.call(t, "POST", "/api/v1/health-checks", "")
	if got, want := clusters.String(), "prod|empty|"; got != want {
		t.Errorf("checker asked for clusters %q, want %q", got, want)
	}
}

// TestInstanceStatsCanceled checks that a request canceled while the
// controller is asked is not reported as the controller being down.
func TestInstanceStatsCanceled(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"a","url":"https://a.example.com"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Prober.Live = func(controller.Instance) (api.LiveStats, error) {
		cancel() // the client goes away while Jenkins is asked
		return api.LiveStats{}, fmt.Errorf("get computers: %w", context.Canceled)
	}
	req := httptest.NewRequestWithContext(ctx, "GET", fmt.Sprintf("/api/v1/instances/%d/stats", i.ID), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	w := httptest.NewRecorder()
	f.Handler.ServeHTTP(w, req)
	wantError(t, response{w.Code, w.Header(), w.Body.String()}, 503, "canceled", "")
	if strings.Contains(f.Logs.String(), "live stats unavailable") {
		t.Errorf("log %q: a canceled request was logged as the controller being down", f.Logs.String())
	}
}
