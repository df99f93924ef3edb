package e2e_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestLostBuildIsNotReportedEnded is the chaos test's wrong results made
// small: a controller restarts under a running build, which Jenkins
// reloads as ended FAILURE. Until jenkinds' follower has seen the restart
// and placed the build again, the front door must go on reporting the
// build as building (it is, for jenkinds); a client that reads
// building:false stops following and keeps that result.
//
// The follower runs every second and the health monitor every ten, so
// the front door is asked in between, right after the restart.
func TestLostBuildIsNotReportedEnded(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{
		Controllers: 1,
		Sim:         jenkinssim.Config{Executors: 2, RestartDuration: 10 * time.Millisecond, Jobs: simJobs()},
		Health:      health.Config{Interval: 10 * time.Second},
		Dispatch:    dispatch.Config{FollowInterval: time.Second},
	})
	c := newClient(s.Front)
	t.Cleanup(c.close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, body, err := c.do(ctx, http.MethodPost, "/job/build/buildWithParameters?SIM_DURATION_MS=3000&SIM_RESULT=SUCCESS&SEQ=1")
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("trigger: %v %v %s", err, res, body)
	}
	id, err := queueID(s.Front, res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	testkit.Eventually(t, 10*time.Second, func() bool {
		var it queueItem
		if _, err := c.getJSON(ctx, "/queue/item/"+strconv.FormatInt(id, 10)+"/api/json", &it); err == nil && it.Executable != nil {
			n = it.Executable.Number
		}
		return n > 0
	}, testkit.Sayf("the queue item to become a build"))
	sim := s.Sims[0]
	sim.Restart()
	testkit.Eventually(t, 5*time.Second, func() bool { return !sim.State().Restarting }, testkit.Sayf("the controller to come back"))

	path := "/job/build/" + strconv.FormatInt(n, 10) + "/api/json?tree=number,building,result"
	var b buildJSON
	if _, err := c.getJSON(ctx, path, &b); err != nil {
		t.Fatal(err)
	}
	if !b.Building {
		jb, _ := s.Jenkinds().Dispatch.Get(ctx, id)
		t.Errorf("right after the controller restarted, the front door reports #%d ended %v; jenkinds has it %s (attempt %d)",
			n, deref(b.Result), jb.State, jb.CurrentAttempt)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		var b buildJSON
		_, err := c.getJSON(ctx, path, &b)
		return err == nil && !b.Building && b.Result != nil && *b.Result == "SUCCESS"
	}, testkit.Sayf("#%d to end", n))
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestStopWhileControllerHangs is the chaos test's slow jenkinds restart
// made small: a client reads, through the front door, a build of a
// controller that hangs (before the health monitor has declared it
// unhealthy). jenkinds must still stop cleanly within its shutdown
// timeout (5s in servertest): the read should fall back to jenkinds' own
// record of the build, or be cut, not hold the graceful shutdown for as
// long as the front door waits for a controller (fleet's RequestTimeout,
// 10s by default).
func TestStopWhileControllerHangs(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Health: health.Config{Interval: 10 * time.Second}})
	sim, err := jenkinssim.New(jenkinssim.Config{User: servertest.User, Token: servertest.Token, Executors: 2, Jobs: simJobs(),
		BuildDuration: jenkinssim.Duration{Min: time.Millisecond, Max: time.Millisecond}})
	if err == nil {
		err = sim.Start()
	}
	if err != nil {
		t.Fatalf("start the controller: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	// The controller is registered behind a pass-through that tells when
	// the client's read of #1 has reached it.
	target, _ := url.Parse(sim.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the cut read
	var watch atomic.Bool
	arrived := make(chan struct{}, 1)
	pass := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if watch.Load() && r.URL.Path == "/job/build/1/api/json" && r.URL.RawQuery != "" {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(pass.Close)
	t.Cleanup(sim.Unhang) // before pass.Close, which waits for held requests
	s.API("POST", "/api/v1/instances", map[string]any{"name": "hangs", "url": pass.URL, "username": servertest.User, "apiToken": servertest.Token}, http.StatusCreated)
	if err := s.Jenkinds().Resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.API("POST", "/api/v1/health-checks", map[string]any{}, http.StatusOK)

	c := newClient(s.Front)
	t.Cleanup(c.close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, body, err := c.do(ctx, http.MethodPost, "/job/build/buildWithParameters?SIM_DURATION_MS=1&SEQ=1")
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("trigger: %v %v %s", err, res, body)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		var b buildJSON
		_, err := c.getJSON(ctx, "/job/build/1/api/json", &b)
		return err == nil && !b.Building
	}, testkit.Sayf("#1 to end"))
	sim.Hang()
	watch.Store(true)
	read := make(chan error, 1)
	go func() {
		// A query the front door has not served yet: it must ask the
		// controller (the answers it gave are kept for a second).
		var b buildJSON
		_, err := c.getJSON(ctx, "/job/build/1/api/json?tree=number,building,result", &b)
		read <- err
	}()
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the read of #1 never reached the controller")
	}
	s.Stop() // fails the test if jenkinds does not stop cleanly
	sim.Unhang()
	// The read was answered from jenkinds' record once the controller
	// missed the hedge deadline (or cut by the shutdown): never held.
	<-read
}
