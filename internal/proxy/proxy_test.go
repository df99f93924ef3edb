package proxy

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func TestDistributionAndForwarding(t *testing.T) {
	t.Parallel()
	f := setup(t, 3, Config{})
	counts := make([]int, 3)
	for i := 0; i < 90; i++ {
		resp, _ := f.do("GET", "/api/json?tree=quietingDown", "", token)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		counts[f.which(resp)]++
	}
	for i, n := range counts {
		if n < 10 {
			t.Errorf("controller %d got %d of 90 requests: %v", i, n, counts)
		}
	}
	// Jenkins builds its absolute URLs for the front door.
	_, body := f.do("GET", "/api/json?tree=url,jobs[url]{0,1}", "", token)
	want := `{"_class":"hudson.model.Hudson","jobs":[{"_class":"hudson.model.FreeStyleProject","url":"` + f.front.URL + `/job/deploy/"}],"url":"` + f.front.URL + `/"}`
	if body != want {
		t.Errorf("absolute URLs:\n got %s\nwant %s", body, want)
	}
}

func TestLocationRewritten(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	resp, _ := f.do("POST", "/job/hello/build", "", token)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || !strings.HasPrefix(loc, f.front.URL+"/queue/item/") || !strings.HasSuffix(loc, "/") {
		t.Errorf("201 Location: %d %q", resp.StatusCode, loc)
	}
	resp, _ = f.do("POST", "/job/hello/disable", "", token)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != f.front.URL+"/job/hello/" {
		t.Errorf("302 Location: %d %q", resp.StatusCode, loc)
	}
	// Pointing elsewhere: untouched.
	if got := f.proxy.rewriteLocation("https://elsewhere.example/x/", f.pool.Get(1), f.proxy.target(f.pool.Get(1))); got != "https://elsewhere.example/x/" {
		t.Errorf("foreign Location rewritten: %q", got)
	}
}

func TestStickySessionsMoveAfterFailure(t *testing.T) {
	t.Parallel()
	f := setup(t, 3, Config{})
	// Log in through the front door with the form, as a browser does.
	resp, _ := f.do("POST", "/j_spring_security_check", "j_username=admin&j_password=admin", withHeader("Content-Type", "application/x-www-form-urlencoded"))
	if resp.StatusCode != 302 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	home := f.which(resp)
	cookies := resp.Cookies()
	var names []string
	for _, c := range cookies {
		names = append(names, c.Name)
	}
	if len(cookies) != 2 || !strings.Contains(strings.Join(names, ","), "JSESSIONID.") || !strings.Contains(strings.Join(names, ","), "jenkinds_route") {
		t.Fatalf("cookies after login: %v", names)
	}
	for i := 0; i < 20; i++ {
		resp, _ := f.do("GET", "/api/json?tree=quietingDown", "", withCookies(cookies))
		if resp.StatusCode != 200 || f.which(resp) != home {
			t.Fatalf("request %d of the session: status %d on controller %d, want 200 on %d", i, resp.StatusCode, f.which(resp), home)
		}
	}
	// The session's controller dies: the session moves, and the new
	// controller's own login page tells the user to sign in again.
	f.sims[home].Down()
	f.pool.Get(int64(home+1)).SetHealth(balance.Unhealthy, time.Now())
	resp, body := f.do("GET", "/job/hello/", "", withCookies(cookies))
	if resp.StatusCode != 403 || !strings.Contains(body, "/login?from=") || f.which(resp) == home {
		t.Errorf("after the session's controller died: %d on %d: %.200s", resp.StatusCode, f.which(resp), body)
	}
}

func TestDrain(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	// A browser session pinned to controller 0 keeps going while it drains.
	resp, _ := f.do("GET", "/login", "")
	home := f.which(resp)
	cookies := resp.Cookies()
	f.pool.Get(int64(home + 1)).SetDraining(true)
	for i := 0; i < 10; i++ {
		resp, _ := f.do("GET", "/api/json", "", token)
		if f.which(resp) == home {
			t.Fatalf("a draining controller got a new API request")
		}
		resp, _ = f.do("GET", "/login", "", withCookies(cookies))
		if f.which(resp) != home {
			t.Fatalf("an existing session left its draining controller")
		}
	}
}

func TestNoEligibleController(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	for _, r := range f.pool.All() {
		r.SetHealth(balance.Unhealthy, time.Now())
	}
	resp, body := f.do("GET", "/api/json", "", token)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "2 unhealthy") {
		t.Errorf("none eligible: %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// A Host nobody registered gets the default cluster, not a new dial.
	resp, _ = f.do("GET", "/api/json", "", token, func(r *http.Request) { r.Host = "evil.example:80" })
	if resp.StatusCode != 503 {
		t.Errorf("unknown host: %d", resp.StatusCode)
	}
}

func TestHostSelectsCluster(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	inst := f.pool.Get(2).Instance()
	inst.ClusterID, inst.LoadBalancerURL = "team-b", "https://ci-b.example.com"
	first := f.pool.Get(1).Instance()
	f.pool.Sync(syncedOf(f, first, inst))
	f.pool.Get(1).SetHealth(balance.Healthy, time.Now())
	f.pool.Get(2).SetHealth(balance.Healthy, time.Now())
	for i := 0; i < 5; i++ {
		resp, _ := f.do("GET", "/api/json", "", token, func(r *http.Request) { r.Host = "ci-b.example.com" })
		if f.which(resp) != 1 {
			t.Fatalf("ci-b.example.com went to controller %d", f.which(resp))
		}
		resp, _ = f.do("GET", "/api/json", "", token)
		if f.which(resp) != 0 {
			t.Fatalf("default host went to controller %d", f.which(resp))
		}
	}
}

func TestWebSocketAgentsRoutedByNodeName(t *testing.T) {
	t.Parallel()
	f := setup(t, 3, Config{})
	f.proxy.RefreshAgents(context.Background())
	addr := strings.TrimPrefix(f.front.URL, "http://")
	for i, sim := range f.sims {
		node := "a" + strconv.Itoa(i) + "-1"
		secret, _ := sim.AgentSecret(node)
		rw, greeting, code := dialAgent(t, addr, node, secret)
		if code != 101 || greeting != "JENKINS-SIM jenkins-"+strconv.Itoa(i)+" "+node {
			t.Fatalf("agent %s: %d %q", node, code, greeting)
		}
		// Echo through the proxy.
		if err := jenkinssim.WriteWSFrame(rw.Writer, 0x1, []byte("ping "+node), true); err != nil {
			t.Fatal(err)
		}
		if _, echo, err := jenkinssim.ReadWSFrame(rw.Reader); err != nil || string(echo) != "ping "+node {
			t.Errorf("echo via proxy: %q %v", echo, err)
		}
	}
}

func TestTCPAgentPassThrough(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	for i := 0; i < 4; i++ {
		resp, body := f.do("GET", "/tcpSlaveAgentListener/", "")
		idx := f.which(resp)
		port := resp.Header.Get("X-Jenkins-JNLP-Port")
		if body != "Jenkins" || port == strconv.Itoa(f.sims[idx].AgentPort()) || resp.Header.Get("X-Jenkins-JNLP-Host") != "127.0.0.1" {
			t.Fatalf("discovery: %q port %s (controller's own %d) host %q", body, port, f.sims[idx].AgentPort(), resp.Header.Get("X-Jenkins-JNLP-Host"))
		}
		conn, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("Protocol:JNLP4-connect\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		conn.Close()
		if want := "JENKINS-SIM-AGENT jenkins-" + strconv.Itoa(idx) + "\n"; !strings.HasPrefix(string(buf[:n]), want) {
			t.Errorf("pass-through reached %q, want %q", buf[:n], want)
		}
	}
}

// A stream of GETs loses nothing when a controller is killed or hangs.
func TestFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{"kill", "hang"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			f := setup(t, 3, Config{HedgeAfter: 100 * time.Millisecond}, health.Config{PassiveFailures: 3})
			var failed, done atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 150; i++ {
						select {
						case <-stop:
							return
						default:
						}
						req, _ := http.NewRequest("GET", f.front.URL+"/api/json?tree=quietingDown", nil)
						token(req)
						resp, err := f.http.Do(req)
						if err != nil || resp.StatusCode != 200 {
							failed.Add(1)
							if err == nil {
								resp.Body.Close()
							}
							continue
						}
						resp.Body.Close()
						done.Add(1)
					}
				}()
			}
			eventually(t, "traffic to flow", func() bool { return done.Load() >= 100 })
			if fault == "kill" {
				f.sims[1].Down()
			} else {
				f.sims[1].Hang()
				t.Cleanup(f.sims[1].Unhang)
			}
			eventually(t, "the faulty controller to leave the pool", func() bool { return f.pool.Get(2).Health() == balance.Unhealthy })
			wg.Wait()
			close(stop)
			if failed.Load() != 0 {
				t.Errorf("%s: %d of %d requests failed", fault, failed.Load(), failed.Load()+done.Load())
			}
		})
	}
}

func TestRetrySafety(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	f.sims[0].FailWith(503, "")
	// Controller 2 stays eligible for a retry, but is loaded, so the
	// policy sends the request to controller 1 first.
	f.pool.Get(2).SetLoad(900)
	before := f.sims[1].State().Requests
	resp, _ := f.do("POST", "/job/hello/build", "", token)
	if resp.StatusCode != 503 {
		t.Errorf("a POST answered 503 must not be replayed: got %d", resp.StatusCode)
	}
	if f.sims[1].State().Requests != before {
		t.Errorf("the POST reached the other controller")
	}
	// A GET answered 503 is retried on the other controller.
	resp, _ = f.do("GET", "/api/json", "", token)
	if resp.StatusCode != 200 || f.which(resp) != 1 {
		t.Errorf("GET with its first controller failing: %d from %d", resp.StatusCode, f.which(resp))
	}
}

func TestDialFailureRetriedForPOST(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	f.sims[0].Down()
	for i := 0; i < 4; i++ {
		resp, _ := f.do("POST", "/job/hello/build?delay=0sec", "", token)
		if resp.StatusCode != 201 {
			t.Fatalf("POST %d with one controller refusing connections: %d", i, resp.StatusCode)
		}
	}
}

// A controller that answers nothing for two hedge deadlines leaves the
// pool at its next missed deadline, without waiting for PassiveFailures.
func TestHungControllerEjectedAtOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{HedgeAfter: 50 * time.Millisecond}, health.Config{PassiveFailures: 100})
	for i := 0; i < 4; i++ { // both have answered recently
		f.do("GET", "/api/json", "", token)
	}
	f.sims[0].Hang()
	t.Cleanup(f.sims[0].Unhang)
	// Keep sending until the hung one is out; every request must succeed.
	eventually(t, "the hung controller to leave the pool", func() bool {
		resp, _ := f.do("GET", "/api/json?tree=quietingDown", "", token)
		if resp.StatusCode != 200 {
			t.Fatalf("request failed: %d", resp.StatusCode)
		}
		return f.pool.Get(1).Health() == balance.Unhealthy
	})
}

// Only registered controllers are ever dialled: an absolute-form request
// line naming another host still goes to a controller of the cluster.
func TestNotAnOpenProxy(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{})
	evil, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	var dialled atomic.Bool
	go func() {
		if c, err := evil.Accept(); err == nil {
			dialled.Store(true)
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt := "GET http://" + evil.Addr().String() + "/api/json HTTP/1.1\r\nHost: " + evil.Addr().String() + "\r\nAuthorization: Basic YWRtaW46MTF0b2s=\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(fmt)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	if !strings.Contains(string(buf[:n]), "X-Jenkins-Session: "+f.sims[0].Session()) {
		t.Errorf("absolute-form request not served by the registered controller: %q", buf[:n])
	}
	if dialled.Load() {
		t.Errorf("the proxy dialled a host that is not a registered controller")
	}
}

// The simulator's fault API is never proxied, however the path is spelt:
// anyone who reaches the front door could take the controllers down.
func TestSimulatorFaultAPINeverProxied(t *testing.T) {
	t.Parallel()
	f := setup(t, 1, Config{})
	for _, p := range []string{"/__sim/faults", "/__sim/state", "//__sim/faults", "/x/../__sim/faults", "/%5F%5Fsim/faults", "/__sim"} {
		for _, auth := range []opt{token, nil} {
			var opts []opt
			if auth != nil {
				opts = append(opts, auth)
			}
			resp, _ := f.do("POST", p, `{"kind":"down"}`, opts...)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s (auth %v): %d, want 404", p, auth != nil, resp.StatusCode)
			}
		}
	}
	// The controller is still up.
	if resp, _ := f.do("GET", "/api/json", "", token); resp.StatusCode != http.StatusOK {
		t.Errorf("after the attempts: GET /api/json %d, want 200", resp.StatusCode)
	}
}
