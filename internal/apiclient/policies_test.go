package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// TestRedispatchPolicies drives every policy method of the client against
// the real API and build engine.
func TestRedispatchPolicies(t *testing.T) {
	t.Parallel()
	fleet, c := setupFleet(t, apitest.FleetConfig{})
	ctx := context.Background()

	p, err := c.RedispatchPolicy(ctx, "", "team/deploy")
	if want := (api.RedispatchPolicy{Cluster: "default", Job: "team/deploy", Policy: dispatch.PolicyAlways, Source: api.PolicySourceDefault}); err != nil || p != want {
		t.Errorf("RedispatchPolicy with no rule: %+v, %v", p, err)
	}
	p, err = c.SetRedispatchPolicy(ctx, "", "team/deploy", dispatch.PolicyQueuedOnly)
	if want := (api.RedispatchPolicy{Cluster: "default", Job: "team/deploy", Policy: dispatch.PolicyQueuedOnly, Source: api.PolicySourceJob}); err != nil || p != want {
		t.Errorf("SetRedispatchPolicy of a job: %+v, %v", p, err)
	}
	if got, err := fleet.Service().PolicyOf(ctx, "default", "team/deploy"); err != nil || got != dispatch.PolicyQueuedOnly {
		t.Errorf("the build engine's policy of the job: %s, %v", got, err)
	}
	if _, err := c.SetRedispatchPolicy(ctx, "default", "", dispatch.PolicyAlways); err != nil {
		t.Fatalf("SetRedispatchPolicy of the cluster: %v", err)
	}
	rules, err := c.RedispatchPolicies(ctx, "")
	want := []dispatch.PolicyRule{{Cluster: "default", Policy: dispatch.PolicyAlways}, {Cluster: "default", Job: "team/deploy", Policy: dispatch.PolicyQueuedOnly}}
	if err != nil || !slices.Equal(rules, want) {
		t.Errorf("RedispatchPolicies: %+v, %v", rules, err)
	}
	if rules, err := c.RedispatchPolicies(ctx, "production"); err != nil || len(rules) != 0 {
		t.Errorf("RedispatchPolicies of another cluster: %+v, %v", rules, err)
	}

	if err := c.ClearRedispatchPolicy(ctx, "", "team/deploy"); err != nil {
		t.Fatalf("ClearRedispatchPolicy: %v", err)
	}
	if p, err := c.RedispatchPolicy(ctx, "default", "team/deploy"); err != nil || p.Source != api.PolicySourceCluster || p.Policy != dispatch.PolicyAlways {
		t.Errorf("RedispatchPolicy once the job's is cleared: %+v, %v", p, err)
	}

	var apiErr *apiclient.Error
	if err := c.ClearRedispatchPolicy(ctx, "", "team/deploy"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("ClearRedispatchPolicy of none: %v", err)
	}
	if _, err := c.SetRedispatchPolicy(ctx, "", "", "sometimes"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Field != "policy" {
		t.Errorf("SetRedispatchPolicy of an unknown policy: %v", err)
	}
}
