package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// submitAll submits n builds of "build" from 16 goroutines, each with its
// own SEQ, scripted to take durationMs.
func submitAll(b *testing.B, svc *dispatch.Service, n, durationMs int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	dur := strconv.Itoa(durationMs)
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				_, err := svc.Submit(context.Background(), dispatch.Request{Job: "build", Params: []dispatch.Param{
					{Name: "SIM_DURATION_MS", Value: dur}, {Name: "SEQ", Value: strconv.FormatInt(i, 10)},
				}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkAccept measures Submit alone: builds accepted (committed) per
// second from 16 concurrent clients.
//
//	go test -run '^$' -bench Accept -benchtime 20000x ./internal/dispatch/
func BenchmarkAccept(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine.Name, func(b *testing.B) {
			e := setup(b, options{engine: &engine, noRun: true})
			submitAll(b, e.svc, 100, 0) // inventory read, statements prepared
			b.ResetTimer()
			start := time.Now()
			submitAll(b, e.svc, b.N, 0)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepted/s")
		})
	}
}

// BenchmarkEndToEnd measures builds completed per second, from the first
// Submit to the last build finished, with zero-duration builds on 5
// simulated controllers (in the same process, sharing the 2 cores).
//
//	go test -run '^$' -bench EndToEnd -benchtime 5000x ./internal/dispatch/
func BenchmarkEndToEnd(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine.Name, func(b *testing.B) {
			cfg := dispatch.Config{FollowInterval: 100 * time.Millisecond, PlaceInterval: 100 * time.Millisecond}
			e := setup(b, options{engine: &engine, controllers: 5, executors: 64, cfg: cfg})
			b.ResetTimer()
			start := time.Now()
			submitAll(b, e.svc, b.N, 0)
			accepted := time.Since(start)
			waitCounts(b, e.svc, func(c map[dispatch.State]int) bool {
				if c[dispatch.StateFailed]+c[dispatch.StateCancelled] > 0 {
					b.Fatalf("builds did not finish: %v", c)
				}
				return c[dispatch.StateFinished] == b.N
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "completed/s")
			b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
		})
	}
}

// waitCounts polls the build counts every 50ms until done says so.
func waitCounts(b *testing.B, svc *dispatch.Service, done func(map[dispatch.State]int) bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := svc.Counts(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if done(c) {
			return
		}
		if os.Getenv("DISPATCH_LOG") != "" {
			fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), c)
		}
		<-tick.C
	}
}

// counting counts the requests a client sends.
type counting struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// BenchmarkFollowInFlight measures what following costs with 10,000
// builds in flight on 5 controllers (2,000 each, all running) and the
// default FollowInterval of 1s: requests per controller per second, and
// the same per 100 builds in flight. b.N is ignored beyond 1: each run
// places the builds, then counts requests over 5 follow intervals.
//
//	go test -run '^$' -bench FollowInFlight -benchtime 1x ./internal/dispatch/
func BenchmarkFollowInFlight(b *testing.B) {
	const (
		controllers = 5
		inFlight    = 10_000
		window      = 5 * time.Second
	)
	e := setup(b, options{controllers: controllers, executors: inFlight/controllers + 200, noRun: true,
		cfg: dispatch.Config{FollowInterval: time.Second, PlaceInterval: 100 * time.Millisecond}})
	cnt := &counting{next: e.hc.Transport}
	e.hc = &http.Client{Transport: cnt}
	e.svc = e.newService()
	e.run(e.svc)
	b.ResetTimer()
	submitAll(b, e.svc, inFlight, 600_000)
	waitCounts(b, e.svc, func(c map[dispatch.State]int) bool { return c[dispatch.StateRunning] == inFlight })
	before, start := cnt.n.Load(), time.Now()
	<-time.After(window) // the measurement is over a span of time by nature
	reqs := float64(cnt.n.Load() - before)
	perCtlPerSec := reqs / float64(controllers) / time.Since(start).Seconds()
	b.ReportMetric(perCtlPerSec, "req/ctrl/s")
	b.ReportMetric(perCtlPerSec/(inFlight/controllers/100), "req/ctrl/s/100builds")
}
