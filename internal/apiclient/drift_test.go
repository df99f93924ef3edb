package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/jobsync"
)

type driftFunc func(cluster string) (jobsync.Report, error)

func (f driftFunc) Drift(_ context.Context, cluster string) (jobsync.Report, error) {
	return f(cluster)
}

func TestDrift(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, dbtest.Engines(t)[0], func(c *api.Config) {
		c.Drift = driftFunc(func(cluster string) (jobsync.Report, error) {
			if cluster != controller.DefaultCluster {
				return jobsync.Report{}, controller.ErrNotFound
			}
			return jobsync.Report{Cluster: cluster, Summary: jobsync.Summary{Jobs: 2, InSync: 1, Differs: 1}}, nil
		})
	})
	c := client(t, s.URL, apitest.Token)
	rep, err := c.Drift(context.Background(), "")
	if err != nil || rep.Cluster != controller.DefaultCluster || rep.Summary.Drifted() != 1 {
		t.Errorf("Drift: got %+v, %v", rep, err)
	}
	var ae *apiclient.Error
	if _, err := c.Drift(context.Background(), "nope"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("Drift of an unknown cluster: got %v, want a 404 *apiclient.Error", err)
	}
}
