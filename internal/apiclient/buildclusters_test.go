package apiclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/worker"
)

// TestBuildClusterRoutes calls every build cluster and pipeline build
// method once against the real API.
func TestBuildClusterRoutes(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()
	k, err := worker.GenerateKey(buildcluster.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.PublicPEM()
	key := buildcluster.PublicKey{KID: k.KID(), Algorithm: k.Algorithm, PEM: string(pub)}

	bc, err := c.CreateBuildCluster(ctx, buildcluster.CreateInput{Name: "iOS", SCMContext: "github:github.com",
		ManagedBy: buildcluster.ManagedByExternal, SCMOrganizations: []string{"ios-team"}, Weight: ptr(0)})
	if err != nil || bc.Name != "iOS" || bc.Weight != 0 || !bc.IsActive {
		t.Fatalf("CreateBuildCluster: got %+v, %v", bc, err)
	}
	_, err = c.CreateBuildCluster(ctx, buildcluster.CreateInput{Name: "x", SCMContext: "github:github.com", ManagedBy: buildcluster.ManagedByExternal})
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 422 || apiErr.Code != api.CodeExternalWithoutOrganizations || apiErr.Field != "scmOrganizations" {
		t.Errorf("external without organizations: got %v", err)
	}
	if list, err := c.ListBuildClusters(ctx, buildcluster.ListFilter{SCMContext: "github:github.com", ActiveOnly: true}); err != nil || len(list) != 1 {
		t.Errorf("ListBuildClusters: got %+v, %v", list, err)
	}
	if got, err := c.GetBuildCluster(ctx, "iOS", ""); err != nil || got.ID != bc.ID {
		t.Errorf("GetBuildCluster: got %+v, %v", got, err)
	}
	if got, err := c.UpdateBuildCluster(ctx, "iOS", "github:github.com", buildcluster.Patch{Description: ptr("macs")}); err != nil || got.Description != "macs" {
		t.Errorf("UpdateBuildCluster: got %+v, %v", got, err)
	}
	if got, err := c.AddBuildClusterKey(ctx, "iOS", "", key); err != nil || len(got.PublicKeys) != 1 || got.PublicKeys[0].KID != key.KID {
		t.Errorf("AddBuildClusterKey: got %+v, %v", got, err)
	}

	b, err := c.SubmitPipelineBuild(ctx, api.BuildRequest{SCMContext: "github:github.com", Pipeline: "ios-team/app", Job: "main",
		Annotations: map[string]string{buildcluster.AnnotationBuildCluster: "iOS"}, Steps: []buildcluster.Step{{Name: "t", Command: "true"}}})
	if err != nil || b.BuildCluster != "iOS" || b.Job.ID <= 0 {
		t.Fatalf("SubmitPipelineBuild: got %+v, %v", b, err)
	}
	if j, err := c.QueueJob(ctx, b.Job.ID); err != nil || j.State != queue.StateAvailable || j.Cluster != "iOS" {
		t.Errorf("QueueJob: got %+v, %v", j, err)
	}
	// Run the job as a worker would, with a log, then read it back.
	j, err := s.Queue.Lease(ctx, "iOS", "w", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.JobLogs.Append(ctx, j.ID, j.Attempt, 0, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if text, err := c.QueueJobLog(ctx, j.ID, 0); err != nil || string(text) != "hello\n" {
		t.Errorf("QueueJobLog: got %q, %v", text, err)
	}
	if text, err := c.QueueJobLog(ctx, j.ID, 1); err != nil || string(text) != "hello\n" {
		t.Errorf("QueueJobLog(attempt 1): got %q, %v", text, err)
	}

	if got, err := c.RemoveBuildClusterKey(ctx, "iOS", "", key.KID); err != nil || len(got.PublicKeys) != 0 {
		t.Errorf("RemoveBuildClusterKey: got %+v, %v", got, err)
	}
	if err := c.DeleteBuildCluster(ctx, "iOS", "github:github.com"); err != nil {
		t.Errorf("DeleteBuildCluster: %v", err)
	}
	if _, err := c.GetBuildCluster(ctx, "iOS", ""); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("GetBuildCluster after delete: got %v, want 404", err)
	}
}
