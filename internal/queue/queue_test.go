package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

const ttl = time.Minute

type fixture struct {
	ctx   context.Context
	db    *db.DB
	clock *testkit.Clock
	q     *queue.Queue
}

func setup(t testing.TB, e dbtest.Engine, opts queue.Options) fixture {
	t.Helper()
	f := fixture{ctx: context.Background(), db: e.Open(t), clock: testkit.NewClock(start)}
	if err := f.db.Migrate(f.ctx, queue.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.q = queue.New(f.db, opts)
	return f
}

func (f fixture) enqueue(t testing.TB, j queue.Job) queue.Job {
	t.Helper()
	out, err := f.q.Enqueue(f.ctx, j)
	if err != nil {
		t.Fatalf("Enqueue(%+v): %v", j, err)
	}
	return out
}

func (f fixture) lease(t testing.TB, cluster, worker string) queue.Job {
	t.Helper()
	j, err := f.q.Lease(f.ctx, cluster, worker, ttl)
	if err != nil {
		t.Fatalf("Lease(%s, %s): %v", cluster, worker, err)
	}
	return j
}

func (f fixture) get(t testing.TB, id int64) queue.Job {
	t.Helper()
	j, err := f.q.Get(f.ctx, id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return j
}

func wantEmpty(t testing.TB, f fixture, cluster string) {
	t.Helper()
	if j, err := f.q.Lease(f.ctx, cluster, "w-empty", ttl); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("Lease(%s): got job %d (%v), want ErrEmpty", cluster, j.ID, err)
	}
}

func wantLeaseLost(t testing.TB, what string, err error, state queue.State) {
	t.Helper()
	var lost *queue.LeaseLostError
	if !errors.As(err, &lost) || !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("%s: got %v, want *LeaseLostError", what, err)
	}
	if lost.State != state {
		t.Errorf("%s: LeaseLostError.State = %s, want %s", what, lost.State, state)
	}
}

func ptr[T any](v T) *T { return &v }

// TestQueue runs every queue test on every engine, each on a fresh database.
func TestQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(*testing.T, fixture)
	}{
		{"enqueue and lease", testEnqueueAndLease},
		{"invalid input", testInvalid},
		{"one live job per build", testDuplicateBuild},
		{"extend", testExtend},
		{"complete", testComplete},
		{"fail", testFail},
		{"rescue and fencing", testRescueFencing},
		{"delivery limit", testDeliveryLimit},
		{"cancel", testCancel},
		{"blocked by", testBlockedBy},
		{"blocker that failed or was cancelled", testBlockerFinishedBadly},
		{"stats", testStats},
		{"list", testList},
		{"json hides the token", testJSON},
	}
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, setup(t, e, queue.Options{}))
				})
			}
		})
	}
}

func testEnqueueAndLease(t *testing.T, f fixture) {
	a := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 11, Payload: json.RawMessage(`{"steps":[{"test":"make"}]}`)})
	b := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 12})
	f.enqueue(t, queue.Job{Cluster: "iOS", BuildID: 13})
	at := start.Truncate(time.Microsecond)
	if a.State != queue.StateAvailable || a.Attempt != 1 || a.MaxAttempts != 3 || a.LeaseToken != "" || a.LeaseExpiresAt != nil ||
		!a.CreatedAt.Equal(at) || string(a.Payload) != `{"steps":[{"test":"make"}]}` || len(a.BlockedBy) != 0 {
		t.Errorf("Enqueue: got %+v", a)
	}
	if string(b.Payload) != "{}" {
		t.Errorf("Enqueue without payload: got %s, want {}", b.Payload)
	}

	// Oldest first, per cluster.
	got := f.lease(t, "bf1", "w1")
	if got.ID != a.ID || got.State != queue.StateLeased || got.LeasedBy != "w1" || got.LeaseToken == "" ||
		got.LeaseExpiresAt == nil || !got.LeaseExpiresAt.Equal(at.Add(ttl)) || got.Attempt != 1 {
		t.Errorf("Lease: got %+v, want job %d leased by w1 until %v", got, a.ID, at.Add(ttl))
	}
	second := f.lease(t, "bf1", "w2")
	if second.ID != b.ID || second.LeaseToken == got.LeaseToken {
		t.Errorf("second Lease: got job %d token %q, want job %d with a token of its own", second.ID, second.LeaseToken, b.ID)
	}
	wantEmpty(t, f, "bf1")
	wantEmpty(t, f, "nope")
	if ios := f.lease(t, "iOS", "w3"); ios.BuildID != 13 {
		t.Errorf("Lease(iOS): got build %d, want 13", ios.BuildID)
	}
	if stored := f.get(t, a.ID); stored.LeaseToken != got.LeaseToken || stored.State != queue.StateLeased {
		t.Errorf("Get after Lease: got %+v", stored)
	}
}

func testInvalid(t *testing.T, f fixture) {
	tests := []struct {
		name  string
		job   queue.Job
		field string
	}{
		{"no cluster", queue.Job{}, "cluster"},
		{"cluster with a slash", queue.Job{Cluster: "a/b"}, "cluster"},
		{"negative build", queue.Job{Cluster: "c", BuildID: -1}, "buildId"},
		{"payload not JSON", queue.Job{Cluster: "c", Payload: json.RawMessage(`{`)}, "payload"},
		{"max attempts 101", queue.Job{Cluster: "c", MaxAttempts: 101}, "maxAttempts"},
		{"max attempts negative", queue.Job{Cluster: "c", MaxAttempts: -1}, "maxAttempts"},
		{"blocked by an unknown job", queue.Job{Cluster: "c", BlockedBy: []int64{999}}, "blockedBy"},
		{"blocked by 0", queue.Job{Cluster: "c", BlockedBy: []int64{0}}, "blockedBy"},
	}
	for _, tt := range tests {
		_, err := f.q.Enqueue(f.ctx, tt.job)
		var ve *queue.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("Enqueue (%s): got %v, want *ValidationError on %s", tt.name, err, tt.field)
		}
	}
	wantEmpty(t, f, "c") // nothing half-enqueued
	for _, tt := range []struct {
		worker string
		ttl    time.Duration
		field  string
	}{{"", ttl, "workerId"}, {"w", 0, "ttl"}, {"w", 25 * time.Hour, "ttl"}} {
		_, err := f.q.Lease(f.ctx, "c", tt.worker, tt.ttl)
		var ve *queue.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("Lease(%q, %v): got %v, want *ValidationError on %s", tt.worker, tt.ttl, err, tt.field)
		}
	}
}

func testDuplicateBuild(t *testing.T, f fixture) {
	first := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 7})
	if _, err := f.q.Enqueue(f.ctx, queue.Job{Cluster: "bf1", BuildID: 7}); !errors.Is(err, queue.ErrDuplicate) {
		t.Fatalf("second Enqueue of build 7: got %v, want ErrDuplicate", err)
	}
	j := f.lease(t, "bf1", "w1")
	if _, err := f.q.Enqueue(f.ctx, queue.Job{Cluster: "iOS", BuildID: 7}); !errors.Is(err, queue.ErrDuplicate) {
		t.Fatalf("Enqueue of build 7 while leased: got %v, want ErrDuplicate", err)
	}
	if _, err := f.q.Complete(f.ctx, j.ID, j.LeaseToken, "SUCCESS", 0); err != nil {
		t.Fatal(err)
	}
	// A finished build may be queued again (a restart makes a new job).
	again := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 7})
	if again.ID == first.ID {
		t.Errorf("re-enqueue: got the same job %d", again.ID)
	}
}

func testExtend(t *testing.T, f fixture) {
	f.enqueue(t, queue.Job{Cluster: "bf1"})
	j := f.lease(t, "bf1", "w1")
	f.clock.Advance(40 * time.Second)
	ext, err := f.q.Extend(f.ctx, j.ID, j.LeaseToken, ttl)
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	want := f.clock.Now().Truncate(time.Microsecond).Add(ttl)
	if ext.LeaseExpiresAt == nil || !ext.LeaseExpiresAt.Equal(want) || ext.LeaseToken != j.LeaseToken {
		t.Errorf("Extend: got expiry %v token kept %v, want %v", ext.LeaseExpiresAt, ext.LeaseToken == j.LeaseToken, want)
	}
	// Past the first expiry, the extended lease still holds: nothing to rescue.
	f.clock.Advance(40 * time.Second)
	if n, err := f.q.Rescue(f.ctx); err != nil || n != 0 {
		t.Errorf("Rescue after Extend: got %d, %v; want 0", n, err)
	}
	// A lease past its expiry but not yet rescued still holds: the holder
	// may extend it, and then there is nothing to rescue.
	f.clock.Advance(time.Minute)
	if _, err := f.q.Extend(f.ctx, j.ID, j.LeaseToken, ttl); err != nil {
		t.Errorf("Extend of an expired, unrescued lease: %v", err)
	}
	if n, err := f.q.Rescue(f.ctx); err != nil || n != 0 {
		t.Errorf("Rescue after a late Extend: got %d, %v; want 0", n, err)
	}
	_, err = f.q.Extend(f.ctx, j.ID, "not-the-token", ttl)
	wantLeaseLost(t, "Extend with a wrong token", err, queue.StateLeased)
	_, err = f.q.Extend(f.ctx, j.ID, "", ttl)
	wantLeaseLost(t, "Extend with no token", err, queue.StateLeased)
	if _, err := f.q.Extend(f.ctx, 999, j.LeaseToken, ttl); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Extend(999): got %v, want ErrNotFound", err)
	}
	if _, err := f.q.Extend(f.ctx, j.ID, j.LeaseToken, 0); err == nil {
		t.Errorf("Extend with ttl 0: got no error")
	}
}

func testComplete(t *testing.T, f fixture) {
	f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 1})
	j := f.lease(t, "bf1", "w1")
	_, err := f.q.Complete(f.ctx, j.ID, "not-the-token", "SUCCESS", 0)
	wantLeaseLost(t, "Complete with a wrong token", err, queue.StateLeased)

	f.clock.Advance(10 * time.Second)
	done, err := f.q.Complete(f.ctx, j.ID, j.LeaseToken, "FAILURE", 2)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if done.State != queue.StateCompleted || done.Result != "FAILURE" || done.ExitCode == nil || *done.ExitCode != 2 ||
		done.FinishedAt == nil || !done.FinishedAt.Equal(f.clock.Now().Truncate(time.Microsecond)) || done.LeaseExpiresAt != nil {
		t.Errorf("Complete: got %+v", done)
	}
	// A retried Complete answers with the job as first completed.
	again, err := f.q.Complete(f.ctx, j.ID, j.LeaseToken, "SUCCESS", 0)
	if err != nil || again.Result != "FAILURE" {
		t.Errorf("repeated Complete: got result %q, %v; want FAILURE, nil", again.Result, err)
	}
	_, err = f.q.Fail(f.ctx, j.ID, j.LeaseToken, "late", false)
	wantLeaseLost(t, "Fail after Complete", err, queue.StateCompleted)
	_, err = f.q.Extend(f.ctx, j.ID, j.LeaseToken, ttl)
	wantLeaseLost(t, "Extend after Complete", err, queue.StateCompleted)
	if _, err := f.q.Complete(f.ctx, 999, j.LeaseToken, "SUCCESS", 0); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Complete(999): got %v, want ErrNotFound", err)
	}
	wantEmpty(t, f, "bf1")
}

func testFail(t *testing.T, f fixture) {
	j := f.enqueue(t, queue.Job{Cluster: "bf1", MaxAttempts: 2})
	first := f.lease(t, "bf1", "w1")
	retried, err := f.q.Fail(f.ctx, j.ID, first.LeaseToken, "image pull failed", true)
	if err != nil {
		t.Fatalf("Fail(retry): %v", err)
	}
	if retried.State != queue.StateAvailable || retried.Attempt != 2 || retried.LeaseToken != "" || retried.LeasedBy != "" ||
		retried.Error != "image pull failed" || retried.FinishedAt != nil {
		t.Errorf("Fail(retry): got %+v, want available on attempt 2", retried)
	}
	_, err = f.q.Fail(f.ctx, j.ID, first.LeaseToken, "image pull failed", true)
	wantLeaseLost(t, "Fail(retry) repeated", err, queue.StateAvailable)

	// The last attempt fails for good even with retry.
	second := f.lease(t, "bf1", "w2")
	if second.Attempt != 2 {
		t.Fatalf("second lease: attempt %d, want 2", second.Attempt)
	}
	failed, err := f.q.Fail(f.ctx, j.ID, second.LeaseToken, "image pull failed again", true)
	if err != nil {
		t.Fatalf("Fail on the last attempt: %v", err)
	}
	if failed.State != queue.StateFailed || failed.Attempt != 2 || failed.FinishedAt == nil || failed.Error != "image pull failed again" {
		t.Errorf("Fail on the last attempt: got %+v, want failed", failed)
	}
	if again, err := f.q.Fail(f.ctx, j.ID, second.LeaseToken, "x", false); err != nil || again.Error != "image pull failed again" {
		t.Errorf("repeated final Fail: got %q, %v; want the first error, nil", again.Error, err)
	}
	wantEmpty(t, f, "bf1")

	// Without retry, the first attempt fails for good.
	k := f.enqueue(t, queue.Job{Cluster: "bf1"})
	kl := f.lease(t, "bf1", "w1")
	if got, err := f.q.Fail(f.ctx, k.ID, kl.LeaseToken, "bad config", false); err != nil || got.State != queue.StateFailed || got.Attempt != 1 {
		t.Errorf("Fail(no retry): got %+v, %v", got, err)
	}
}

func testRescueFencing(t *testing.T, f fixture) {
	j := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 5})
	stale := f.lease(t, "bf1", "w1")

	f.clock.Advance(ttl - time.Second)
	if n, err := f.q.Rescue(f.ctx); err != nil || n != 0 {
		t.Fatalf("Rescue before expiry: got %d, %v; want 0", n, err)
	}
	wantEmpty(t, f, "bf1") // still leased: no second holder while the lease is in force

	f.clock.Advance(2 * time.Second)
	if n, err := f.q.Rescue(f.ctx); err != nil || n != 1 {
		t.Fatalf("Rescue after expiry: got %d, %v; want 1", n, err)
	}
	back := f.get(t, j.ID)
	if back.State != queue.StateAvailable || back.Attempt != 2 || back.LeaseToken != "" || back.LeaseExpiresAt != nil ||
		back.Error != "lease of w1 expired on attempt 1" {
		t.Errorf("rescued job: got %+v", back)
	}
	// The stale worker is fenced out even before anyone leases the job again.
	_, err := f.q.Complete(f.ctx, j.ID, stale.LeaseToken, "SUCCESS", 0)
	wantLeaseLost(t, "stale Complete before the re-lease", err, queue.StateAvailable)

	fresh := f.lease(t, "bf1", "w2")
	if fresh.ID != j.ID || fresh.Attempt != 2 || fresh.LeaseToken == stale.LeaseToken {
		t.Fatalf("re-lease: got %+v", fresh)
	}
	_, err = f.q.Extend(f.ctx, j.ID, stale.LeaseToken, ttl)
	wantLeaseLost(t, "stale Extend", err, queue.StateLeased)
	_, err = f.q.Complete(f.ctx, j.ID, stale.LeaseToken, "SUCCESS", 0)
	wantLeaseLost(t, "stale Complete", err, queue.StateLeased)
	_, err = f.q.Fail(f.ctx, j.ID, stale.LeaseToken, "lost", true)
	wantLeaseLost(t, "stale Fail", err, queue.StateLeased)
	if got := f.get(t, j.ID); got.LeasedBy != "w2" || got.LeaseToken != fresh.LeaseToken {
		t.Errorf("after stale calls: got leased by %s, want w2's lease untouched", got.LeasedBy)
	}
	done, err := f.q.Complete(f.ctx, j.ID, fresh.LeaseToken, "SUCCESS", 0)
	if err != nil || done.State != queue.StateCompleted {
		t.Errorf("fresh Complete: got %+v, %v", done, err)
	}
	_, err = f.q.Complete(f.ctx, j.ID, stale.LeaseToken, "SUCCESS", 0)
	wantLeaseLost(t, "stale Complete after the fresh one", err, queue.StateCompleted)
}

func testDeliveryLimit(t *testing.T, f fixture) {
	j := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 9, MaxAttempts: 2})
	var tokens []string
	for attempt := 1; attempt <= 2; attempt++ {
		l := f.lease(t, "bf1", fmt.Sprintf("w%d", attempt))
		if l.Attempt != attempt {
			t.Fatalf("lease %d: attempt %d", attempt, l.Attempt)
		}
		tokens = append(tokens, l.LeaseToken)
		f.clock.Advance(ttl + time.Second)
		if n, err := f.q.Rescue(f.ctx); err != nil || n != 1 {
			t.Fatalf("Rescue %d: got %d, %v", attempt, n, err)
		}
	}
	failed := f.get(t, j.ID)
	if failed.State != queue.StateFailed || failed.Attempt != 2 || failed.FinishedAt == nil ||
		failed.Error != "lease expired on attempt 2 of 2 (delivery limit reached)" {
		t.Errorf("at the delivery limit: got %+v", failed)
	}
	wantEmpty(t, f, "bf1")
	// Visible as failed, and its last worker is fenced out.
	list, err := f.q.List(f.ctx, queue.ListFilter{State: queue.StateFailed})
	if err != nil || len(list) != 1 || list[0].ID != j.ID {
		t.Errorf("List(failed): got %+v, %v", list, err)
	}
	_, err = f.q.Complete(f.ctx, j.ID, tokens[1], "SUCCESS", 0)
	wantLeaseLost(t, "Complete after the delivery limit", err, queue.StateFailed)
	_, err = f.q.Fail(f.ctx, j.ID, tokens[1], "x", false)
	wantLeaseLost(t, "Fail after the delivery limit", err, queue.StateFailed)
	// The build may be queued again by the user.
	f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 9})
}

func testCancel(t *testing.T, f fixture) {
	a := f.enqueue(t, queue.Job{Cluster: "bf1"})
	b := f.enqueue(t, queue.Job{Cluster: "bf1"})
	got, err := f.q.Cancel(f.ctx, a.ID, "stopped by alice")
	if err != nil || got.State != queue.StateCancelled || got.Error != "stopped by alice" || got.FinishedAt == nil {
		t.Fatalf("Cancel(available): got %+v, %v", got, err)
	}
	if again, err := f.q.Cancel(f.ctx, a.ID, "again"); err != nil || again.Error != "stopped by alice" {
		t.Errorf("Cancel again: got %+v, %v; want it unchanged", again, err)
	}
	l := f.lease(t, "bf1", "w1")
	if l.ID != b.ID {
		t.Fatalf("Lease: got %d, want %d (the cancelled job is skipped)", l.ID, b.ID)
	}
	if _, err := f.q.Cancel(f.ctx, b.ID, "stopped by bob"); err != nil {
		t.Fatalf("Cancel(leased): %v", err)
	}
	_, err = f.q.Extend(f.ctx, b.ID, l.LeaseToken, ttl)
	wantLeaseLost(t, "Extend after Cancel", err, queue.StateCancelled)
	_, err = f.q.Complete(f.ctx, b.ID, l.LeaseToken, "SUCCESS", 0)
	wantLeaseLost(t, "Complete after Cancel", err, queue.StateCancelled)

	c := f.enqueue(t, queue.Job{Cluster: "bf1"})
	cl := f.lease(t, "bf1", "w1")
	if _, err := f.q.Complete(f.ctx, c.ID, cl.LeaseToken, "SUCCESS", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Cancel(f.ctx, c.ID, "too late"); !errors.Is(err, queue.ErrFinished) {
		t.Errorf("Cancel(completed): got %v, want ErrFinished", err)
	}
	if _, err := f.q.Cancel(f.ctx, 999, "x"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Cancel(999): got %v, want ErrNotFound", err)
	}
}

func testBlockedBy(t *testing.T, f fixture) {
	a := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 1})
	other := f.enqueue(t, queue.Job{Cluster: "iOS", BuildID: 2}) // a blocker on another cluster
	c := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 3, BlockedBy: []int64{other.ID, a.ID, a.ID}})
	d := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 4})
	if fmt.Sprint(c.BlockedBy) != fmt.Sprint([]int64{a.ID, other.ID}) {
		t.Errorf("BlockedBy: got %v, want %v sorted and deduplicated", c.BlockedBy, []int64{a.ID, other.ID})
	}

	la := f.lease(t, "bf1", "w1")
	if la.ID != a.ID {
		t.Fatalf("first lease: got %d, want %d", la.ID, a.ID)
	}
	// c waits for a and other: the next lease passes over it.
	if ld := f.lease(t, "bf1", "w2"); ld.ID != d.ID {
		t.Fatalf("second lease: got %d, want %d (c is blocked)", ld.ID, d.ID)
	}
	wantEmpty(t, f, "bf1")
	if _, err := f.q.Complete(f.ctx, a.ID, la.LeaseToken, "SUCCESS", 0); err != nil {
		t.Fatal(err)
	}
	wantEmpty(t, f, "bf1") // other is still available
	lo := f.lease(t, "iOS", "w3")
	wantEmpty(t, f, "bf1") // other is leased
	if _, err := f.q.Complete(f.ctx, other.ID, lo.LeaseToken, "SUCCESS", 0); err != nil {
		t.Fatal(err)
	}
	if lc := f.lease(t, "bf1", "w4"); lc.ID != c.ID {
		t.Errorf("after both blockers completed: got %d, want %d", lc.ID, c.ID)
	}
}

func testBlockerFinishedBadly(t *testing.T, f fixture) {
	a := f.enqueue(t, queue.Job{Cluster: "bf1"})
	b := f.enqueue(t, queue.Job{Cluster: "bf1"})
	ca := f.enqueue(t, queue.Job{Cluster: "x", BlockedBy: []int64{a.ID}})
	cb := f.enqueue(t, queue.Job{Cluster: "y", BlockedBy: []int64{b.ID}})
	wantEmpty(t, f, "x")
	wantEmpty(t, f, "y")
	la := f.lease(t, "bf1", "w1")
	if _, err := f.q.Fail(f.ctx, a.ID, la.LeaseToken, "broke", false); err != nil {
		t.Fatal(err)
	}
	if got := f.lease(t, "x", "w2"); got.ID != ca.ID {
		t.Errorf("after its blocker failed: got %d, want %d", got.ID, ca.ID)
	}
	if _, err := f.q.Cancel(f.ctx, b.ID, "stopped"); err != nil {
		t.Fatal(err)
	}
	if got := f.lease(t, "y", "w3"); got.ID != cb.ID {
		t.Errorf("after its blocker was cancelled: got %d, want %d", got.ID, cb.ID)
	}
}

func testStats(t *testing.T, f fixture) {
	f.enqueue(t, queue.Job{Cluster: "bf1"})
	f.clock.Advance(30 * time.Second)
	f.enqueue(t, queue.Job{Cluster: "bf1"})
	f.enqueue(t, queue.Job{Cluster: "iOS"})
	f.enqueue(t, queue.Job{Cluster: "iOS"})
	f.lease(t, "iOS", "w1")
	done := f.enqueue(t, queue.Job{Cluster: "gq1"})
	dl := f.lease(t, "gq1", "w2")
	if _, err := f.q.Complete(f.ctx, done.ID, dl.LeaseToken, "SUCCESS", 0); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Second)
	got, err := f.q.Stats(f.ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	want := []queue.ClusterStats{
		{Cluster: "bf1", Depth: 2, OldestAvailable: 40 * time.Second},
		{Cluster: "iOS", Depth: 1, OldestAvailable: 10 * time.Second, Leased: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats:\ngot  %v\nwant %v", got, want)
	}
}

func testList(t *testing.T, f fixture) {
	a := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 1})
	b := f.enqueue(t, queue.Job{Cluster: "iOS", BuildID: 2})
	c := f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 3})
	ids := func(js []queue.Job) string {
		var s []string
		for _, j := range js {
			s = append(s, fmt.Sprint(j.ID))
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		f    queue.ListFilter
		want []queue.Job
	}{
		{queue.ListFilter{}, []queue.Job{c, b, a}},
		{queue.ListFilter{Cluster: "bf1"}, []queue.Job{c, a}},
		{queue.ListFilter{BuildID: 2}, []queue.Job{b}},
		{queue.ListFilter{State: queue.StateLeased}, nil},
		{queue.ListFilter{Limit: 1}, []queue.Job{c}},
	} {
		got, err := f.q.List(f.ctx, tt.f)
		if err != nil || ids(got) != ids(tt.want) || got == nil {
			t.Errorf("List(%+v): got %s, %v; want %s", tt.f, ids(got), err, ids(tt.want))
		}
	}
}

func testJSON(t *testing.T, f fixture) {
	f.enqueue(t, queue.Job{Cluster: "bf1", BuildID: 1})
	j := f.lease(t, "bf1", "w1")
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), j.LeaseToken) || strings.Contains(string(b), "leaseToken") {
		t.Errorf("Job JSON %s reveals the lease token", b)
	}
	for _, k := range []string{`"cluster":"bf1"`, `"buildId":1`, `"state":"leased"`, `"attempt":1`, `"maxAttempts":3`, `"leasedBy":"w1"`, `"blockedBy":[]`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("Job JSON %s: missing %s", b, k)
		}
	}
}
