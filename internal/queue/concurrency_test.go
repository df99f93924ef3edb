package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestConcurrentLeases has 50 workers drain 500 jobs of one cluster: no
// job is held by two workers at once, each is leased exactly once (no
// lease expires: the clock stands still) and completed exactly once.
func TestConcurrentLeases(t *testing.T) {
	t.Parallel()
	const workers, jobs = 50, 500
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, e, queue.Options{})
			want := map[int64]bool{}
			for i := range jobs {
				want[f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: int64(i + 1)}).ID] = true
			}
			f.enqueue(t, queue.Job{Cluster: "other"}) // never leased from bf1

			var (
				mu        sync.Mutex
				holder    = map[int64]string{} // job → worker holding it now
				leases    = map[int64]int{}
				completed = map[int64]int{}
				wg        sync.WaitGroup
			)
			for w := range workers {
				worker := fmt.Sprintf("w%02d", w)
				wg.Go(func() {
					for {
						j, err := f.q.Lease(f.ctx, "bf1", worker, time.Hour)
						if errors.Is(err, queue.ErrEmpty) {
							return
						}
						if err != nil {
							t.Errorf("%s: Lease: %v", worker, err)
							return
						}
						mu.Lock()
						if other, held := holder[j.ID]; held {
							t.Errorf("job %d leased by %s while %s holds it", j.ID, worker, other)
						}
						holder[j.ID] = worker
						leases[j.ID]++
						mu.Unlock()

						mu.Lock()
						delete(holder, j.ID) // released before Complete: the row stays leased until then
						mu.Unlock()
						if _, err := f.q.Complete(f.ctx, j.ID, j.LeaseToken, "SUCCESS", 0); err != nil {
							t.Errorf("%s: Complete(%d): %v", worker, j.ID, err)
							continue
						}
						mu.Lock()
						completed[j.ID]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(leases) != jobs || len(completed) != jobs {
				t.Errorf("leased %d jobs and completed %d, want %d each", len(leases), len(completed), jobs)
			}
			for id := range want {
				if leases[id] != 1 || completed[id] != 1 {
					t.Errorf("job %d: leased %d times, completed %d times; want once each", id, leases[id], completed[id])
				}
			}
			list, err := f.q.List(f.ctx, queue.ListFilter{Cluster: "bf1", State: queue.StateCompleted, Limit: 1000})
			if err != nil || len(list) != jobs {
				t.Errorf("completed in the database: got %d, %v; want %d", len(list), err, jobs)
			}
			if j := f.lease(t, "other", "w"); j.Cluster != "other" {
				t.Errorf("other cluster's job: got %+v", j)
			}
		})
	}
}

// TestConcurrentRescue races workers that lease with a short TTL against a
// rescuer that keeps advancing the clock: jobs are leased many times, but
// each is completed exactly once, by a holder of its current lease, and
// every stale call is fenced.
func TestConcurrentRescue(t *testing.T) {
	t.Parallel()
	const workers, jobs = 20, 100
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, e, queue.Options{})
			for range jobs {
				f.enqueue(t, queue.Job{Cluster: "bf1", MaxAttempts: 100})
			}
			var (
				mu        sync.Mutex
				completed = map[int64]int{}
				fenced    atomic.Int64
				wg        sync.WaitGroup
				done      = make(chan struct{})
				rescuer   sync.WaitGroup
			)
			rescuer.Go(func() { // with a clock that runs fast
				for {
					select {
					case <-done:
						return
					default:
					}
					f.clock.Advance(time.Second)
					if _, err := f.q.Rescue(f.ctx); err != nil {
						t.Errorf("Rescue: %v", err)
						return
					}
				}
			})
			for w := range workers {
				wg.Go(func() {
					for i := 0; ; i++ {
						j, err := f.q.Lease(f.ctx, "bf1", fmt.Sprint("w", w), time.Second)
						if errors.Is(err, queue.ErrEmpty) {
							mu.Lock()
							n := len(completed)
							mu.Unlock()
							if n == jobs {
								return
							}
							continue // leased elsewhere; rescued ones come back
						}
						if err != nil {
							t.Errorf("Lease: %v", err)
							return
						}
						if i%3 == 0 {
							continue // walk away from every third lease: the rescuer takes it back
						}
						if _, err := f.q.Complete(f.ctx, j.ID, j.LeaseToken, "SUCCESS", 0); errors.Is(err, queue.ErrLeaseLost) {
							fenced.Add(1)
							continue
						} else if err != nil {
							t.Errorf("Complete: %v", err)
							return
						}
						mu.Lock()
						completed[j.ID]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(done)
			rescuer.Wait()
			for id, n := range completed {
				if n != 1 {
					t.Errorf("job %d completed %d times", id, n)
				}
			}
			if len(completed) != jobs {
				t.Errorf("completed %d jobs, want %d", len(completed), jobs)
			}
			t.Logf("%d stale completions fenced", fenced.Load())
		})
	}
}

// TestBlockedByAtomic hammers Lease on the dependents' cluster while their
// blocker is live: none is ever leased before the blocker's Complete has
// begun, and all are leased after it.
func TestBlockedByAtomic(t *testing.T) {
	t.Parallel()
	const lessors, dependents = 10, 20
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, e, queue.Options{})
			blocker := f.enqueue(t, queue.Job{Cluster: "build"})
			for range dependents {
				f.enqueue(t, queue.Job{Cluster: "deploy", BlockedBy: []int64{blocker.ID}})
			}
			bl := f.lease(t, "build", "builder")

			var (
				completing atomic.Bool
				tries      atomic.Int64
				leased     atomic.Int64
				wg         sync.WaitGroup
			)
			for w := range lessors {
				wg.Go(func() {
					for leased.Load() < dependents {
						tries.Add(1)
						j, err := f.q.Lease(f.ctx, "deploy", fmt.Sprint("w", w), time.Hour)
						if errors.Is(err, queue.ErrEmpty) {
							continue
						}
						if err != nil {
							t.Errorf("Lease: %v", err)
							return
						}
						if !completing.Load() {
							t.Errorf("job %d leased while its blocker %d is still leased", j.ID, blocker.ID)
						}
						leased.Add(1)
					}
				})
			}
			// Let the lessors try many times against the live blocker first.
			testkit.Eventually(t, 10*time.Second, func() bool { return tries.Load() >= 200 }, testkit.Sayf("200 lease attempts"))
			completing.Store(true)
			if _, err := f.q.Complete(f.ctx, blocker.ID, bl.LeaseToken, "SUCCESS", 0); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if leased.Load() != dependents {
				t.Errorf("leased %d dependents, want %d", leased.Load(), dependents)
			}
		})
	}
}

// recordingNotifier is a LocalNotifier that reports each Wait, so a test
// knows a LeaseWait is parked before it enqueues.
type recordingNotifier struct {
	*queue.LocalNotifier
	waits chan string
}

func (n recordingNotifier) Wait(cluster string) <-chan struct{} {
	ch := n.LocalNotifier.Wait(cluster)
	n.waits <- cluster
	return ch
}

// silentNotifier never wakes anyone: only the fallback poll finds work.
type silentNotifier struct{}

func (silentNotifier) Notify(string)               {}
func (silentNotifier) Wait(string) <-chan struct{} { return nil }

// leaseWait runs LeaseWait on cluster as worker w1, for up to an hour, in
// the background; the job it leases arrives on the channel.
func leaseWait(t *testing.T, f fixture, cluster string) <-chan queue.Job {
	got := make(chan queue.Job, 1)
	go func() {
		j, err := f.q.LeaseWait(f.ctx, cluster, "w1", ttl, time.Hour)
		if err != nil {
			t.Errorf("LeaseWait: %v", err)
		}
		got <- j
	}()
	return got
}

// receive waits for LeaseWait's job, failing the test after 10 s.
func receive(t *testing.T, got <-chan queue.Job, what string) queue.Job {
	t.Helper()
	select {
	case j := <-got:
		return j
	case <-time.After(10 * time.Second):
		t.Fatalf("LeaseWait was not %s", what)
	}
	return queue.Job{}
}

func TestLeaseWait(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("woken by enqueue", func(t *testing.T) {
				t.Parallel()
				n := recordingNotifier{queue.NewNotifier(), make(chan string, 10)}
				// An hour-long poll: only the notification can wake the waiter.
				f := setup(t, e, queue.Options{Notifier: n, PollInterval: time.Hour})
				got := leaseWait(t, f, "bf1")
				<-n.waits // parked on bf1 (its first Lease found nothing, or is about to)
				f.enqueue(t, queue.Job{Cluster: "iOS"})
				want := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 42})
				if j := receive(t, got, "woken by Enqueue"); j.ID != want.ID || j.State != queue.StateLeased || j.LeasedBy != "w1" {
					t.Errorf("LeaseWait: got %+v, want job %d leased by w1", j, want.ID)
				}
			})
			t.Run("woken when a blocker completes", func(t *testing.T) {
				t.Parallel()
				n := recordingNotifier{queue.NewNotifier(), make(chan string, 10)}
				f := setup(t, e, queue.Options{Notifier: n, PollInterval: time.Hour})
				blocker := f.enqueue(t, queue.Job{Cluster: "build"})
				dep := f.enqueue(t, queue.Job{Cluster: "deploy", BlockedBy: []int64{blocker.ID}})
				bl := f.lease(t, "build", "b")
				got := leaseWait(t, f, "deploy")
				<-n.waits
				if _, err := f.q.Complete(f.ctx, blocker.ID, bl.LeaseToken, "SUCCESS", 0); err != nil {
					t.Fatal(err)
				}
				if j := receive(t, got, "woken when the blocker completed"); j.ID != dep.ID {
					t.Errorf("LeaseWait: got job %d, want %d", j.ID, dep.ID)
				}
			})
			t.Run("fallback poll", func(t *testing.T) {
				t.Parallel()
				f := setup(t, e, queue.Options{Notifier: silentNotifier{}, PollInterval: 5 * time.Millisecond})
				got := leaseWait(t, f, "bf1")
				want := f.enqueue(t, queue.Job{Cluster: "bf1"})
				if j := receive(t, got, "found by polling"); j.ID != want.ID {
					t.Errorf("LeaseWait: got job %d, want %d", j.ID, want.ID)
				}
			})
			t.Run("nothing within wait", func(t *testing.T) {
				t.Parallel()
				f := setup(t, e, queue.Options{PollInterval: time.Hour})
				if _, err := f.q.LeaseWait(f.ctx, "bf1", "w1", ttl, time.Millisecond); !errors.Is(err, queue.ErrEmpty) {
					t.Errorf("LeaseWait: got %v, want ErrEmpty", err)
				}
			})
			t.Run("context ends", func(t *testing.T) {
				t.Parallel()
				f := setup(t, e, queue.Options{PollInterval: time.Hour})
				ctx, cancel := context.WithCancel(f.ctx)
				cancel()
				if _, err := f.q.LeaseWait(ctx, "bf1", "w1", ttl, time.Hour); !errors.Is(err, context.Canceled) {
					t.Errorf("LeaseWait: got %v, want context.Canceled", err)
				}
			})
		})
	}
}

// TestRun runs the rescuer service: an expired lease is rescued, and the
// transition counted.
func TestRun(t *testing.T) {
	t.Parallel()
	e := dbtest.Engines(t)[0]
	f := setup(t, e, queue.Options{RescueInterval: time.Millisecond})
	reg := prometheus.NewRegistry()
	f.q.Register(reg)
	j := f.enqueue(t, queue.Job{Cluster: "bf1"})
	f.lease(t, "bf1", "w1")
	f.clock.Advance(ttl + time.Second)

	ctx, cancel := context.WithCancel(f.ctx)
	stopped := make(chan error)
	go func() { stopped <- f.q.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, func() bool { return f.get(t, j.ID).State == queue.StateAvailable }, testkit.Sayf("the lease to be rescued"))
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run: got %v, want nil after cancel", err)
	}

	got := gather(t, reg)
	for _, want := range []string{
		`jenkinds_queue_depth{cluster="bf1"} 1`,
		`jenkinds_queue_rescued_total{cluster="bf1",outcome="requeued"} 1`,
		`jenkinds_queue_leased_total{cluster="bf1"} 1`,
		`jenkinds_queue_enqueued_total{cluster="bf1"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics do not have %s:\n%s", want, got)
		}
	}
}

// gather renders reg's metrics one sample a line: name{labels} value.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b strings.Builder
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			fmt.Fprintf(&b, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), v)
		}
	}
	return b.String()
}
