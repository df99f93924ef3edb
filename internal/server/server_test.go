package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/proxy"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

const adminToken = "test-admin-token-0123456789"

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	t      *testing.T
	srv    *Server
	dir    string
	admin  string
	front  string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	dir := t.TempDir()
	cfg.DataDir = dir
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Health.Interval, cfg.Health.Timeout = time.Hour, time.Second
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	getenv := func(k string) string {
		if k == "JENKINDS_ADMIN_TOKEN" {
			return adminToken
		}
		return ""
	}
	srv, err := New(context.Background(), cfg, getenv, log)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, srv: srv, dir: dir, admin: "http://" + addr, logs: logs, cancel: cancel, done: make(chan error, 1)}
	if pa := srv.ProxyAddr(); pa != "" {
		r.front = "http://" + pa
	}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
		r.done <- nil
	case <-time.After(20 * time.Second):
		r.t.Errorf("Run did not return after cancel")
	}
}

func (r *running) api(method, path string, body any, want int) []byte {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		r.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	return data
}

func sims(t *testing.T, n int, token string) []*jenkinssim.Controller {
	t.Helper()
	cs, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: n, Template: jenkinssim.Config{Token: token, QuietPeriod: 0, Agents: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			_ = c.Close()
		}
	})
	return cs
}

func register(r *running, cs []*jenkinssim.Controller) {
	for _, c := range cs {
		r.api("POST", "/api/v1/instances", map[string]any{
			"name": c.Name(), "url": strings.TrimSuffix(c.URL(), "/"), "username": "admin", "apiToken": c.Token(),
		}, 201)
	}
}

// A registered API token appears in no response, no log line, no metric
// and no database file.
func TestTokenNeverInPlainText(t *testing.T) {
	t.Parallel()
	const secretToken = "11PLAINTEXT-SECRET-TOKEN-42"
	r := start(t, Config{ProxyListen: "127.0.0.1:0"})
	cs := sims(t, 2, secretToken)
	register(r, cs)
	var bodies [][]byte
	bodies = append(bodies,
		r.api("GET", "/api/v1/instances", nil, 200),
		r.api("GET", "/api/v1/instances/1", nil, 200),
		r.api("GET", "/api/v1/instances/1/stats", nil, 200),
		r.api("POST", "/api/v1/health-checks", nil, 200),
		r.api("GET", "/api/v1/clusters", nil, 200),
		r.api("GET", "/api/v1/optimal-instance?clusterId=default", nil, 200),
		r.api("POST", "/api/v1/instances/test-connection", map[string]any{"url": cs[0].URL(), "username": "admin", "apiToken": secretToken}, 200),
		r.api("POST", "/api/v1/instances/test-connection", map[string]any{"url": cs[0].URL(), "username": "admin", "apiToken": secretToken + "x"}, 200),
		r.api("PATCH", "/api/v1/instances/2", map[string]any{"apiToken": secretToken, "description": "rotated"}, 200),
		r.api("GET", "/metrics", nil, 200),
	)
	// Traffic through the front door, with a failing controller for error logs.
	cs[1].FailWith(502, "")
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest("GET", r.front+"/api/json", nil)
		req.SetBasicAuth("admin", secretToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies = append(bodies, b)
		}
	}
	cs[0].Down()
	r.api("POST", "/api/v1/health-checks", nil, 200)
	metrics := r.api("GET", "/metrics", nil, 200)
	if !bytes.Contains(metrics, []byte(`jenkinds_build_info{goversion="`+runtime.Version()+`"`)) {
		t.Errorf("/metrics has no jenkinds_build_info with the Go version")
	}
	bodies = append(bodies, metrics)
	checkFiles(t, r.dir, secretToken) // with the WAL still there
	r.stop()
	checkFiles(t, r.dir, secretToken) // after the checkpoint on close

	for i, b := range bodies {
		if bytes.Contains(b, []byte(secretToken)) {
			t.Errorf("response %d contains the token: %.300s", i, b)
		}
	}
	if strings.Contains(r.logs.String(), secretToken) {
		t.Errorf("logs contain the token")
	}
	if !strings.Contains(r.logs.String(), "controller") {
		t.Fatalf("the logs captured nothing; the check would prove nothing: %q", r.logs.String())
	}
}

func checkFiles(t *testing.T, dir, secret string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	sawDB := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sawDB = sawDB || (filepath.Base(f) == "jenkinds.db" && len(b) > 0)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the token in plain text", filepath.Base(f))
		}
	}
	if !sawDB {
		t.Fatalf("no database file among %v: the check would prove nothing", files)
	}
}

// oneDown runs jenkinds with two controllers, checks them, takes the first
// down, and returns the result of checking them again.
func oneDown(t *testing.T) (r *running, cs []*jenkinssim.Controller, checked []byte) {
	t.Helper()
	r = start(t, Config{Health: healthFall(1)})
	cs = sims(t, 2, "11tok")
	register(r, cs)
	r.api("POST", "/api/v1/health-checks", nil, 200)
	cs[0].Down()
	return r, cs, r.api("POST", "/api/v1/health-checks", nil, 200)
}

func TestDownControllerLeavesOptimal(t *testing.T) {
	t.Parallel()
	r, cs, checked := oneDown(t)
	var res []struct{ Name, Status string }
	_ = json.Unmarshal(checked, &res)
	if len(res) != 2 || res[0].Status != "unhealthy" || res[1].Status != "healthy" {
		t.Fatalf("checks: %+v", res)
	}
	for i := 0; i < 5; i++ {
		var inst struct{ Name string }
		_ = json.Unmarshal(r.api("GET", "/api/v1/optimal-instance?clusterId=default&strategy=round-robin", nil, 200), &inst)
		if inst.Name != cs[1].Name() {
			t.Fatalf("optimal: %s", inst.Name)
		}
	}
	cs[1].Down()
	r.api("POST", "/api/v1/health-checks", nil, 200)
	r.api("GET", "/api/v1/optimal-instance?clusterId=default", nil, 503)
}

// SIGTERM (ctx cancelled): in-flight requests finish, new ones are
// refused, WebSockets are closed.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	r := start(t, Config{ProxyListen: "127.0.0.1:0", Proxy: proxy.Config{HedgeAfter: -1}})
	cs := sims(t, 1, "11tok")
	register(r, cs)
	r.api("POST", "/api/v1/health-checks", nil, 200)
	r.srv.Proxy.RefreshAgents(context.Background())

	// A WebSocket agent through the front door.
	secret, _ := cs[0].AgentSecret("agent-1")
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", r.front+"/wsagents/", nil)
	for k, v := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13", "Node-Name": "agent-1", "Secret-Key": secret} {
		req.Header.Set(k, v)
	}
	_ = req.Write(conn)
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, req); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, _, err := jenkinssim.ReadWSFrame(br); err != nil {
		t.Fatal(err)
	}

	// A slow request in flight when the shutdown starts.
	cs[0].Slow(300 * time.Millisecond)
	type result struct {
		code int
		err  error
	}
	inflight := make(chan result, 1)
	sent := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", r.front+"/api/json", nil)
		req.SetBasicAuth("admin", "11tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		resp.Body.Close()
		inflight <- result{code: resp.StatusCode}
	}()
	// The request is at the front door and in flight to the controller
	// (jenkinds' own requests count there too, hence at least one).
	<-sent
	testkit.Eventually(t, 10*time.Second, func() bool { return r.srv.Pool.Get(1).InFlight() >= 1 }, testkit.Sayf("the request to be in flight"))
	r.cancel()
	res := <-inflight
	if res.err != nil || res.code != 200 {
		t.Errorf("in-flight request during shutdown: %d %v", res.code, res.err)
	}
	// The WebSocket is closed by the shutdown.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := jenkinssim.ReadWSFrame(br); err == nil {
		t.Errorf("WebSocket still open after shutdown")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("WebSocket not closed by the shutdown")
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	r.done <- nil
	if _, err := http.Get(r.front + "/api/json"); err == nil {
		t.Errorf("the front door still accepts after shutdown")
	}
}

func TestDrainThroughAPIReachesFrontDoor(t *testing.T) {
	t.Parallel()
	r := start(t, Config{ProxyListen: "127.0.0.1:0"})
	cs := sims(t, 2, "11tok")
	register(r, cs)
	r.api("POST", "/api/v1/health-checks", nil, 200)
	r.api("POST", "/api/v1/instances/1/drain", nil, 200)
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", r.front+"/api/json", nil)
		req.SetBasicAuth("admin", "11tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Jenkins-Session") == cs[0].Session() {
			t.Fatalf("request %d went to the drained controller", i)
		}
	}
	r.api("POST", "/api/v1/instances/1/undrain", nil, 200)
	if r.srv.Pool.Get(1).Draining() {
		t.Errorf("undrain did not reach the pool")
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	cs := sims(t, 1, "11tok-rotate")
	register(r, cs)
	r.stop()
	before, err := os.ReadFile(filepath.Join(r.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: r.dir}
	res, err := Rotate(context.Background(), cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if res.Resealed != 1 || res.OldKeyID == res.NewKeyID || res.NewKey != "" {
		t.Errorf("rotate: %+v", res)
	}
	after, _ := os.ReadFile(filepath.Join(r.dir, "secret.key"))
	if bytes.Equal(before, after) {
		t.Errorf("the key file did not change")
	}
	if _, err := os.Stat(filepath.Join(r.dir, nextKeyFile)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", nextKeyFile, err)
	}
	// A new start opens the token with the new key.
	srv, err := New(context.Background(), Config{DataDir: r.dir, Listen: "127.0.0.1:0"}, func(k string) string {
		if k == "JENKINDS_ADMIN_TOKEN" {
			return adminToken
		}
		return ""
	}, Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.db.Close()
	if tok, err := srv.Store.Token(context.Background(), 1); err != nil || tok != "11tok-rotate" {
		t.Errorf("token after rotation: %q %v", tok, err)
	}
	// With the key in the environment, the new key must be given.
	env := func(k string) string {
		if k == "JENKINDS_SECRET_KEY" {
			return strings.TrimSpace(string(after))
		}
		return ""
	}
	if _, err := Rotate(context.Background(), cfg, env); err == nil || !strings.Contains(err.Error(), "JENKINDS_NEW_SECRET_KEY") {
		t.Errorf("env rotation without a new key: %v", err)
	}
}

func TestFrontDoorTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	r := start(t, Config{ProxyListen: "127.0.0.1:0", TLSCert: cert, TLSKey: key})
	cs := sims(t, 1, "11tok")
	register(r, cs)
	r.api("POST", "/api/v1/health-checks", nil, 200)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	front := strings.Replace(r.front, "http://", "https://", 1)
	req, _ := http.NewRequest("POST", front+"/job/hello/build", nil)
	req.SetBasicAuth("admin", "11tok")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Jenkins learns the scheme from X-Forwarded-Proto; Location comes back https.
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), front+"/queue/item/") {
		t.Errorf("over TLS: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Go's TLS server answers plain HTTP with a bare 400.
	if resp, err := http.Get(r.front + "/api/json"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("plain HTTP on the TLS front door: %d", resp.StatusCode)
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(priv)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// --pprof serves Go's profiles behind the admin token, and nothing without
// the flag.
func TestPprofBehindTheAdminToken(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		r := start(t, Config{Pprof: on})
		get := func(token string) int {
			req, _ := http.NewRequest("GET", r.admin+"/debug/pprof/cmdline", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if code := get(adminToken); code != want {
			t.Errorf("pprof %v, with the token: HTTP %d, want %d", on, code, want)
		}
		if code := get(""); code == http.StatusOK {
			t.Errorf("pprof %v, without a token: HTTP 200", on)
		}
	}
}

// The health authority's events and the build engine's re-dispatch
// policies are served by the admin API.
func TestEventsAndPoliciesServed(t *testing.T) {
	t.Parallel()
	r, cs, _ := oneDown(t)
	type event struct{ Kind, Controller, From, To, Source string }
	var page struct {
		Events []event
		Frozen []struct{ Cluster, Reason string }
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		page.Events = nil
		_ = json.Unmarshal(r.api("GET", "/api/v1/instances/1/events", nil, 200), &page)
		return len(page.Events) > 0 && page.Events[0].To == "unhealthy"
	}, func() string { return fmt.Sprintf("instance 1's events: %+v", page.Events) })
	// A probe or the passive evidence of another request to it (the
	// catalog, the dispatcher) may see it down first: either is the health
	// authority's verdict.
	if e := page.Events[0]; e.Kind != "transition" || e.Controller != cs[0].Name() || e.From != "healthy" || e.Source != "probe" && e.Source != "passive" {
		t.Errorf("the newest event of instance 1: %+v", e)
	}
	for _, e := range page.Events {
		if e.Controller == cs[1].Name() {
			t.Errorf("instance 1's events hold instance 2's: %+v", e)
		}
	}
	r.api("GET", "/api/v1/instances/9/events", nil, 404)
	r.api("GET", "/api/v1/events?limit=5000", nil, 400)

	var p struct{ Cluster, Job, Policy, Source string }
	_ = json.Unmarshal(r.api("PUT", "/api/v1/clusters/default/redispatch-policy?job=team/deploy", map[string]any{"policy": "queued-only"}, 200), &p)
	if p.Cluster != "default" || p.Job != "team/deploy" || p.Policy != "queued-only" || p.Source != "job" {
		t.Errorf("PUT a job's policy: %+v", p)
	}
	if got := string(r.api("GET", "/api/v1/redispatch-policies", nil, 200)); strings.TrimSpace(got) != `[{"cluster":"default","job":"team/deploy","policy":"queued-only"}]` {
		t.Errorf("stored rules: %s", got)
	}
	r.api("DELETE", "/api/v1/clusters/default/redispatch-policy?job=team/deploy", nil, 204)
	r.api("DELETE", "/api/v1/clusters/default/redispatch-policy?job=team/deploy", nil, 404)
}
