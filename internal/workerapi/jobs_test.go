package workerapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

func forEachEngine(t *testing.T, test func(t *testing.T, e dbtest.Engine)) {
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

func decodeJob(t *testing.T, r response) queue.Job {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	var j queue.Job
	if err := json.Unmarshal([]byte(r.body), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func wantLeaseLost(t *testing.T, r response, what string) {
	t.Helper()
	if r.status != http.StatusConflict || r.err(t).Error.Code != workerapi.CodeLeaseLost {
		t.Errorf("%s: got %d %s, want 409 lease_lost", what, r.status, r.body)
	}
}

func TestClaimExtendLogComplete(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		f := setup(t, e, workerapi.Config{})
		j := f.enqueue("bf1", `{"job":"main"}`)
		if r := f.claim("iOS"); r.status != http.StatusNoContent {
			t.Errorf("iOS claims from its empty queue: got %d %s, want 204", r.status, r.body)
		}
		c := decodeClaim(t, f.claim("bf1"))
		if c.Job.ID != j.ID || c.LeaseToken == "" || c.LeaseTTLSeconds != 60 || c.Job.LeasedBy != "w1" || string(c.Job.Payload) != `{"job":"main"}` {
			t.Errorf("claim: got %+v", c)
		}
		if strings.Contains(fmt.Sprint(c.Job), c.LeaseToken) {
			t.Errorf("the job's JSON holds the lease token")
		}
		if first, again := f.metrics.Deliveries("bf1"); first != 1 || again != 0 {
			t.Errorf("deliveries: got %v first, %v again; want 1, 0", first, again)
		}
		if r := f.claim("bf1"); r.status != http.StatusNoContent {
			t.Errorf("second claim: got %d %s, want 204", r.status, r.body)
		}
		jobPath := func(cluster, call string) string { return fmt.Sprintf("/api/v1/jobs/%s/%d/%s", cluster, j.ID, call) }

		f.clock.Advance(30 * time.Second)
		ext := decodeJob(t, f.call("POST", jobPath("bf1", "extend"), f.tokenFor("bf1"), workerapi.ExtendRequest{LeaseToken: c.LeaseToken}))
		if want := f.clock.Now().Add(time.Minute); ext.LeaseExpiresAt == nil || !ext.LeaseExpiresAt.Equal(want) {
			t.Errorf("extend: lease expires %v, want %v", ext.LeaseExpiresAt, want)
		}
		wantLeaseLost(t, f.call("POST", jobPath("bf1", "extend"), f.tokenFor("bf1"), workerapi.ExtendRequest{LeaseToken: "wrong"}), "extend with a wrong token")
		if got := f.metrics.LeaseLost("bf1", "extend"); got != 1 {
			t.Errorf("lease lost{extend}: got %v, want 1", got)
		}

		// Logs: in order of offset, a part sent twice stored once, cut at
		// the limit (1 KiB in this fixture).
		for _, part := range []workerapi.LogRequest{{Offset: 6, Data: "world\n"}, {Offset: 0, Data: "hello\n"}, {Offset: 6, Data: "world\n"}} {
			part.LeaseToken = c.LeaseToken
			r := f.call("POST", jobPath("bf1", "log"), f.tokenFor("bf1"), part)
			var lr workerapi.LogResponse
			json.Unmarshal([]byte(r.body), &lr)
			if r.status != http.StatusOK || lr.Attempt != 1 || lr.Stored != len(part.Data) || lr.Truncated {
				t.Errorf("log %+v: got %d %s", part, r.status, r.body)
			}
		}
		r := f.call("POST", jobPath("bf1", "log"), f.tokenFor("bf1"), workerapi.LogRequest{LeaseToken: c.LeaseToken, Offset: 1000, Data: strings.Repeat("x", 100)})
		if r.status != http.StatusOK || !contains(r.body, `"stored":24`, `"truncated":true`) {
			t.Errorf("log past the limit: got %d %s, want 24 stored, truncated", r.status, r.body)
		}
		if text, err := f.logs.Log(f.ctx, j.ID, 1); err != nil || string(text) != "hello\nworld\n"+strings.Repeat("x", 24) {
			t.Errorf("stored log: got %q, %v", text, err)
		}

		// Another cluster cannot touch the job, whatever it holds.
		r = f.call("POST", jobPath("iOS", "complete"), f.tokenFor("iOS"), workerapi.CompleteRequest{LeaseToken: c.LeaseToken, Result: "SUCCESS"})
		if r.status != http.StatusNotFound {
			t.Errorf("complete through another cluster: got %d %s, want 404", r.status, r.body)
		}
		r = f.call("POST", jobPath("bf1", "complete"), f.tokenFor("bf1"), workerapi.CompleteRequest{LeaseToken: c.LeaseToken, Result: "success"})
		if r.status != http.StatusBadRequest || r.err(t).Error.Field != "result" {
			t.Errorf("complete with result success: got %d %s, want 400 on result", r.status, r.body)
		}

		done := decodeJob(t, f.call("POST", jobPath("bf1", "complete"), f.tokenFor("bf1"), workerapi.CompleteRequest{LeaseToken: c.LeaseToken, Result: "FAILURE", ExitCode: 3}))
		if done.State != queue.StateCompleted || done.Result != "FAILURE" || done.ExitCode == nil || *done.ExitCode != 3 {
			t.Errorf("complete: got %+v", done)
		}
		again := decodeJob(t, f.call("POST", jobPath("bf1", "complete"), f.tokenFor("bf1"), workerapi.CompleteRequest{LeaseToken: c.LeaseToken, Result: "FAILURE", ExitCode: 3}))
		if again.State != queue.StateCompleted || again.UpdatedAt != done.UpdatedAt {
			t.Errorf("complete repeated: got %+v, want the job as first completed", again)
		}
		wantLeaseLost(t, f.call("POST", jobPath("bf1", "log"), f.tokenFor("bf1"), workerapi.LogRequest{LeaseToken: c.LeaseToken, Data: "late"}), "log after complete")
	})
}

// TestStaleLeaseRefused: a worker whose lease expired and was rescued can
// neither complete, fail, extend nor log; the new holder can, and its log
// is its attempt's own.
func TestStaleLeaseRefused(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		f := setup(t, e, workerapi.Config{})
		j := f.enqueue("bf1", `{}`)
		stale := decodeClaim(t, f.claim("bf1"))
		f.clock.Advance(2 * time.Minute)
		if n, err := f.queue.Rescue(f.ctx); err != nil || n != 1 {
			t.Fatalf("rescue: %d, %v", n, err)
		}
		fresh := decodeClaim(t, f.claim("bf1"))
		if fresh.Job.ID != j.ID || fresh.Job.Attempt != 2 || fresh.LeaseToken == stale.LeaseToken {
			t.Fatalf("redelivery: got %+v", fresh)
		}
		if first, again := f.metrics.Deliveries("bf1"); first != 1 || again != 1 {
			t.Errorf("deliveries: got %v first, %v again; want 1, 1", first, again)
		}
		path := func(call string) string { return fmt.Sprintf("/api/v1/jobs/bf1/%d/%s", j.ID, call) }
		token := f.tokenFor
		wantLeaseLost(t, f.call("POST", path("complete"), token("bf1"), workerapi.CompleteRequest{LeaseToken: stale.LeaseToken, Result: "SUCCESS"}), "stale complete")
		wantLeaseLost(t, f.call("POST", path("fail"), token("bf1"), workerapi.FailRequest{LeaseToken: stale.LeaseToken, Reason: "x"}), "stale fail")
		wantLeaseLost(t, f.call("POST", path("extend"), token("bf1"), workerapi.ExtendRequest{LeaseToken: stale.LeaseToken}), "stale extend")
		wantLeaseLost(t, f.call("POST", path("log"), token("bf1"), workerapi.LogRequest{LeaseToken: stale.LeaseToken, Data: "stale\n"}), "stale log")
		for _, call := range []string{"complete", "fail", "extend", "log"} {
			if got := f.metrics.LeaseLost("bf1", call); got != 1 {
				t.Errorf("lease lost{%s}: got %v, want 1", call, got)
			}
		}
		f.call("POST", path("log"), token("bf1"), workerapi.LogRequest{LeaseToken: fresh.LeaseToken, Data: "fresh\n"})
		done := decodeJob(t, f.call("POST", path("complete"), token("bf1"), workerapi.CompleteRequest{LeaseToken: fresh.LeaseToken, Result: "SUCCESS"}))
		if done.State != queue.StateCompleted || done.Attempt != 2 {
			t.Errorf("complete by the new holder: got %+v", done)
		}
		for attempt, want := range map[int]string{1: "", 2: "fresh\n"} {
			if text, _ := f.logs.Log(f.ctx, j.ID, attempt); string(text) != want {
				t.Errorf("log of attempt %d: got %q, want %q", attempt, text, want)
			}
		}
	})
}

func TestFailRetries(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{})
	j := f.enqueue("bf1", `{}`)
	c := decodeClaim(t, f.claim("bf1"))
	back := decodeJob(t, f.call("POST", fmt.Sprintf("/api/v1/jobs/bf1/%d/fail", j.ID), f.tokenFor("bf1"),
		workerapi.FailRequest{LeaseToken: c.LeaseToken, Reason: "worker stopping", Retry: true}))
	if back.State != queue.StateAvailable || back.Attempt != 2 {
		t.Errorf("fail with retry: got %+v, want available on attempt 2", back)
	}
	if c := decodeClaim(t, f.claim("bf1")); c.Job.ID != j.ID {
		t.Errorf("claim after release: got job %d", c.Job.ID)
	}
}

// TestClaimWaits: a long poll returns the job enqueued while it waits.
func TestClaimWaits(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{})
	got := make(chan response, 1)
	token := f.tokenFor("bf1")
	go func() { got <- f.call("GET", "/api/v1/jobs/bf1?wait=20", token, nil) }()
	j := f.enqueue("bf1", `{}`)
	if c := decodeClaim(t, <-got); c.Job.ID != j.ID {
		t.Errorf("long poll: got job %d, want %d", c.Job.ID, j.ID)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{MaxWait: 50 * time.Millisecond})
	j := f.enqueue("bf1", `{}`)
	c := decodeClaim(t, f.claim("bf1"))
	complete := fmt.Sprintf("/api/v1/jobs/bf1/%d/complete", j.ID)
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"negative wait", "GET", "/api/v1/jobs/bf1?wait=-1", nil, 400, workerapi.CodeInvalidParameter, "wait"},
		{"wait not a number", "GET", "/api/v1/jobs/bf1?wait=soon", nil, 400, workerapi.CodeInvalidParameter, "wait"},
		{"unknown parameter", "GET", "/api/v1/jobs/bf1?worker=x", nil, 400, workerapi.CodeInvalidParameter, "worker"},
		{"jobId not a number", "POST", "/api/v1/jobs/bf1/abc/complete", workerapi.CompleteRequest{}, 400, workerapi.CodeInvalidParameter, "jobId"},
		{"no such job", "POST", "/api/v1/jobs/bf1/999/complete", workerapi.CompleteRequest{}, 404, workerapi.CodeNotFound, "jobId"},
		{"no lease token", "POST", complete, workerapi.CompleteRequest{Result: "SUCCESS"}, 400, workerapi.CodeInvalidField, "leaseToken"},
		{"unknown field", "POST", complete, map[string]any{"leaseToken": c.LeaseToken, "result": "SUCCESS", "exit": 1}, 400, workerapi.CodeInvalidJSON, ""},
		{"negative offset", "POST", fmt.Sprintf("/api/v1/jobs/bf1/%d/log", j.ID), workerapi.LogRequest{LeaseToken: c.LeaseToken, Offset: -1}, 400, workerapi.CodeInvalidField, "offset"},
	} {
		r := f.call(tt.method, tt.path, f.tokenFor("bf1"), tt.body)
		if r.status != tt.status {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.status, r.body, tt.status)
			continue
		}
		if e := r.err(t); e.Error.Code != tt.code || e.Error.Field != tt.field {
			t.Errorf("%s: got code %q field %q, want %q %q (%s)", tt.name, e.Error.Code, e.Error.Field, tt.code, tt.field, e.Error.Message)
		}
		if strings.Contains(r.body, c.LeaseToken) {
			t.Errorf("%s: the answer quotes the lease token", tt.name)
		}
	}
	// Another cluster's job that no claim of this server handed out: the
	// cluster is read from the queue, and the answer is the same 404.
	other := f.enqueue("iOS", `{}`)
	leased, err := f.queue.Lease(f.ctx, "iOS", "elsewhere", time.Minute)
	if err != nil || leased.ID != other.ID {
		t.Fatalf("lease: %v", err)
	}
	r := f.call("POST", fmt.Sprintf("/api/v1/jobs/bf1/%d/complete", other.ID), f.tokenFor("bf1"),
		workerapi.CompleteRequest{LeaseToken: leased.LeaseToken, Result: "SUCCESS"})
	if r.status != http.StatusNotFound {
		t.Errorf("complete another cluster's job: got %d %s, want 404", r.status, r.body)
	}
	if j, _ := f.queue.Get(f.ctx, other.ID); j.State != queue.StateLeased {
		t.Errorf("the other cluster's job: got %s, want it untouched", j.State)
	}
	// A wait over MaxWait is cut to it.
	if r := f.call("GET", "/api/v1/jobs/bf1?wait=3600", f.tokenFor("bf1"), nil); r.status != http.StatusNoContent {
		t.Errorf("wait=3600: got %d %s, want 204 after MaxWait", r.status, r.body)
	}
	// Routing needs no token.
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/api/v1/jobs/bf1", 405, "GET"},
		{"GET", "/api/v1/jobs/bf1/1/complete", 405, "POST"},
		{"GET", "/api/v1/jobs/", 404, ""},
		{"POST", "/api/v1/jobs/bf1/1/explode", 404, ""},
	} {
		r := f.call(tt.method, tt.path, "", nil)
		if r.status != tt.status || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: got %d Allow %q, want %d Allow %q", tt.method, tt.path, r.status, r.header.Get("Allow"), tt.status, tt.allow)
		}
	}
}

func TestLogStore(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		f := setup(t, e, workerapi.Config{})
		for _, c := range []struct {
			offset int64
			data   string
		}{{0, "a\x00b"}, {3, "ü"}, {3, "ü"}} {
			if _, _, err := f.logs.Append(f.ctx, 7, 1, c.offset, c.data); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := f.logs.Log(f.ctx, 7, 1); err != nil || string(got) != "abü" {
			t.Errorf("log: got %q, %v; want NUL dropped and the repeated part once", got, err)
		}
		// A cut inside a rune keeps whole runes only.
		n, truncated, err := f.logs.Append(f.ctx, 8, 1, 1023, "üü")
		if err != nil || n != 0 || !truncated {
			t.Errorf("append across the limit inside a rune: got %d, %v, %v", n, truncated, err)
		}
		if got, _ := f.logs.Log(f.ctx, 9, 1); len(got) != 0 {
			t.Errorf("log of a job without one: got %q", got)
		}
	})
}
