package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

type fixture struct {
	t      *testing.T
	sims   []*jenkinssim.Controller
	pool   *controller.Pool
	health *health.Monitor
	proxy  *Proxy
	front  *httptest.Server
	http   *http.Client
}

// setup starts n simulated controllers behind a front door with cfg.
// opts are func(*jenkinssim.Config) (each controller's) or a
// health.Config (the passive-health thresholds; the monitor is not run:
// only passive evidence decides).
func setup(t *testing.T, n int, cfg Config, opts ...any) *fixture {
	t.Helper()
	f := &fixture{t: t, pool: controller.NewPool()}
	var mod []func(*jenkinssim.Config)
	var hcfg health.Config
	for _, o := range opts {
		switch o := o.(type) {
		case func(*jenkinssim.Config):
			mod = append(mod, o)
		case health.Config:
			hcfg = o
		default:
			t.Fatalf("setup: unknown option %T", o)
		}
	}
	var synced []controller.Synced
	for i := 0; i < n; i++ {
		sc := jenkinssim.Config{
			Name: "jenkins-" + strconv.Itoa(i), Token: "11tok", QuietPeriod: 0, Agents: 1,
			AgentPrefix: "a" + strconv.Itoa(i) + "-", RestartDuration: 100 * time.Millisecond,
			BuildDuration: jenkinssim.Duration{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond},
		}
		for _, m := range mod {
			m(&sc)
		}
		c, err := jenkinssim.New(sc)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		f.sims = append(f.sims, c)
		synced = append(synced, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: sc.Name, URL: strings.TrimSuffix(c.URL(), "/"), Username: "admin",
			ClusterID: "default", MaxConnections: 1000, IsActive: true,
		}, Token: "11tok"})
	}
	f.pool.Sync(synced)
	for _, r := range f.pool.All() {
		r.SetHealth(balance.Healthy, time.Now())
	}
	f.health = health.New(health.Options{Config: hcfg, Pool: f.pool, Log: slog.New(slog.DiscardHandler)})
	f.proxy = New(cfg, f.pool, f.health, slog.New(slog.DiscardHandler), nil)
	f.front = httptest.NewServer(f.proxy)
	t.Cleanup(f.front.Close)
	t.Cleanup(f.proxy.tcp.closeAll)
	f.http = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// which tells which simulator answered, by its X-Jenkins-Session.
func (f *fixture) which(resp *http.Response) int {
	s := resp.Header.Get("X-Jenkins-Session")
	for i, c := range f.sims {
		if c.Session() == s {
			return i
		}
	}
	return -1
}

type opt func(*http.Request)

func token(r *http.Request)      { r.SetBasicAuth("admin", "11tok") }
func withHeader(k, v string) opt { return func(r *http.Request) { r.Header.Set(k, v) } }
func withCookies(cs []*http.Cookie) opt {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(c)
		}
	}
}

func (f *fixture) do(method, path, body string, opts ...opt) (*http.Response, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.front.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// dialAgent opens a /wsagents/ WebSocket through addr.
func dialAgent(t *testing.T, addr, node, secret string) (*bufio.ReadWriter, string, int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+addr+"/wsagents/", nil)
	for k, v := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Version": "13", "Node-Name": node, "Secret-Key": secret, "X-Remoting-Capability": "0"} {
		req.Header.Set(k, v)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))
	resp, err := http.ReadResponse(rw.Reader, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return rw, "", resp.StatusCode
	}
	_, greeting, err := jenkinssim.ReadWSFrame(rw.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return rw, string(greeting), resp.StatusCode
}

func syncedOf(f *fixture, insts ...controller.Instance) []controller.Synced {
	out := make([]controller.Synced, len(insts))
	for i, in := range insts {
		out[i] = controller.Synced{Instance: in, Token: "11tok"}
	}
	return out
}
