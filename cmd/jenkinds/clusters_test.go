package main

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func TestClustersList(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	want := []string{"CLUSTER INSTANCES HEALTHY LOAD CAPACITY UTILIZATION"}
	if got := lines(f.run(t, "clusters", "list").stdout); !slices.Equal(got, want) {
		t.Errorf("no clusters: got %q, want %q", got, want)
	}
	for _, c := range []struct {
		name, cluster string
		max, load     int
		health        balance.Health
	}{
		{"p1", "prod", 100, 30, balance.Healthy},
		{"p2", "prod", 50, 0, balance.Unhealthy},
		{"s1", "staging", 3, 1, balance.Healthy},
	} {
		i := f.add(t, controller.CreateInput{Name: c.name, URL: "https://" + c.name + ".example.com", ClusterID: ptr(c.cluster), MaxConnections: ptr(c.max)})
		if err := f.Store.RecordHealth(context.Background(), i.ID, controller.HealthRecord{Status: c.health, CurrentLoad: c.load}); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "prod 2 1 30 150 20.0%", "staging 1 1 1 3 33.3%")
	if got := lines(f.run(t, "clusters", "list").stdout); !slices.Equal(got, want) {
		t.Errorf("clusters:\ngot  %q\nwant %q", got, want)
	}
	f.run(t, "clusters", "list", "-o", "json").want(t, 0, []string{`"clusterId": "prod"`, `"totalCapacity": 150`, `"instances": [`}, nil)
}

func TestClustersPrimaryAndFailover(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	p := f.add(t, controller.CreateInput{Name: "p1", URL: "https://p1.example.com", ClusterID: ptr("prod"), IsPrimary: true})
	b := f.add(t, controller.CreateInput{Name: "p2", URL: "https://p2.example.com", ClusterID: ptr("prod")})
	var asked apitest.Record
	f.Picker.OnePrimary(p, b, &asked)
	f.run(t, "clusters", "primary", "prod").want(t, 0, []string{"Name:", "p1", "Primary:", "yes"}, nil)
	f.run(t, "clusters", "primary", "staging").want(t, 1, nil, []string{`jenkinds: cluster "staging" has no primary: not found`})
	f.run(t, "clusters", "failover", "prod", "--from", "p1").want(t, 0, []string{"Name:", "p2"}, nil)
	f.run(t, "clusters", "failover", "--from", "2", "prod", "-o", "json").want(t, 1, nil, []string{"jenkinds: no eligible controller: 1 controller: 1 unhealthy\n"})
	f.run(t, "clusters", "failover", "prod").want(t, 2, nil, []string{"clusters failover: --from is required"})
	f.run(t, "clusters", "failover", "prod", "--from", "nope").want(t, 1, nil, []string{`no instance is named "nope"`})
	f.run(t, "clusters", "primary").want(t, 2, nil, []string{"want CLUSTER"})
	if want := fmt.Sprintf("primary prod|primary staging|failover prod %d|failover prod %d", p.ID, b.ID); asked.String() != want {
		t.Errorf("picker asked %q, want %q", asked.String(), want)
	}
}
