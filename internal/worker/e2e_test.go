package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/server"
	"github.com/jenkinds/jenkinds/internal/testkit"
	"github.com/jenkinds/jenkinds/internal/worker"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// jenkindsBin is the jenkinds binary TestMain builds for the end-to-end
// tests, which run it as real worker processes.
var jenkindsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jenkinds-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jenkindsBin = filepath.Join(dir, "jenkinds")
	build := exec.Command("go", "build", "-o", jenkindsBin, "github.com/jenkinds/jenkinds/cmd/jenkinds")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build jenkinds for the end-to-end tests: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "e2e-admin-token-0123456789"

// e2e is a jenkinds server on loopback with build clusters, and the worker
// processes a test starts against it.
type e2e struct {
	t     *testing.T
	ctx   context.Context
	srv   *server.Server
	url   string
	admin *apiclient.Client
	dir   string
}

// startServer runs a jenkinds server on 127.0.0.1 with a 2 s lease and a
// 200 ms rescue, so a dead worker's job is back in seconds.
func startServer(t *testing.T) *e2e {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{Listen: "127.0.0.1:0", DataDir: dir, QueueRescueInterval: 200 * time.Millisecond,
		Workers: workerapi.Config{LeaseTTL: 2 * time.Second}}
	cfg.Health.Interval, cfg.Health.Timeout = time.Hour, time.Second
	getenv := func(k string) string {
		if k == "JENKINDS_ADMIN_TOKEN" {
			return adminToken
		}
		return ""
	}
	srv, err := server.New(context.Background(), cfg, getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	e := &e2e{t: t, ctx: context.Background(), srv: srv, url: "http://" + addr, dir: dir}
	if e.admin, err = apiclient.New(e.url, adminToken, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// cluster registers a build cluster with a new key and returns the
// private key's file.
func (e *e2e) cluster(name string, managedBy buildcluster.ManagedBy, orgs ...string) string {
	e.t.Helper()
	key, err := worker.GenerateKey(buildcluster.AlgEdDSA)
	if err != nil {
		e.t.Fatal(err)
	}
	private, _ := key.PrivatePEM()
	public, _ := key.PublicPEM()
	file := filepath.Join(e.dir, name+".pem")
	if err := os.WriteFile(file, private, 0o600); err != nil {
		e.t.Fatal(err)
	}
	_, err = e.admin.CreateBuildCluster(e.ctx, buildcluster.CreateInput{Name: name, SCMContext: "github:github.com",
		ManagedBy: managedBy, SCMOrganizations: orgs,
		PublicKeys: []buildcluster.PublicKey{{KID: key.KID(), Algorithm: key.Algorithm, PEM: string(public)}}})
	if err != nil {
		e.t.Fatalf("register %s: %v", name, err)
	}
	return file
}

// proc is a jenkinds worker process.
type proc struct {
	cmd  *exec.Cmd
	out  *apitest.Buffer
	done chan struct{}
}

// worker starts `jenkinds worker` for cluster; it is killed when the test
// ends, and its output shown if the test failed.
func (e *e2e) worker(cluster, keyFile string, extra ...string) *proc {
	e.t.Helper()
	args := append([]string{"worker", "--server", e.url, "--cluster", cluster, "--key", keyFile, "--executor", "shell",
		"--wait", "2s", "--worker-id", cluster + "-" + strconv.Itoa(len(extra)) + "-" + randomSuffix(), "--log-level", "debug"}, extra...)
	p := &proc{cmd: exec.Command(jenkindsBin, args...), out: &apitest.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "TMPDIR=" + e.dir}
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if e.t.Failed() {
			e.t.Logf("worker %s output:\n%s", cluster, p.out)
		}
	})
	return p
}

var suffix struct {
	mu sync.Mutex
	n  int
}

func randomSuffix() string {
	suffix.mu.Lock()
	defer suffix.mu.Unlock()
	suffix.n++
	return strconv.Itoa(suffix.n)
}

// submit routes and queues a pipeline build through the admin API.
func (e *e2e) submit(req api.BuildRequest) api.PipelineBuild {
	e.t.Helper()
	b, err := e.admin.SubmitPipelineBuild(e.ctx, req)
	if err != nil {
		e.t.Fatalf("submit %+v: %v", req, err)
	}
	return b
}

func (e *e2e) job(id int64) queue.Job {
	e.t.Helper()
	j, err := e.srv.Queue.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *e2e) log(id int64, attempt int) string {
	e.t.Helper()
	text, err := e.admin.QueueJobLog(e.ctx, id, attempt)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(text)
}

// TestWorkersDrainTwoClusters: five worker processes on two clusters drain
// 300 quick shell builds submitted through the API; each completes once,
// on the cluster routing chose, with its log uploaded.
func TestWorkersDrainTwoClusters(t *testing.T) {
	t.Parallel()
	e := startServer(t)
	bf1 := e.cluster("bf1", buildcluster.ManagedByScrewdriver)
	ios := e.cluster("iOS", buildcluster.ManagedByExternal, "ios-team")
	for range 3 {
		e.worker("bf1", bf1, "--parallel", "2")
	}
	for range 2 {
		e.worker("iOS", ios, "--parallel", "2")
	}

	const builds = 300
	want := map[int64]string{} // job → cluster
	for i := range builds {
		req := api.BuildRequest{SCMContext: "github:github.com", Pipeline: "web/app", Job: "main",
			Steps:       []buildcluster.Step{{Name: "hello", Command: `echo "build $N on $SD_BUILD_CLUSTER"`}},
			Environment: map[string]string{"N": strconv.Itoa(i)}}
		if i%2 == 1 {
			req.Pipeline = "ios-team/app"
			req.Annotations = map[string]string{buildcluster.AnnotationBuildCluster: "iOS"}
		}
		b := e.submit(req)
		want[b.Job.ID] = b.BuildCluster
	}

	testkit.Eventually(t, 45*time.Second, func() bool {
		stats, err := e.srv.Queue.Stats(e.ctx)
		return err == nil && len(stats) == 0
	}, testkit.Sayf("every build finished"))
	perCluster := map[string]int{}
	for id, cluster := range want {
		j := e.job(id)
		if j.State != queue.StateCompleted || j.Result != "SUCCESS" || j.Attempt != 1 || j.Cluster != cluster {
			t.Errorf("job %d: got %s %s attempt %d on %s, want completed SUCCESS attempt 1 on %s (%s)", id, j.State, j.Result, j.Attempt, j.Cluster, cluster, j.Error)
			continue
		}
		perCluster[j.Cluster]++
		if !strings.HasPrefix(j.LeasedBy, cluster+"-") {
			t.Errorf("job %d of %s was run by %q", id, cluster, j.LeasedBy)
		}
	}
	if perCluster["bf1"] != builds/2 || perCluster["iOS"] != builds/2 {
		t.Errorf("completed per cluster: got %v, want %d each", perCluster, builds/2)
	}
	// The counters per cluster are on /metrics.
	metrics, err := e.admin.Metrics(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`jenkinds_workerapi_deliveries_total{cluster="bf1",redelivery="no"} 150`,
		`jenkinds_workerapi_deliveries_total{cluster="iOS",redelivery="no"} 150`,
		`jenkinds_queue_finished_total{cluster="iOS",state="completed"} 150`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics: no line %s", want)
		}
	}
	// The logs made it: spot-check a few.
	n := 0
	for id, cluster := range want {
		if n++; n > 5 {
			break
		}
		if log := e.log(id, 0); !strings.Contains(log, "on "+cluster+"\n") {
			t.Errorf("log of job %d: %q", id, log)
		}
	}
}

// TestKilledWorkersJobIsRedelivered: a worker killed with SIGKILL in the
// middle of a job leaves it leased; after the lease expires the job goes
// to another worker and completes exactly once, and a late completion
// under the lost lease is refused.
func TestKilledWorkersJobIsRedelivered(t *testing.T) {
	t.Parallel()
	e := startServer(t)
	keyFile := e.cluster("bf1", buildcluster.ManagedByScrewdriver)
	marks := t.TempDir()
	// Attempt 1 records its process group and sleeps; later attempts
	// finish at once.
	step := `if [ "$JENKINDS_ATTEMPT" = 1 ]; then echo started; echo $$ > "$MARKS/pgid"; sleep 30; fi; echo "done on attempt $JENKINDS_ATTEMPT"`
	t.Cleanup(func() { // the orphaned sleep of the killed worker
		if b, err := os.ReadFile(filepath.Join(marks, "pgid")); err == nil {
			if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pgid > 1 {
				syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}
	})
	victim := e.worker("bf1", keyFile)
	b := e.submit(api.BuildRequest{SCMContext: "github:github.com", Pipeline: "web/app", Job: "main",
		Steps: []buildcluster.Step{{Name: "slow", Command: step}}, Environment: map[string]string{"MARKS": marks}})
	id := b.Job.ID
	testkit.Eventually(t, 20*time.Second, func() bool {
		return e.job(id).State == queue.StateLeased && strings.Contains(e.log(id, 0), "started")
	}, testkit.Sayf("the job running on the first worker, its log uploaded"))
	// The killed worker's lease, as the server holds it: what that worker
	// would send if it came back.
	staleToken := e.job(id).LeaseToken
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done

	e.worker("bf1", keyFile)
	testkit.Eventually(t, 20*time.Second, func() bool { return e.job(id).State.Finished() }, testkit.Sayf("the job completed after its lease expired"))
	j := e.job(id)
	if j.State != queue.StateCompleted || j.Result != "SUCCESS" || j.Attempt != 2 {
		t.Fatalf("job: got %s %s on attempt %d (%s), want completed SUCCESS on attempt 2", j.State, j.Result, j.Attempt, j.Error)
	}
	if log := e.log(id, 1); !strings.Contains(log, "started") || strings.Contains(log, "done on attempt 1") {
		t.Errorf("log of attempt 1: %q, want started and never done", log)
	}
	if log := e.log(id, 2); strings.Count(log, "done on attempt 2") != 1 {
		t.Errorf("log of attempt 2: %q, want done once", log)
	}
	if first, again := e.srv.Workers.Metrics().Deliveries("bf1"); first != 1 || again != 1 {
		t.Errorf("deliveries: got %v first, %v again; want 1 and 1", first, again)
	}
	// Completions under the killed worker's lease are refused, and the job
	// keeps its one result.
	ghost := e.client("bf1", keyFile, "ghost")
	for _, call := range []func() error{
		func() error { _, err := ghost.Complete(e.ctx, id, staleToken, "FAILURE", 137); return err },
		func() error { _, err := ghost.Fail(e.ctx, id, staleToken, "killed", true); return err },
		func() error { _, err := ghost.Extend(e.ctx, id, staleToken); return err },
	} {
		if err := call(); !worker.IsLeaseLost(err) {
			t.Errorf("call under the killed worker's lease: got %v, want 409 lease_lost", err)
		}
	}
	if j := e.job(id); j.Result != "SUCCESS" || j.ExitCode == nil || *j.ExitCode != 0 || j.Attempt != 2 {
		t.Errorf("job after the stale calls: got %s exit %v attempt %d, want SUCCESS 0 on attempt 2", j.Result, j.ExitCode, j.Attempt)
	}
}

// TestStaleLeaseCompletionRefused: a worker cut off from the server (not
// killed) reports late: its lease expired and the job went to another
// worker, so its completion is refused and the job keeps the one result.
func TestStaleLeaseCompletionRefused(t *testing.T) {
	t.Parallel()
	e := startServer(t)
	keyFile := e.cluster("bf2", buildcluster.ManagedByScrewdriver)
	b := e.submit(api.BuildRequest{SCMContext: "github:github.com", Pipeline: "web/app", Job: "main",
		Steps: []buildcluster.Step{{Name: "quick", Command: "echo quick"}}})
	stale := e.client("bf2", keyFile, "cut-off")
	claim, err := stale.Claim(e.ctx, 0)
	if err != nil || claim == nil || claim.Job.ID != b.Job.ID {
		t.Fatalf("claim: got %+v, %v; want job %d", claim, err, b.Job.ID)
	}
	// It goes silent; a live worker gets the job once the lease expires.
	e.worker("bf2", keyFile)
	testkit.Eventually(t, 20*time.Second, func() bool {
		return e.job(b.Job.ID).State == queue.StateCompleted
	}, testkit.Sayf("the job re-leased and completed by the live worker"))
	_, err = stale.Complete(e.ctx, claim.Job.ID, claim.LeaseToken, "FAILURE", 1)
	if !worker.IsLeaseLost(err) {
		t.Errorf("completion under the lost lease: got %v, want 409 lease_lost", err)
	}
	if _, err := stale.AppendLog(e.ctx, claim.Job.ID, claim.LeaseToken, 0, "late\n"); !worker.IsLeaseLost(err) {
		t.Errorf("log under the lost lease: got %v, want 409 lease_lost", err)
	}
	j := e.job(b.Job.ID)
	if j.Result != "SUCCESS" || j.Attempt != 2 || j.LeasedBy == "cut-off" {
		t.Errorf("job: got %s attempt %d by %s, want the live worker's SUCCESS on attempt 2", j.Result, j.Attempt, j.LeasedBy)
	}
	if got := e.srv.Workers.Metrics().LeaseLost("bf2", "complete"); got != 1 {
		t.Errorf("lease lost{complete}: got %v, want 1", got)
	}
}

// client is an in-process worker client of cluster.
func (e *e2e) client(cluster, keyFile, name string) *worker.Client {
	e.t.Helper()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		e.t.Fatal(err)
	}
	key, err := worker.ParseKey(pemBytes)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := worker.NewClient(worker.ClientConfig{Server: e.url, Cluster: cluster, Key: key, Worker: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestSIGTERMReleasesTheJob: on SIGTERM a worker stops claiming and gives
// its job --drain-timeout; a job still running then is stopped and
// released to the queue, and the worker exits 0.
func TestSIGTERMReleasesTheJob(t *testing.T) {
	t.Parallel()
	e := startServer(t)
	keyFile := e.cluster("bf1", buildcluster.ManagedByScrewdriver)
	w := e.worker("bf1", keyFile, "--drain-timeout", "300ms")
	b := e.submit(api.BuildRequest{SCMContext: "github:github.com", Pipeline: "web/app", Job: "main",
		Steps: []buildcluster.Step{{Name: "slow", Command: "echo started; sleep 30"}}})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return e.job(b.Job.ID).State == queue.StateLeased && strings.Contains(e.log(b.Job.ID, 0), "started")
	}, testkit.Sayf("the job running"))
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not exit after SIGTERM")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker exit code: got %d, want 0", code)
	}
	j := e.job(b.Job.ID)
	if j.State != queue.StateAvailable || j.Attempt != 2 || !strings.Contains(j.Error, "released") {
		t.Errorf("job after the drain: got %s attempt %d (%q), want available on attempt 2, released", j.State, j.Attempt, j.Error)
	}
	if !strings.Contains(w.out.String(), "worker stopped") {
		t.Errorf("worker output: want it to say it stopped:\n%s", w.out)
	}
}

// TestWorkerRefusedAtStart: a worker whose key the cluster does not have
// exits with the server's reason instead of retrying forever.
func TestWorkerRefusedAtStart(t *testing.T) {
	t.Parallel()
	e := startServer(t)
	e.cluster("bf1", buildcluster.ManagedByScrewdriver)
	other := e.cluster("other", buildcluster.ManagedByScrewdriver)
	w := e.worker("bf1", other) // other's key, bf1's queue
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not exit")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(w.out.String(), workerapi.ReasonUnknownKID) {
		t.Errorf("worker: exit %d, output:\n%s\nwant exit 1 naming %s", code, w.out, workerapi.ReasonUnknownKID)
	}
}
