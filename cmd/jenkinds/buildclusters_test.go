package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// generateKey runs keys generate into a temporary directory and returns
// the private key's file and its kid.
func generateKey(t *testing.T, f *cliFixture, extra ...string) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bf1.pem")
	r := f.run(t, append([]string{"keys", "generate", "--out", out, "-o", "json"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("keys generate: exit %d: %s", r.code, r.stderr)
	}
	var pair keyPair
	if err := json.Unmarshal([]byte(r.stdout), &pair); err != nil {
		t.Fatal(err)
	}
	return out, pair.KID
}

func TestKeysGenerate(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	out := filepath.Join(t.TempDir(), "k.pem")
	r := f.run(t, "keys", "generate", "--out", out)
	r.want(t, 0, []string{"Private key: " + out, "Kid:         eddsa-", "jenkinds buildclusters add-key <cluster> --public-key-file " + out + ".pub", "BEGIN PUBLIC KEY"}, nil)
	if strings.Contains(r.stdout, "PRIVATE") {
		t.Errorf("keys generate printed the private key:\n%s", r.stdout)
	}
	for file, mode := range map[string]os.FileMode{out: 0o600, out + ".pub": 0o644} {
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: got %v, %v; want mode %v", file, fi, err, mode)
		}
	}
	f.run(t, "keys", "generate", "--out", out).want(t, 1, nil, []string{"exists: choose another --out, or --force"})
	f.run(t, "keys", "generate", "--out", out, "--force", "--algorithm", "ES256", "--kid", "ios-2025").
		want(t, 0, []string{"Algorithm:   ES256", "Kid:         ios-2025", "--kid ios-2025"}, nil)
	f.run(t, "keys", "generate", "--out", out+"2", "--algorithm", "HS256").want(t, 2, nil, []string{`algorithm "HS256"`})
	f.run(t, "keys", "generate").want(t, 2, nil, []string{"--out is required"})
}

func TestBuildClustersCommands(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	keyFile, kid := generateKey(t, f)
	f.run(t, "buildclusters", "add", "--name", "bf1", "--scm-context", "github:github.com", "--managed-by", "screwdriver",
		"--public-key-file", keyFile+".pub").want(t, 0, []string{"Name:", "bf1", "Keys:", kid + " (EdDSA)", "Weight:", "100"}, nil)
	f.run(t, "buildclusters", "add", "--name", "iOS", "--scm-context", "github:github.com", "--managed-by", "external").
		want(t, 1, nil, []string{"an external cluster must list at least one organization", "(field: scmOrganizations)"})
	f.run(t, "buildclusters", "add", "--name", "iOS", "--scm-context", "github:github.com").
		want(t, 2, nil, []string{"--name, --scm-context and --managed-by are required"})
	f.run(t, "buildclusters", "add", "--name", "iOS", "--scm-context", "github:github.com", "--managed-by", "external",
		"--orgs", "ios-team, mobile", "--weight", "0", "--email", "ios-ci@example.com").
		want(t, 0, []string{"Organizations:", "ios-team, mobile", "Maintainer:", "ios-ci@example.com"}, nil)

	r := f.run(t, "buildclusters", "list")
	got := lines(r.stdout)
	want := []string{"NAME SCM CONTEXT ACTIVE MANAGED BY WEIGHT ORGANIZATIONS KEYS",
		"bf1 github:github.com yes screwdriver 100 - " + kid + " (EdDSA)",
		"iOS github:github.com yes external 0 ios-team,mobile -"}
	if !slices.Equal(got, want) {
		t.Errorf("list:\n got %q\nwant %q", got, want)
	}
	r = f.run(t, "buildclusters", "list", "--name", "iOS", "-o", "json")
	var list []buildcluster.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Name != "iOS" {
		t.Errorf("list -o json: got %q, %v", r.stdout, err)
	}

	f.run(t, "buildclusters", "get", "iOS").want(t, 0, []string{"external"}, nil)
	f.run(t, "buildclusters", "get", "nosuch").want(t, 1, nil, []string{"not found"})
	f.run(t, "buildclusters", "update", "iOS", "--active=false", "--description", "macs").want(t, 0, []string{"Active:", "no", "macs"}, nil)
	f.run(t, "buildclusters", "update", "iOS").want(t, 2, nil, []string{"nothing to change"})

	// Rotation: a second key, then retire the first.
	key2, kid2 := generateKey(t, f, "--kid", "bf1-2")
	f.run(t, "buildclusters", "add-key", "bf1", "--public-key-file", key2+".pub", "--kid", kid2).want(t, 0, []string{kid, kid2 + " (EdDSA)"}, nil)
	f.run(t, "buildclusters", "add-key", "bf1", "--public-key-file", key2+".pub", "--kid", kid2).want(t, 1, nil, []string{"already has a key", "(field: kid)"})
	f.run(t, "buildclusters", "add-key", "bf1").want(t, 2, nil, []string{"--public-key-file is required"})
	r = f.run(t, "buildclusters", "remove-key", "bf1", kid)
	r.want(t, 0, []string{kid2}, nil)
	if strings.Contains(r.stdout, kid+" ") {
		t.Errorf("remove-key: the key is still listed:\n%s", r.stdout)
	}
	f.run(t, "buildclusters", "remove", "iOS", "--scm-context", "github:github.com").want(t, 0, []string{"Removed build cluster iOS (github:github.com)."}, nil)
	f.run(t, "buildclusters", "frobnicate").want(t, 2, nil, []string{`unknown subcommand "frobnicate"`})
}

func TestBuildsSubmit(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.run(t, "buildclusters", "add", "--name", "bf1", "--scm-context", "github:github.com", "--managed-by", "screwdriver").want(t, 0, nil, nil)
	r := f.run(t, "builds", "submit", "--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main",
		"--step", "init=npm ci", "--step", "test=npm test", "--env", "NODE_ENV=test")
	r.want(t, 0, []string{"Job:", "Build cluster:", "bf1", "State:", "available"}, nil)
	jobs, err := f.Queue.List(context.Background(), queue.ListFilter{Cluster: "bf1"})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("queued: %v, %v", jobs, err)
	}
	var spec api.BuildSpec
	json.Unmarshal(jobs[0].Payload, &spec)
	if len(spec.Steps) != 2 || spec.Steps[1] != (buildcluster.Step{Name: "test", Command: "npm test"}) || spec.Environment["NODE_ENV"] != "test" {
		t.Errorf("queued spec: %+v", spec)
	}

	yaml := filepath.Join(t.TempDir(), "screwdriver.yaml")
	os.WriteFile(yaml, []byte("jobs:\n  main:\n    steps:\n      - test: make test\n"), 0o644)
	r = f.run(t, "builds", "submit", "--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main", "--yaml", yaml, "-o", "json")
	var b api.PipelineBuild
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || b.BuildCluster != "bf1" {
		t.Errorf("submit --yaml -o json: got %q, %v", r.stdout, err)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--pipeline", "web/app", "--job", "main", "--step", "a=b"}, 2, "--scm-context, --pipeline and --job are required"},
		{[]string{"--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main"}, 2, "one of the two"},
		{[]string{"--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main", "--step", "novalue"}, 2, "want NAME=VALUE"},
		{[]string{"--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main", "--step", "a=b", "--annotation", "screwdriver.cd/buildCluster=nosuch"}, 1, "does not exist for scmContext github:github.com"},
	} {
		f.run(t, append([]string{"builds", "submit"}, tt.args...)...).want(t, tt.code, nil, []string{tt.want})
	}
}

// TestBuildsSubmitWait: --wait follows the job to its end, prints its
// log, and exits non-zero unless it succeeded. The worker is played by
// the test, through the queue.
func TestBuildsSubmitWait(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	f.run(t, "buildclusters", "add", "--name", "bf1", "--scm-context", "github:github.com", "--managed-by", "screwdriver").want(t, 0, nil, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		result string
		exit   int
		code   int
	}{{"SUCCESS", 0, 0}, {"FAILURE", 2, 1}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for range tick.C {
				j, err := f.Queue.Lease(ctx, "bf1", "test-worker", time.Minute)
				if err != nil {
					continue
				}
				f.JobLogs.Append(ctx, j.ID, j.Attempt, 0, "ran the steps\n")
				f.Queue.Complete(ctx, j.ID, j.LeaseToken, tt.result, tt.exit)
				return
			}
		}()
		r := f.run(t, "builds", "submit", "--scm-context", "github:github.com", "--pipeline", "web/app", "--job", "main",
			"--step", "t=true", "--wait", "--poll", "10ms")
		<-done
		wantErr := []string(nil)
		if tt.code != 0 {
			wantErr = []string{"build completed: FAILURE"}
		}
		r.want(t, tt.code, []string{"ran the steps", "completed: result " + tt.result}, wantErr)
	}
}

func TestWorkerFlags(t *testing.T) {
	t.Parallel()
	f := startCLI(t)
	keyFile, _ := generateKey(t, f)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cluster", "bf1", "--key", keyFile}, 2, "--server, --cluster and --key are required"},
		{[]string{"--server", f.URL, "--cluster", "bf1", "--key", keyFile, "--executor", "docker"}, 2, `--executor "docker": want shell or jenkins`},
		{[]string{"--server", f.URL, "--cluster", "bf1", "--key", keyFile, "--executor", "jenkins"}, 2, "needs --jenkins-url"},
		{[]string{"--server", f.URL, "--cluster", "bf1", "--key", keyFile + ".pub"}, 1, "this is the PUBLIC key"},
		{[]string{"--server", f.URL, "--cluster", "bf1", "--key", filepath.Join(t.TempDir(), "none.pem")}, 1, "read the cluster's private key"},
		{[]string{"--server", "jenkinds:7070", "--cluster", "bf1", "--key", keyFile}, 2, "want the jenkinds server's http or https URL"},
		{[]string{"--server", f.URL, "--cluster", "bf1", "--key", keyFile, "--token-ttl", "1h"}, 2, "at most 10m0s"},
	} {
		f.run(t, append([]string{"worker"}, tt.args...)...).want(t, tt.code, nil, []string{tt.want})
	}
}
