package workerapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/worker"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

const benchWorkers = 50

// BenchmarkWorkerCycle measures the worker API's cycle, claim then
// complete, over HTTP on loopback with 50 concurrent workers, each request
// carrying a freshly signed EdDSA token (verified, replay-checked) exactly
// as jenkinds worker sends it; the backlog always has work waiting (b.N
// jobs are queued before the clock starts). It reports cycles/s and the
// 50th and 99th percentile of the claim latency: at saturation the
// latency is mostly the wait for the database (Little's law).
//
//	go test -run '^$' -bench WorkerCycle -benchtime 20000x ./internal/workerapi/
func BenchmarkWorkerCycle(b *testing.B) {
	for _, e := range dbtest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) { benchWorkerCycles(b, e.Open(b), 0) })
	}
}

// BenchmarkWorkerCyclePaced runs the same workers at the rate the aims set
// (2,000 cycles/s on SQLite, 1,000/s on PostgreSQL), each worker starting
// a cycle every 50/rate seconds: the claim latency a worker sees when
// work is waiting and the server is not saturated.
func BenchmarkWorkerCyclePaced(b *testing.B) {
	rates := map[string]int{"sqlite": 2000, "postgres": 1000}
	for _, e := range dbtest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) { benchWorkerCycles(b, e.Open(b), rates[e.Name]) })
	}
}

func benchWorkerCycles(b *testing.B, d *db.DB, rate int) {
	ctx := context.Background()
	if err := d.Migrate(ctx, buildcluster.Migrations, queue.Migrations, workerapi.Migrations); err != nil {
		b.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key := worker.Key{Signer: priv, Algorithm: buildcluster.AlgEdDSA}
	pub, err := key.PublicPEM()
	if err != nil {
		b.Fatal(err)
	}
	store := buildcluster.NewStore(d, time.Now)
	if _, err := store.Create(ctx, buildcluster.CreateInput{Name: "bench", SCMContext: "github:github.com", ManagedBy: buildcluster.ManagedByScrewdriver,
		PublicKeys: []buildcluster.PublicKey{{KID: key.KID(), Algorithm: key.Algorithm, PEM: string(pub)}}}); err != nil {
		b.Fatal(err)
	}
	q := queue.New(d, queue.Options{})
	api, err := workerapi.New(workerapi.Options{Queue: q, Clusters: store, Logs: workerapi.NewLogStore(d, 0, time.Now)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	backlog(b, d, "bench", b.N)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchWorkers}}
	var (
		next      atomic.Int64
		latencies = make([][]time.Duration, benchWorkers)
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	began := time.Now()
	for w := range benchWorkers {
		wg.Go(func() {
			c, err := worker.NewClient(worker.ClientConfig{Server: srv.URL, Cluster: "bench", Key: key, Worker: fmt.Sprint("w", w), HTTP: hc})
			if err != nil {
				b.Error(err)
				return
			}
			var tick <-chan time.Time
			if rate > 0 {
				every := time.Duration(benchWorkers) * time.Second / time.Duration(rate)
				time.Sleep(every * time.Duration(w) / benchWorkers) // stagger the workers' ticks
				t := time.NewTicker(every)
				defer t.Stop()
				tick = t.C
			}
			for next.Add(1) <= int64(b.N) {
				if tick != nil {
					<-tick
				}
				t0 := time.Now()
				claim, err := c.Claim(ctx, 0)
				latencies[w] = append(latencies[w], time.Since(t0))
				if err != nil || claim == nil {
					b.Errorf("claim: %v (job %v)", err, claim)
					return
				}
				if _, err := c.Complete(ctx, claim.Job.ID, claim.LeaseToken, "SUCCESS", 0); err != nil {
					b.Errorf("complete: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()

	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(float64(len(all))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	b.ReportMetric(pct(0.50), "p50-claim-ms")
	b.ReportMetric(pct(0.99), "p99-claim-ms")
}

// backlog queues n jobs on cluster with a few multi-row INSERTs (n calls
// to Enqueue would take longer than the run they set up).
func backlog(b *testing.B, d *db.DB, cluster string, n int) {
	b.Helper()
	now := time.Now().UTC()
	for done := 0; done < n; {
		rows := min(400, n-done)
		args := make([]any, 0, 3*rows)
		for range rows {
			args = append(args, cluster, now, now)
		}
		tuple := `(?, '{"job":"bench"}', 'available', 1, 3, '[]', ?, ?)`
		_, err := d.ExecContext(context.Background(), d.Rebind(`INSERT INTO queue_jobs
		(cluster, payload, state, attempt, max_attempts, blocked_by, created_at, updated_at) VALUES `+
			strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")), args...)
		if err != nil {
			b.Fatalf("queue the backlog: %v", err)
		}
		done += rows
	}
}
