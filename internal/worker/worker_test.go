package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/testkit"
	"github.com/jenkinds/jenkinds/internal/worker"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// inProcess is the worker API in this process, over SQLite, with one
// cluster bf1 whose key the returned client signs with.
type inProcess struct {
	ctx    context.Context
	queue  *queue.Queue
	client *worker.Client
}

func startInProcess(t *testing.T, leaseTTL time.Duration) *inProcess {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Engines(t)[0].Open(t)
	if err := d.Migrate(ctx, buildcluster.Migrations, queue.Migrations, workerapi.Migrations); err != nil {
		t.Fatal(err)
	}
	key, err := worker.GenerateKey(buildcluster.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	public, _ := key.PublicPEM()
	store := buildcluster.NewStore(d, time.Now)
	if _, err := store.Create(ctx, buildcluster.CreateInput{Name: "bf1", SCMContext: "github:github.com", ManagedBy: buildcluster.ManagedByScrewdriver,
		PublicKeys: []buildcluster.PublicKey{{KID: key.KID(), Algorithm: key.Algorithm, PEM: string(public)}}}); err != nil {
		t.Fatal(err)
	}
	q := queue.New(d, queue.Options{PollInterval: 50 * time.Millisecond})
	api, err := workerapi.New(workerapi.Options{Config: workerapi.Config{LeaseTTL: leaseTTL}, Queue: q, Clusters: store,
		Logs: workerapi.NewLogStore(d, 0, time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c, err := worker.NewClient(worker.ClientConfig{Server: srv.URL, Cluster: "bf1", Key: key, Worker: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	return &inProcess{ctx: ctx, queue: q, client: c}
}

func (p *inProcess) enqueue(t *testing.T, payload string) queue.Job {
	t.Helper()
	j, err := p.queue.Enqueue(p.ctx, queue.Job{Cluster: "bf1", Payload: json.RawMessage(payload)})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (p *inProcess) job(t *testing.T, id int64) queue.Job {
	t.Helper()
	j, err := p.queue.Get(p.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// executorFunc adapts a function to worker.Executor.
type executorFunc func(ctx context.Context, job worker.Job, log io.Writer) (worker.Outcome, error)

func (f executorFunc) Run(ctx context.Context, job worker.Job, log io.Writer) (worker.Outcome, error) {
	return f(ctx, job, log)
}

// run starts w until the test ends.
func run(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestWorkerStopsALostJob: when an extend says the lease is lost (here
// the job was cancelled), the worker stops the job and reports nothing.
func TestWorkerStopsALostJob(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, 300*time.Millisecond)
	j := p.enqueue(t, `{"job":"main","steps":[{"s":"x"}]}`)
	var started, stopped atomic.Bool
	run(t, worker.New(worker.Config{Wait: 200 * time.Millisecond}, p.client, executorFunc(func(ctx context.Context, _ worker.Job, _ io.Writer) (worker.Outcome, error) {
		started.Store(true)
		<-ctx.Done()
		stopped.Store(true)
		return worker.Outcome{Result: "ABORTED", ExitCode: -1}, nil
	}), nil))
	testkit.Eventually(t, 10*time.Second, started.Load, testkit.Sayf("the job running"))
	if _, err := p.queue.Cancel(p.ctx, j.ID, "stopped by the user"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, stopped.Load, testkit.Sayf("the job stopped"))
	if got := p.job(t, j.ID); got.State != queue.StateCancelled || got.Result != "" {
		t.Errorf("job: got %s result %q, want cancelled with no result", got.State, got.Result)
	}
}

// TestWorkerExtendsLongJobs: a job that runs for several lease TTLs keeps
// its lease and completes on its first attempt.
func TestWorkerExtendsLongJobs(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, 150*time.Millisecond)
	j := p.enqueue(t, `{"job":"main"}`)
	release := make(chan struct{})
	run(t, worker.New(worker.Config{Wait: 200 * time.Millisecond}, p.client, executorFunc(func(ctx context.Context, _ worker.Job, log io.Writer) (worker.Outcome, error) {
		fmt.Fprintln(log, "working")
		<-release
		return worker.Outcome{Result: "SUCCESS"}, nil
	}), nil))
	// Outlive the TTL several times over, rescuing as the server would.
	var extensions int
	var last time.Time
	testkit.Eventually(t, 10*time.Second, func() bool {
		p.queue.Rescue(p.ctx)
		cur := p.job(t, j.ID)
		if cur.LeaseExpiresAt != nil && !cur.LeaseExpiresAt.Equal(last) {
			extensions, last = extensions+1, *cur.LeaseExpiresAt
		}
		return extensions > 3
	}, testkit.Sayf("three extends seen"))
	close(release)
	testkit.Eventually(t, 10*time.Second, func() bool { return p.job(t, j.ID).State == queue.StateCompleted }, testkit.Sayf("the job completed"))
	if got := p.job(t, j.ID); got.Attempt != 1 || got.Result != "SUCCESS" {
		t.Errorf("job: got attempt %d result %q, want SUCCESS on attempt 1", got.Attempt, got.Result)
	}
}

// TestWorkerFailsWhatItCannotRun: an executor error puts the job back
// (retry) unless it is permanent; a payload that is no build spec fails
// the job for good.
func TestWorkerFailsWhatItCannotRun(t *testing.T) {
	t.Parallel()
	p := startInProcess(t, time.Minute)
	retry := p.enqueue(t, `{"job":"flaky"}`)
	permanent := p.enqueue(t, `{"job":"missing"}`)
	garbage := p.enqueue(t, `{"steps":"not a list"}`)
	var flaky atomic.Int32
	run(t, worker.New(worker.Config{Wait: 200 * time.Millisecond}, p.client, executorFunc(func(_ context.Context, job worker.Job, _ io.Writer) (worker.Outcome, error) {
		switch job.Spec.Job {
		case "flaky":
			if flaky.Add(1) == 1 {
				return worker.Outcome{}, fmt.Errorf("the node is out of disk")
			}
			return worker.Outcome{Result: "SUCCESS"}, nil
		case "missing":
			return worker.Outcome{}, fmt.Errorf("trigger: no such job: %w", worker.ErrPermanent)
		}
		return worker.Outcome{}, fmt.Errorf("unexpected job %q", job.Spec.Job)
	}), nil))
	testkit.Eventually(t, 10*time.Second, func() bool {
		return p.job(t, retry.ID).State.Finished() && p.job(t, permanent.ID).State.Finished() && p.job(t, garbage.ID).State.Finished()
	}, testkit.Sayf("every job finished"))
	if j := p.job(t, retry.ID); j.State != queue.StateCompleted || j.Attempt != 2 {
		t.Errorf("flaky job: got %s on attempt %d, want completed on attempt 2", j.State, j.Attempt)
	}
	if j := p.job(t, permanent.ID); j.State != queue.StateFailed || j.Attempt != 1 || !strings.Contains(j.Error, "no such job") {
		t.Errorf("missing job: got %s on attempt %d (%q), want failed on attempt 1", j.State, j.Attempt, j.Error)
	}
	if j := p.job(t, garbage.ID); j.State != queue.StateFailed || !strings.Contains(j.Error, "not a build spec") {
		t.Errorf("garbage payload: got %s (%q), want failed", j.State, j.Error)
	}
}
