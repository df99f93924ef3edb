package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func TestClusters(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	if r := f.call(t, "GET", "/api/v1/clusters", ""); r.status != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Errorf("no clusters: got %d %s, want 200 []", r.status, r.body)
	}
	// Created out of cluster order, to check the sorting.
	for _, c := range []struct {
		body   string
		health balance.Health
		load   int
	}{
		{`{"name":"s1","url":"https://s1.example.com","clusterId":"staging","maxConnections":10}`, balance.Healthy, 4},
		{`{"name":"p1","url":"https://p1.example.com","clusterId":"prod","maxConnections":100}`, balance.Healthy, 30},
		{`{"name":"p2","url":"https://p2.example.com","clusterId":"prod","maxConnections":50,"isActive":false}`, balance.Unhealthy, 0},
		{`{"name":"p3","url":"https://p3.example.com","clusterId":"prod","maxConnections":50}`, balance.Healthy, 5},
		{`{"name":"d1","url":"https://d1.example.com"}`, balance.Unknown, 0},
	} {
		i := f.create(t, c.body)
		if c.health != balance.Unknown {
			if err := f.Store.RecordHealth(f.ctx, i.ID, controller.HealthRecord{Status: c.health, CurrentLoad: c.load}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := f.call(t, "GET", "/api/v1/clusters", "")
	if r.status != http.StatusOK {
		t.Fatalf("clusters: got %d %s", r.status, r.body)
	}
	type summary struct {
		id                            string
		total, healthy, load, capacit int
		names                         string
	}
	var got []summary
	for _, c := range decode[[]api.Cluster](t, r) {
		var names []string
		for _, i := range c.Instances {
			names = append(names, i.Name)
		}
		got = append(got, summary{c.ClusterID, c.TotalInstances, c.HealthyInstances, c.TotalLoad, c.TotalCapacity, strings.Join(names, ",")})
	}
	want := []summary{
		{"default", 1, 0, 0, 100, "d1"},
		{"prod", 3, 2, 35, 200, "p1,p2,p3"},
		{"staging", 1, 1, 4, 10, "s1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("clusters:\ngot  %v\nwant %v", got, want)
	}
	for _, key := range []string{`"clusterId":"default"`, `"totalInstances":1`, `"healthyInstances":0`, `"totalLoad":0`, `"totalCapacity":100`, `"instances":[{"id":`} {
		if !strings.Contains(r.body, key) {
			t.Errorf("clusters JSON %s: want %s", r.body, key)
		}
	}
}

func TestOptimalInstance(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"p1","url":"https://p1.example.com","clusterId":"prod"}`)
	var asked apitest.Record
	f.Picker.PickOptimal = func(cluster, strategy string) (controller.Instance, error) {
		asked.Add("%s %s", cluster, strategy)
		switch cluster {
		case "prod":
			return f.Store.Get(context.Background(), i.ID)
		case "down":
			return controller.Instance{}, fmt.Errorf("pick in cluster %q: %w: 3 controllers: 2 unhealthy, 1 inactive", cluster, balance.ErrNoneEligible)
		case "slow":
			return controller.Instance{}, fmt.Errorf("list instances: %w", context.DeadlineExceeded)
		}
		return controller.Instance{}, fmt.Errorf("cluster %q: %w", cluster, controller.ErrNotFound)
	}
	r := f.call(t, "GET", "/api/v1/optimal-instance?clusterId=prod&strategy=weighted", "")
	if got := strings.TrimSpace(r.body); r.status != http.StatusOK || got != apitest.JSON(t, i) {
		t.Errorf("optimal: got %d %s, want 200 %s", r.status, got, apitest.JSON(t, i))
	}

	r = f.call(t, "GET", "/api/v1/optimal-instance?clusterId=down", "")
	wantError(t, r, 503, "no_eligible_instance", "", "no eligible controller", "2 unhealthy, 1 inactive")
	if got := r.header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After: got %q, want 5", got)
	}
	wantError(t, f.call(t, "GET", "/api/v1/optimal-instance", ""), 404, "not_found", "", `cluster "default": not found`)
	wantError(t, f.call(t, "GET", "/api/v1/optimal-instance?clusterId=slow&strategy=round-robin", ""), 504, "timeout", "")
	wantError(t, f.call(t, "GET", "/api/v1/optimal-instance?clusterId=prod&strategy=random", ""), 400, "unknown_strategy", "strategy")

	for _, s := range balance.Strategies() {
		f.call(t, "GET", "/api/v1/optimal-instance?clusterId=prod&strategy="+s, "")
	}
	want := "prod weighted|down least-load|default least-load|slow round-robin|prod least-load|prod round-robin|prod weighted|prod primary-backup"
	if got := asked.String(); got != want {
		t.Errorf("picker asked:\ngot  %s\nwant %s (an unknown strategy must not reach it)", got, want)
	}
	if logs := f.Logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "timed out") {
		t.Errorf("log %q: want a warning about the timeout", logs)
	}
}

func TestPrimaryAndFailover(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	p := f.create(t, `{"name":"p1","url":"https://p1.example.com","clusterId":"prod","isPrimary":true}`)
	b := f.create(t, `{"name":"p2","url":"https://p2.example.com","clusterId":"prod"}`)
	var asked apitest.Record
	f.Picker.OnePrimary(p, b, &asked)
	if r := f.call(t, "GET", "/api/v1/clusters/prod/primary", ""); strings.TrimSpace(r.body) != apitest.JSON(t, p) {
		t.Errorf("primary: got %d %s, want %s", r.status, r.body, apitest.JSON(t, p))
	}
	wantError(t, f.call(t, "GET", "/api/v1/clusters/staging/primary", ""), 404, "not_found", "", `cluster "staging" has no primary`)

	r := f.call(t, "POST", "/api/v1/clusters/prod/failover", fmt.Sprintf(`{"currentInstanceId":%d}`, p.ID))
	if r.status != http.StatusOK || strings.TrimSpace(r.body) != apitest.JSON(t, b) {
		t.Errorf("failover: got %d %s, want 200 %s", r.status, r.body, apitest.JSON(t, b))
	}
	r = f.call(t, "POST", "/api/v1/clusters/prod/failover", fmt.Sprintf(`{"currentInstanceId":%d}`, b.ID))
	wantError(t, r, 503, "no_eligible_instance", "", "1 unhealthy")
	if r.header.Get("Retry-After") != "5" {
		t.Errorf("failover 503: Retry-After %q, want 5", r.header.Get("Retry-After"))
	}
	want := fmt.Sprintf("primary prod|primary staging|failover prod %d|failover prod %d", p.ID, b.ID)
	if got := asked.String(); got != want {
		t.Errorf("picker asked:\ngot  %s\nwant %s", got, want)
	}
}

func TestHealthChecksErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	f.Checker.Check = func(cluster string) ([]api.CheckResult, error) {
		if cluster == "gone" {
			return nil, fmt.Errorf("check cluster: %w", context.Canceled)
		}
		return nil, errors.New("checker is not running")
	}
	wantError(t, f.call(t, "POST", "/api/v1/health-checks", ""), 500, "internal", "")
	wantError(t, f.call(t, "POST", "/api/v1/health-checks?clusterId=gone", ""), 503, "canceled", "")
	if logs := f.Logs.String(); strings.Count(logs, "level=ERROR") != 1 || !strings.Contains(logs, "checker is not running") {
		t.Errorf("log %q: want one error, about the checker, and nothing about the cancellation", logs)
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	notReady := errors.New("database: migrations pending")
	for _, tt := range []struct {
		name            string
		ready           func(context.Context) error
		status          int
		readyz, healthz string
	}{
		{"ready", func(context.Context) error { return nil }, 200, `{"status":"ready"}`, `{"status":"ok"}`},
		{"default ready", nil, 200, `{"status":"ready"}`, `{"status":"ok"}`},
		{"not ready", func(context.Context) error { return notReady }, 503,
			`{"error":{"code":"not_ready","message":"not ready: database: migrations pending"}}`, `{"status":"ok"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, sqlite(t), func(c *api.Config) { c.Ready = tt.ready })
			if r := f.call(t, "GET", "/readyz", "", withoutToken); r.status != tt.status || strings.TrimSpace(r.body) != tt.readyz {
				t.Errorf("/readyz: got %d %s, want %d %s", r.status, r.body, tt.status, tt.readyz)
			}
			if r := f.call(t, "GET", "/healthz", "", withoutToken); r.status != 200 || strings.TrimSpace(r.body) != tt.healthz {
				t.Errorf("/healthz: got %d %s, want 200 %s", r.status, r.body, tt.healthz)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	with := setup(t, sqlite(t))
	if r := with.call(t, "GET", "/metrics", "", withoutToken); r.status != 200 || r.body != "# fake metrics\n" {
		t.Errorf("/metrics: got %d %q, want the metrics handler's answer", r.status, r.body)
	}
	without := setup(t, sqlite(t), func(c *api.Config) { c.Metrics = nil })
	wantError(t, without.call(t, "GET", "/metrics", "", withoutToken), 404, "not_found", "")
}
