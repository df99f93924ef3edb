package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/worker"
)

// publicKeyJSON is a fresh Ed25519 public key as the API takes it.
func publicKeyJSON(t *testing.T, kid string) string {
	t.Helper()
	k, err := worker.GenerateKey(buildcluster.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.PublicPEM()
	b, _ := json.Marshal(buildcluster.PublicKey{KID: kid, Algorithm: buildcluster.AlgEdDSA, PEM: string(pub)})
	return string(b)
}

func TestBuildClusterRegistry(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			testBuildClusterRegistry(t, e)
		})
	}
}

func testBuildClusterRegistry(t *testing.T, e dbtest.Engine) {
	f := setup(t, e)
	key := publicKeyJSON(t, "k1")
	r := f.call(t, "POST", "/api/v1/buildClusters", `{"name":"bf1","scmContext":"github:git.ouroath.com","managedBy":"screwdriver","publicKeys":[`+key+`]}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/api/v1/buildClusters/bf1?scmContext=github%3Agit.ouroath.com" {
		t.Fatalf("create: got %d Location %q: %s", r.status, r.header.Get("Location"), r.body)
	}
	bf1 := decode[buildcluster.Cluster](t, r)
	if !bf1.IsActive || bf1.Weight != 100 || len(bf1.PublicKeys) != 1 || bf1.SCMOrganizations == nil {
		t.Errorf("create: got %+v, want active, weight 100, one key", bf1)
	}
	if loc := f.call(t, "GET", r.header.Get("Location"), ""); loc.status != http.StatusOK || decode[buildcluster.Cluster](t, loc).ID != bf1.ID {
		t.Errorf("GET Location: got %d %s", loc.status, loc.body)
	}
	r = f.call(t, "POST", "/api/v1/buildClusters", `{"name":"gq1","scmContext":"github:git.ouroath.com","managedBy":"screwdriver","isActive":false,"weight":0}`)
	if gq1 := decode[buildcluster.Cluster](t, r); r.status != http.StatusCreated || gq1.IsActive || gq1.Weight != 0 {
		t.Errorf("create inactive, weight 0: got %d %+v, want both honoured", r.status, gq1)
	}
	f.call(t, "POST", "/api/v1/buildClusters", `{"name":"bf1","scmContext":"github:github.com","managedBy":"screwdriver"}`)

	for _, tt := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"external without organizations", `{"name":"iOS","scmContext":"github:git.ouroath.com","managedBy":"external"}`,
			422, api.CodeExternalWithoutOrganizations, "scmOrganizations"},
		{"bad name", `{"name":"i OS","scmContext":"github:git.ouroath.com","managedBy":"screwdriver"}`, 400, api.CodeInvalidField, "name"},
		{"weight over 100", `{"name":"x","scmContext":"github:git.ouroath.com","managedBy":"screwdriver","weight":101}`, 400, api.CodeInvalidField, "weight"},
		{"second active record", `{"name":"bf1","scmContext":"github:git.ouroath.com","managedBy":"screwdriver"}`, 409, api.CodeConflict, "isActive"},
		{"a private key", `{"name":"x","scmContext":"github:git.ouroath.com","managedBy":"screwdriver","publicKeys":[{"kid":"a","algorithm":"EdDSA","pem":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}]}`,
			400, api.CodeInvalidField, "publicKeys[0].pem"},
		{"unknown field", `{"name":"x","authKey":"iOS_publickey"}`, 400, api.CodeUnknownField, "authKey"},
	} {
		wantError(t, f.call(t, "POST", "/api/v1/buildClusters", tt.body), tt.status, tt.code, tt.field)
	}

	list := decode[[]buildcluster.Cluster](t, f.call(t, "GET", "/api/v1/buildClusters", ""))
	var names []string
	for _, c := range list {
		names = append(names, c.Name+"@"+c.SCMContext)
	}
	if want := []string{"bf1@github:git.ouroath.com", "bf1@github:github.com", "gq1@github:git.ouroath.com"}; !slices.Equal(names, want) {
		t.Errorf("list: got %v, want %v", names, want)
	}
	if got := decode[[]buildcluster.Cluster](t, f.call(t, "GET", "/api/v1/buildClusters?active=true&scmContext=github:git.ouroath.com", "")); len(got) != 1 || got[0].Name != "bf1" {
		t.Errorf("list active of one scmContext: got %+v", got)
	}
	wantError(t, f.call(t, "GET", "/api/v1/buildClusters?active=no", ""), 400, api.CodeInvalidParameter, "active")

	// A name of two scmContexts must be asked for with one.
	wantError(t, f.call(t, "GET", "/api/v1/buildClusters/bf1", ""), 409, api.CodeAmbiguousCluster, "scmContext", "github:github.com")
	if r := f.call(t, "GET", "/api/v1/buildClusters/bf1?scmContext=github:git.ouroath.com", ""); r.status != 200 {
		t.Errorf("get with scmContext: got %d %s", r.status, r.body)
	}
	wantError(t, f.call(t, "GET", "/api/v1/buildClusters/nosuch", ""), 404, api.CodeNotFound, "")
	wantError(t, f.call(t, "GET", "/api/v1/buildClusters/gq1?cluster=x", ""), 400, api.CodeInvalidParameter, "cluster")

	r = f.call(t, "PUT", "/api/v1/buildClusters/gq1", `{"isActive":true,"weight":50,"description":"back"}`)
	if gq1 := decode[buildcluster.Cluster](t, r); r.status != 200 || !gq1.IsActive || gq1.Weight != 50 || gq1.Description != "back" {
		t.Errorf("update: got %d %+v", r.status, gq1)
	}
	wantError(t, f.call(t, "PUT", "/api/v1/buildClusters/gq1", `{"name":"gq2"}`), 400, api.CodeInvalidField, "name")
	wantError(t, f.call(t, "PUT", "/api/v1/buildClusters/gq1", `{"managedBy":"external"}`), 422, api.CodeExternalWithoutOrganizations, "scmOrganizations")

	// Keys: add one for a rotation, a taken kid, remove, an unknown kid.
	path := "/api/v1/buildClusters/bf1/keys?scmContext=github:git.ouroath.com"
	r = f.call(t, "POST", path, publicKeyJSON(t, "k2"))
	if c := decode[buildcluster.Cluster](t, r); r.status != 200 || len(c.PublicKeys) != 2 {
		t.Errorf("add key: got %d %s", r.status, r.body)
	}
	wantError(t, f.call(t, "POST", path, publicKeyJSON(t, "k2")), 409, api.CodeConflict, "kid")
	wantError(t, f.call(t, "POST", path, `{"kid":"k3","algorithm":"HS256","pem":"x"}`), 400, api.CodeInvalidField, "algorithm")
	r = f.call(t, "DELETE", "/api/v1/buildClusters/bf1/keys/k1?scmContext=github:git.ouroath.com", "")
	if c := decode[buildcluster.Cluster](t, r); r.status != 200 || len(c.PublicKeys) != 1 || c.PublicKeys[0].KID != "k2" {
		t.Errorf("remove key: got %d %s", r.status, r.body)
	}
	wantError(t, f.call(t, "DELETE", "/api/v1/buildClusters/bf1/keys/k1?scmContext=github:git.ouroath.com", ""), 404, api.CodeNotFound, "")

	if r := f.call(t, "DELETE", "/api/v1/buildClusters/gq1", ""); r.status != http.StatusNoContent || r.body != "" {
		t.Errorf("delete: got %d %q, want 204 and no body", r.status, r.body)
	}
	wantError(t, f.call(t, "GET", "/api/v1/buildClusters/gq1", ""), 404, api.CodeNotFound, "")
	if !strings.Contains(f.Logs.String(), `msg="build cluster registered" cluster=bf1`) {
		t.Errorf("log: want the registration:\n%s", f.Logs)
	}
}

// seedYAML is the design's screwdriver.yaml example, sloppy indentation
// and all; it names the cluster with the draft's annotation key.
const seedYAML = `shared:
    environment:
    NODE_ENV: test
    annotations:
        buildCluster: iOS
jobs:
    main:
        image: node:6
        steps:
    - init: npm install
    - test: npm test
    publish:
    requires: main
    image: node:6
    steps:
        - publish: npm publish
`

// seedClusters registers the design's sample records (its table, with
// github:git.ouroath.com as scmContext).
func seedClusters(t *testing.T, f *fixture) {
	t.Helper()
	no := false
	for _, in := range []buildcluster.CreateInput{
		{Name: "gq1", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByScrewdriver, IsActive: &no},
		{Name: "bf1", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByScrewdriver},
		{Name: "identity", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByExternal, SCMOrganizations: []string{"identity_org1", "identity_org2"}},
		{Name: "identity", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByExternal, SCMOrganizations: []string{"identity_org1", "identity_org2"}, IsActive: &no},
		{Name: "iOS", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByExternal, SCMOrganizations: []string{"iOS_org1", "iOS_org2"}, ManagedByEmail: "ios-ci@example.com"},
	} {
		if _, err := f.BuildClusters.Create(f.ctx, in); err != nil {
			t.Fatalf("seed %s: %v", in.Name, err)
		}
	}
}

// build renders a POST /api/v1/builds body.
func build(t *testing.T, req api.BuildRequest) string {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPipelineBuildRouting(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	seedClusters(t, f)
	const scm = "github:git.ouroath.com"
	steps := []buildcluster.Step{{Name: "test", Command: "npm test"}}
	named := func(c string) map[string]string { return map[string]string{buildcluster.AnnotationBuildCluster: c} }
	for _, tt := range []struct {
		name    string
		req     api.BuildRequest
		cluster string
		reason  string // the decision's reason mentions it
	}{
		{"no annotation: the shared pool", api.BuildRequest{SCMContext: scm, Pipeline: "someorg/app", Job: "main", Steps: steps}, "bf1", "drew bf1 by weight"},
		{"named, allowed", api.BuildRequest{SCMContext: scm, Pipeline: "iOS_org1/app", Job: "main", Steps: steps, Annotations: named("iOS")}, "iOS", "named in"},
		{"organizations compare case-insensitively", api.BuildRequest{SCMContext: scm, Pipeline: "ios_ORG2/app", Job: "main", Steps: steps, Annotations: named("iOS")}, "iOS", "named in"},
		{"active record of a name with an inactive one", api.BuildRequest{SCMContext: scm, Pipeline: "identity_org2/svc", Job: "main", Steps: steps, Annotations: named("identity")}, "identity", "named in"},
		{"named inactive: a stand-in of its kind", api.BuildRequest{SCMContext: scm, Pipeline: "someorg/app", Job: "main", Steps: steps, Annotations: named("gq1")}, "bf1", "gq1 named in screwdriver.cd/buildCluster is inactive"},
		{"the design's yaml", api.BuildRequest{SCMContext: scm, Pipeline: "iOS_org2/app", Job: "main", YAML: seedYAML}, "iOS", "named in"},
		{"the body's annotation over the yaml's", api.BuildRequest{SCMContext: scm, Pipeline: "someorg/app", Job: "publish", YAML: seedYAML, Annotations: named("bf1")}, "bf1", "named in"},
	} {
		r := f.call(t, "POST", "/api/v1/builds", build(t, tt.req))
		if r.status != http.StatusCreated {
			t.Errorf("%s: got %d %s, want 201", tt.name, r.status, r.body)
			continue
		}
		b := decode[api.PipelineBuild](t, r)
		if b.BuildCluster != tt.cluster || b.Job.Cluster != tt.cluster || !strings.Contains(b.Reason, tt.reason) {
			t.Errorf("%s: got %s (%s), want %s (%s)", tt.name, b.BuildCluster, b.Reason, tt.cluster, tt.reason)
		}
		if want := fmt.Sprintf("/api/v1/queue/jobs/%d", b.Job.ID); r.header.Get("Location") != want || b.Job.State != queue.StateAvailable {
			t.Errorf("%s: Location %q, state %s", tt.name, r.header.Get("Location"), b.Job.State)
		}
	}

	// The queued job carries what the worker runs: the yaml's job, merged.
	r := f.call(t, "POST", "/api/v1/builds", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "iOS_org1/app", Job: "main", YAML: seedYAML,
		Environment: map[string]string{"EXTRA": "1"}}))
	b := decode[api.PipelineBuild](t, r)
	if len(b.Warnings) == 0 {
		t.Errorf("the design's yaml: want warnings about its indentation, got none")
	}
	j := decode[queue.Job](t, f.call(t, "GET", r.header.Get("Location"), ""))
	var spec api.BuildSpec
	if err := json.Unmarshal(j.Payload, &spec); err != nil {
		t.Fatal(err)
	}
	want := api.BuildSpec{SCMContext: scm, Pipeline: "iOS_org1/app", Job: "main", BuildCluster: "iOS", Image: "node:6",
		Annotations: map[string]string{buildcluster.AnnotationBuildCluster: "iOS"},
		Environment: map[string]string{"NODE_ENV": "test", "EXTRA": "1"},
		Steps:       []buildcluster.Step{{Name: "init", Command: "npm install"}, {Name: "test", Command: "npm test"}}}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("payload:\n got %+v\nwant %+v", spec, want)
	}
	if r := f.call(t, "GET", r.header.Get("Location")+"/log", ""); r.status != 200 || r.body != "" || r.header.Get("X-Jenkinds-Attempt") != "1" {
		t.Errorf("log of a job not yet run: got %d %q %v", r.status, r.body, r.header)
	}
	wantError(t, f.call(t, "GET", r.header.Get("Location")+"/log?attempt=2", ""), 400, api.CodeInvalidParameter, "attempt")
	wantError(t, f.call(t, "GET", "/api/v1/queue/jobs/999", ""), 404, api.CodeNotFound, "")

	for _, tt := range []struct {
		name     string
		body     string
		status   int
		code     string
		field    string
		mentions []string
	}{
		{"another team's cluster", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main", Steps: steps, Annotations: named("iOS")}),
			403, api.CodeBuildClusterForbidden, "annotations", []string{`"web"`, "iOS_org1, iOS_org2", "ios-ci@example.com"}},
		{"no such cluster", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main", Steps: steps, Annotations: named("colo9")}),
			422, api.CodeUnknownBuildCluster, "annotations", []string{`"colo9"`}},
		{"no cluster for the scmContext", build(t, api.BuildRequest{SCMContext: "gitlab:gitlab.com", Pipeline: "web/app", Job: "main", Steps: steps}),
			503, api.CodeNoBuildCluster, "", []string{"gitlab:gitlab.com"}},
		{"a Jenkins-controller build, not enabled here", `{"clusterId":"production","job":"deploy","parameters":{"ENV":"qa"}}`,
			501, api.CodeNotEnabled, "", []string{"Jenkins-controller builds"}},
		{"neither kind", `{"job":"deploy"}`,
			400, api.CodeInvalidField, "pipeline", []string{"scmContext", "pipeline", "steps", "yaml", "clusterId"}},
		{"both kinds at once", `{"clusterId":"production","pipeline":"web/app","job":"main"}`, 400, api.CodeInvalidField, "clusterId", nil},
		{"steps and yaml", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main", Steps: steps, YAML: seedYAML}), 400, api.CodeInvalidField, "steps", nil},
		{"no steps", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main"}), 400, api.CodeInvalidField, "steps", nil},
		{"no job", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Steps: steps}), 400, api.CodeInvalidField, "job", nil},
		{"not org/repo", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "webapp", Job: "main", Steps: steps}), 400, api.CodeInvalidField, "pipeline", nil},
		{"a job the yaml lacks", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "deploy", YAML: seedYAML}), 400, api.CodeInvalidField, "job", []string{"main, publish"}},
		{"yaml that does not parse", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main", YAML: "jobs: [unclosed"}), 400, api.CodeInvalidYAML, "yaml", nil},
		{"bad variable name", build(t, api.BuildRequest{SCMContext: scm, Pipeline: "web/app", Job: "main", Steps: steps, Environment: map[string]string{"1X": "y"}}),
			400, api.CodeInvalidField, "environment", nil},
		{"a step without a command", `{"scmContext":"` + scm + `","pipeline":"web/app","job":"main","steps":[{"test":""}]}`, 400, api.CodeInvalidField, "steps", nil},
	} {
		r := f.call(t, "POST", "/api/v1/builds", tt.body)
		wantError(t, r, tt.status, tt.code, tt.field, tt.mentions...)
		if tt.status == 503 && r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tt.name)
		}
	}
}
