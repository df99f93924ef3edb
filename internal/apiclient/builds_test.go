package apiclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// TestBuilds drives a build of a Jenkins controller through every
// method of the client against the real API and build engine.
func TestBuilds(t *testing.T) {
	t.Parallel()
	fleet, c := setupFleet(t, apitest.FleetConfig{})
	ctx := context.Background()

	b, err := c.TriggerBuild(ctx, apiclient.Trigger{Job: "build", Parameters: map[string]string{"SIM_RESULT": "SUCCESS", "SEQ": "1"}})
	if err != nil || b.ID == 0 || b.Cluster != "default" || len(b.Params) != 2 {
		t.Fatalf("TriggerBuild: %+v, %v", b, err)
	}
	fleet.WaitBuild(t, b.ID, apitest.Terminal)
	got, err := c.GetBuild(ctx, b.ID)
	if err != nil || got.Result != "SUCCESS" || len(got.Attempts) != 1 || got.Attempts[0].ControllerName != "jenkins-0" || got.Attempts[0].Attempt != 1 {
		t.Fatalf("GetBuild: %+v, %v", got, err)
	}

	// The console, read whole and then from an offset.
	text, next, more, err := c.BuildLog(ctx, b.ID, 0)
	if err != nil || more || next != int64(len(text)) || !strings.HasSuffix(string(text), "Finished: SUCCESS\n") {
		t.Fatalf("BuildLog: %q, %d, %v, %v", text, next, more, err)
	}
	tail, next2, _, err := c.BuildLog(ctx, b.ID, next-18)
	if err != nil || string(tail) != "Finished: SUCCESS\n" || next2 != next {
		t.Errorf("BuildLog from %d: %q, %d, %v", next-18, tail, next2, err)
	}

	held, err := c.TriggerBuild(ctx, apiclient.Trigger{Job: "hello", Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.ListBuilds(ctx, apiclient.BuildFilter{Limit: 1})
	if err != nil || len(page.Builds) != 1 || page.Builds[0].ID != b.ID || page.Next == "" {
		t.Fatalf("ListBuilds page 1: %+v, %v", page, err)
	}
	page, err = c.ListBuilds(ctx, apiclient.BuildFilter{ClusterID: "default", Job: "hello", State: "accepted", After: page.Next})
	if err != nil || len(page.Builds) != 1 || page.Builds[0].ID != held.ID || page.Next != "" {
		t.Fatalf("ListBuilds page 2: %+v, %v", page, err)
	}
	cancelled, err := c.CancelBuild(ctx, held.ID)
	if err != nil || cancelled.State != dispatch.StateCancelled {
		t.Errorf("CancelBuild: %+v, %v", cancelled, err)
	}

	var apiErr *apiclient.Error
	for _, tt := range []struct {
		name string
		err  error
		code string
	}{
		{"cancel a build that ended", second(c.CancelBuild(ctx, b.ID)), api.CodeBuildEnded},
		{"unknown job", second(c.TriggerBuild(ctx, apiclient.Trigger{Job: "nope"})), api.CodeNotFound},
		{"bad state", second(c.ListBuilds(ctx, apiclient.BuildFilter{State: "done"})), api.CodeInvalidParameter},
		{"no such build", second(c.GetBuild(ctx, 999)), api.CodeNotFound},
	} {
		if !errors.As(tt.err, &apiErr) || apiErr.Code != tt.code {
			t.Errorf("%s: got %v, want code %s", tt.name, tt.err, tt.code)
		}
	}
	if _, _, _, err := c.BuildLog(ctx, 999, 0); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("BuildLog of no build: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
