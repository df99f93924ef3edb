package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
)

const benchWorkers = 50

// BenchmarkClaimComplete measures the worker cycle, Lease then Complete,
// with 50 concurrent workers on one cluster whose backlog always has work
// waiting (b.N jobs are enqueued before the clock starts), as fast as they
// can go: the throughput ceiling. It reports cycles/s and the 50th and
// 99th percentile of the Lease latency, which at saturation is mostly the
// wait for the database (50 workers ÷ cycles/s, by Little's law).
//
//	go test -run '^$' -bench ClaimComplete -benchtime 20000x ./internal/queue/
func BenchmarkClaimComplete(b *testing.B) {
	for _, e := range dbtest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) { benchCycles(b, e.Open(b), 0) })
	}
}

// BenchmarkClaimCompletePaced runs the same 50 workers at the rate the
// queue must sustain (2,000 cycles/s on SQLite, 1,000/s on PostgreSQL),
// each worker starting a cycle every 50/rate seconds: the claim latency a
// worker sees when work is waiting and the database is not saturated.
//
// postgres-idle20 is the same run with the pool keeping all 20
// connections idle instead of db.Open's 5. Between bursts the pool closes
// connections above 5 and opens new ones later (a server fork, and every
// statement prepared again), and that churn, not the queue, is the tail
// of postgres; compare the two.
func BenchmarkClaimCompletePaced(b *testing.B) {
	rates := map[string]int{"sqlite": 2000, "postgres": 1000}
	for _, e := range dbtest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) { benchCycles(b, e.Open(b), rates[e.Name]) })
		if e.Name == string(db.Postgres) {
			b.Run(e.Name+"-idle20", func(b *testing.B) {
				d := e.Open(b)
				d.SetMaxIdleConns(20)
				benchCycles(b, d, rates[e.Name])
			})
		}
	}
}

// benchCycles runs b.N Lease+Complete cycles on 50 workers, unpaced when
// rate is 0, else at rate cycles/s in all.
func benchCycles(b *testing.B, d *db.DB, rate int) {
	ctx := context.Background()
	if err := d.Migrate(ctx, queue.Migrations); err != nil {
		b.Fatal(err)
	}
	q := queue.New(d, queue.Options{})
	fill(b, d, "bf1", b.N)
	fill(b, d, "old", 2000) // finished history the lease must not wade through

	var (
		next      atomic.Int64
		latencies = make([][]time.Duration, benchWorkers)
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	began := time.Now()
	for w := range benchWorkers {
		wg.Go(func() {
			worker := fmt.Sprint("w", w)
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
				j, err := q.Lease(ctx, "bf1", worker, time.Minute)
				latencies[w] = append(latencies[w], time.Since(t0))
				if err != nil {
					b.Errorf("Lease: %v", err)
					return
				}
				if _, err := q.Complete(ctx, j.ID, j.LeaseToken, "SUCCESS", 0); err != nil {
					b.Errorf("Complete: %v", err)
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
	if _, err := q.Lease(ctx, "bf1", "w", time.Minute); !errors.Is(err, queue.ErrEmpty) {
		b.Errorf("after the run: got %v, want every job completed", err)
	}
}

// fill enqueues n available jobs on cluster in a few multi-row INSERTs,
// which is much faster than n calls to Enqueue; cluster "old" gets them
// completed instead, as history.
func fill(b testing.TB, d *db.DB, cluster string, n int) {
	b.Helper()
	state := "available"
	if cluster == "old" {
		state = "completed"
	}
	now := time.Now().UTC()
	const chunk = 500
	for done := 0; done < n; done += chunk {
		rows := min(chunk, n-done)
		var args []any
		for range rows {
			args = append(args, cluster, state, now, now)
		}
		values := strings.TrimSuffix(strings.Repeat(`(?, '{}', ?, 1, 3, '[]', ?, ?), `, rows), ", ")
		_, err := d.ExecContext(context.Background(), d.Rebind(`INSERT INTO queue_jobs
		(cluster, payload, state, attempt, max_attempts, blocked_by, created_at, updated_at) VALUES `+values), args...)
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}
