package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/health"
)

// TestEvents reads the health authority's events through every method of
// the client against the real API, the real health.Monitor and its log
// in the database.
func TestEvents(t *testing.T) {
	t.Parallel()
	fleet, c := setupFleet(t, apitest.FleetConfig{Controllers: 2, Cluster: "production"})
	ctx := context.Background()
	a := fleet.Instances[0]
	fleet.Monitor().NoteStarved(time.Now(), 300*time.Millisecond) // a freeze of jenkinds' own
	fleet.Fail(t, a.ID)                                           // a transition of a
	stored := fleet.WaitEvents(t, 2)

	all, err := c.Events(ctx, "", apiclient.EventPage{})
	if err != nil || len(all.Events) != 2 || all.Events[0].ID != stored[0].ID || all.Next != 0 || len(all.Frozen) != 1 || all.Frozen[0].Cluster != "" {
		t.Fatalf("Events: %+v, %v", all, err)
	}
	newest := all.Events[0]
	if newest.Kind != health.KindTransition || newest.ControllerID != a.ID || newest.From != "healthy" || newest.To != "unhealthy" || newest.Source != health.SourcePassive {
		t.Errorf("the newest event: %+v", newest)
	}
	page, err := c.Events(ctx, "production", apiclient.EventPage{Limit: 1})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != newest.ID || page.Next != newest.ID {
		t.Fatalf("Events of production, limit 1: %+v, %v", page, err)
	}
	page, err = c.Events(ctx, "production", apiclient.EventPage{Limit: 1, Before: page.Next})
	if err != nil || len(page.Events) != 1 || page.Events[0].Kind != health.KindFreeze || page.Events[0].Cluster != "" || page.Next != 0 {
		t.Errorf("Events of production, the older page: %+v, %v", page, err)
	}

	mine, err := c.InstanceEvents(ctx, a.ID, apiclient.EventPage{Limit: 10})
	if err != nil || len(mine.Events) != 2 || mine.Events[0].ID != newest.ID {
		t.Errorf("InstanceEvents of %d: %+v, %v", a.ID, mine, err)
	}
	other, err := c.InstanceEvents(ctx, fleet.Instances[1].ID, apiclient.EventPage{})
	if err != nil || len(other.Events) != 1 || other.Events[0].Kind != health.KindFreeze {
		t.Errorf("InstanceEvents of the other: %+v, %v", other, err)
	}

	var apiErr *apiclient.Error
	if _, err := c.InstanceEvents(ctx, 999, apiclient.EventPage{}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || apiErr.Code != api.CodeNotFound {
		t.Errorf("InstanceEvents of no instance: %v", err)
	}
	if _, err := c.Events(ctx, "", apiclient.EventPage{Limit: 5000}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Field != "limit" {
		t.Errorf("Events with limit 5000: %v", err)
	}
}
