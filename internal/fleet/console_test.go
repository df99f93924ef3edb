package fleet_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestBuildOfAFrozenControllerAnswersAtTheHedge: a build's console, page
// and artifacts are only on the controller that ran it, so there is no
// other controller to hedge to. Frozen, that controller costs a client
// the hedge deadline, not the request timeout: a console poll gets "no
// new text, more to come", the full console and the build's pages 503
// with Retry-After, each saying which controller did not answer. A
// controller that is slow on one request but answers others is waited
// for, and its answer is whole. A controller that is down tells a console
// poll to poll again too.
func TestBuildOfAFrozenControllerAnswersAtTheHedge(t *testing.T) {
	t.Parallel()
	// Every timeout far above what the client below waits: an answer that
	// waited for the frozen controller would fail the client.
	s := servertest.Start(t, servertest.Options{Controllers: 2, Sim: jenkinssim.Config{Executors: 4},
		Dispatch: dispatch.Config{RequestTimeout: time.Minute}})
	res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=10&delay=0sec", nil, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("trigger: HTTP %d: %s", res.StatusCode, body)
	}
	n := waitForNumber(t, s, queueID(t, res))
	waitForResult(t, s, "deploy", n)
	b, err := s.Jenkinds().Dispatch.GetByNumber(context.Background(), "default", "deploy", n)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := b.Current()
	name := s.Jenkinds().Pool.Get(a.ControllerID).Name()
	var sim *jenkinssim.Controller
	for _, c := range s.Sims {
		if c.Name() == name {
			sim = c
		}
	}
	build := "/job/deploy/" + strconv.FormatInt(n, 10) + "/"
	res, console := s.Jenkins("GET", build+"consoleText", nil, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(console), "Finished: SUCCESS") {
		t.Fatalf("consoleText before the freeze: HTTP %d: %s", res.StatusCode, console)
	}

	client := &http.Client{Timeout: 20 * time.Second}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.Front+path, nil)
		req.SetBasicAuth(servertest.User, servertest.Token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s with %s frozen: %v", path, name, err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res, string(data)
	}
	partial := func(path string, res *http.Response) {
		t.Helper()
		if got := res.Header.Get("X-Jenkinds-Partial"); !strings.Contains(got, name) {
			t.Errorf("GET %s: X-Jenkinds-Partial %q, want it to name %s", path, got, name)
		}
	}
	sim.Hang()
	t.Cleanup(sim.Unhang)
	// The build's pages first, while the controller is not yet known to
	// be frozen (once it is, the proxy refuses at once and says why).
	for _, p := range []string{build, build + "artifact/out.txt"} {
		res, text := get(p)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(text, name) {
			t.Errorf("GET %s: HTTP %d, Retry-After %q: %s; want 503 naming %s, with Retry-After", p, res.StatusCode, res.Header.Get("Retry-After"), text, name)
		}
		if !strings.Contains(text, "unhealthy") {
			partial(p, res)
		}
	}
	p := build + "logText/progressiveText?start=5"
	res, text := get(p)
	if res.StatusCode != http.StatusOK || text != "" || res.Header.Get("X-More-Data") != "true" || res.Header.Get("X-Text-Size") != "5" {
		t.Errorf("GET %s: HTTP %d, X-More-Data %q, X-Text-Size %q, %q; want 200, no new text, more data, size 5",
			p, res.StatusCode, res.Header.Get("X-More-Data"), res.Header.Get("X-Text-Size"), text)
	}
	partial(p, res)
	{
		p := build + "consoleText"
		res, text := get(p)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(text, name) {
			t.Errorf("GET %s: HTTP %d, Retry-After %q: %s; want 503 naming %s, with Retry-After", p, res.StatusCode, res.Header.Get("Retry-After"), text, name)
		}
		partial(p, res)
	}
	sim.Unhang()
	rt := s.Jenkinds().Pool.Get(a.ControllerID)
	testkit.Eventually(t, 30*time.Second, func() bool { return rt.Health() != balance.Unhealthy },
		testkit.Sayf("%s to be healthy again", name))

	// Slow on the console only, three times the hedge deadline: the
	// controller answers jenkinds' pings meanwhile, so it is waited for.
	sim.SlowOn("/job/deploy/"+strconv.FormatInt(a.BackendNumber, 10)+"/logText/", 1500*time.Millisecond)
	t.Cleanup(func() { sim.Slow(0) })
	p = build + "logText/progressiveText?start=0"
	res, text = get(p)
	if res.StatusCode != http.StatusOK || !strings.Contains(text, "Finished: SUCCESS") || res.Header.Get("X-Jenkinds-Partial") != "" {
		t.Errorf("GET %s from a slow controller: HTTP %d, X-Jenkinds-Partial %q: %q; want the whole console",
			p, res.StatusCode, res.Header.Get("X-Jenkinds-Partial"), text)
	}

	sim.Slow(0)

	// Down (connection refused): a console poll is told to poll again.
	sim.Down()
	p = build + "logText/progressiveText?start=7"
	res, text = get(p)
	if res.StatusCode != http.StatusOK || text != "" || res.Header.Get("X-More-Data") != "true" || res.Header.Get("X-Text-Size") != "7" {
		t.Errorf("GET %s with %s down: HTTP %d, X-More-Data %q, X-Text-Size %q, %q; want 200, no new text, more data, size 7",
			p, name, res.StatusCode, res.Header.Get("X-More-Data"), res.Header.Get("X-Text-Size"), text)
	}
	partial(p, res)
}
