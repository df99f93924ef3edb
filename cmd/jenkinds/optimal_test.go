package main

import (
	"fmt"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func TestOptimal(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	a := f.add(t, controller.CreateInput{Name: "a", URL: "https://a.example.com", ClusterID: ptr("prod")})
	var asked apitest.Record
	f.Picker.PickOptimal = func(cluster, strategy string) (controller.Instance, error) {
		asked.Add("%s %s", cluster, strategy)
		if cluster == "empty" {
			return controller.Instance{}, fmt.Errorf("%w: no controllers", balance.ErrNoneEligible)
		}
		return a, nil
	}
	f.run(t, "optimal", "--cluster", "prod", "--strategy", "weighted").want(t, 0, []string{"Name:", " a\n", "Cluster:", "prod"}, nil)
	f.run(t, "optimal", "-o", "json").want(t, 0, []string{`"name": "a"`}, nil)
	f.run(t, "optimal", "--cluster", "empty").want(t, 1, nil, []string{"jenkinds: no eligible controller: no controllers\n"})
	f.run(t, "optimal", "--strategy", "fastest").want(t, 2, nil, []string{`jenkinds: usage: optimal: --strategy: unknown balance strategy "fastest" (valid: least-load, round-robin, weighted, primary-backup)`})
	f.run(t, "optimal", "prod").want(t, 2, nil, []string{`unexpected argument "prod"`})
	if want := "prod weighted|default least-load|empty least-load"; asked.String() != want {
		t.Errorf("picker asked %q, want %q (an unknown strategy must not reach the server)", asked.String(), want)
	}
}
