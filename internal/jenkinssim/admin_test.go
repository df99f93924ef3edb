package jenkinssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

func TestNodesAndLoad(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Agents = 2; c.Executors = 2 })
	set := b.json("/computer/api/json")
	comps := set["computer"].([]any)
	if set["_class"] != "hudson.model.ComputerSet" || set["displayName"] != "Nodes" || len(comps) != 3 || set["totalExecutors"] != float64(6) {
		t.Fatalf("computer set: %v", set)
	}
	builtIn := comps[0].(map[string]any)
	if builtIn["_class"] != "hudson.model.Hudson$MasterComputer" || builtIn["displayName"] != "Built-In Node" {
		t.Errorf("built-in: %v", builtIn)
	}
	if execs := builtIn["executors"].([]any); len(execs) != 2 || len(execs[0].(map[string]any)) != 0 {
		t.Errorf("executors at depth 0 must be {}: %v", execs)
	}
	b.status("GET", "/computer/(built-in)/api/json", "", 200)
	b.status("GET", "/computer/(master)/api/json", "", 200)
	b.status("GET", "/computer/%28built-in%29/api/json", "", 200)
	b.status("GET", "/computer/Built-In%20Node/api/json", "", 404)
	agent := b.json("/computer/agent-1/api/json?depth=1")
	if agent["_class"] != "hudson.slaves.SlaveComputer" || agent["absoluteRemotePath"] == nil {
		t.Errorf("agent: %v", agent)
	}
	if ex := agent["executors"].([]any)[0].(map[string]any); ex["idle"] != true || ex["progress"] != float64(-1) {
		t.Errorf("idle executor at depth 1: %v", ex)
	}

	// A running build shows up in busyExecutors and the executor.
	qid := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=60000")
	testkit.Eventually(t, 10*time.Second, func() bool { return b.json("/computer/api/json")["busyExecutors"] == float64(1) }, testkit.Sayf("build to start"))
	_, body := b.status("GET", "/computer/api/json?tree=computer[executors[currentExecutable[number,url]]]", "", 200)
	if !strings.Contains(body, `"currentExecutable":{"_class":"hudson.model.FreeStyleBuild","number":1,"url":"`+b.c.URL()+`job/deploy/1/"}`) {
		t.Errorf("currentExecutable: %s", body)
	}
	load := b.json("/overallLoad/api/json?depth=2")
	busy := load["busyExecutors"].(map[string]any)["min"].(map[string]any)["latest"]
	if busy != float64(1) || load["_class"] != "hudson.model.OverallLoadStatistics" {
		t.Errorf("overallLoad busy: %v", busy)
	}
	_, body = b.status("GET", "/overallLoad/api/json", "", 200)
	if !strings.Contains(body, `"busyExecutors":{}`) {
		t.Errorf("overallLoad at depth 0 must be {}s: %s", body)
	}

	// Agent offline: its running builds fail, totals drop.
	if err := b.c.SetAgentOffline("agent-1", true); err != nil {
		t.Fatal(err)
	}
	set = b.json("/computer/api/json")
	if set["totalExecutors"] != float64(4) || set["computer"].([]any)[1].(map[string]any)["offline"] != true {
		t.Errorf("after agent-1 offline: %v", set["totalExecutors"])
	}
	if err := b.c.SetExecutors("built-in", 5); err != nil {
		t.Fatal(err)
	}
	if got := b.json("/api/json")["numExecutors"]; got != float64(5) {
		t.Errorf("numExecutors after SetExecutors: %v", got)
	}
	b.status("POST", "/queue/cancelItem?id="+itoa(qid), "", 422)
}

func TestPlugins(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.Plugins = []Plugin{{ShortName: "git", LongName: "Git plugin", Version: "5.7.0"},
			{ShortName: "matrix-auth", LongName: "Matrix Authorization Strategy Plugin", Version: "3.2.6", Disabled: true}}
	})
	_, body := b.status("GET", "/pluginManager/api/json", "", 200)
	if body != `{"_class":"hudson.LocalPluginManager","plugins":[{},{}]}` {
		t.Errorf("plugins at depth 0: %s", body)
	}
	pls := b.json("/pluginManager/api/json?depth=2")["plugins"].([]any)
	pl := pls[0].(map[string]any)
	if pl["shortName"] != "git" || pl["longName"] != "Git plugin" || pl["version"] != "5.7.0" || pl["supportsDynamicLoad"] != "MAYBE" ||
		pl["enabled"] != true || pl["active"] != true {
		t.Errorf("plugin: %v", pl)
	}
	if off := pls[1].(map[string]any); off["enabled"] != false || off["active"] != false {
		t.Errorf("a disabled plugin: %v, want enabled and active false", off)
	}
}

func TestQuietDownAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status("GET", "/quietDown", "", 405)
	resp, _ := b.status("POST", "/quietDown?message=maintenance", "", 302)
	if resp.Header.Get("Location") != b.c.URL() {
		t.Errorf("quietDown Location: %q", resp.Header.Get("Location"))
	}
	info := b.json("/api/json")
	if info["quietingDown"] != true || info["quietDownReason"] != "maintenance" {
		t.Errorf("quieting down: %v %v", info["quietingDown"], info["quietDownReason"])
	}
	qid := b.trigger("/job/hello/build") // triggers still answer 201
	item := b.json("/queue/item/" + itoa(qid) + "/api/json")
	if item["_class"] != "hudson.model.Queue$BlockedItem" || item["why"] != "Jenkins is about to shut down" {
		t.Errorf("item while quieting down: %v %v", item["_class"], item["why"])
	}
	b.status("POST", "/cancelQuietDown", "", 302)
	b.waitBuild("hello", qid)

	// Restart: 503 everywhere, running builds lost, queued items kept, a
	// new session afterwards.
	oldSession := b.c.Session()
	running := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=60000")
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, ok := b.json("/queue/item/" + itoa(running) + "/api/json")["executable"].(map[string]any)
		return ok
	}, testkit.Sayf("build to start"))
	queued := b.trigger("/job/hello/build?delay=3600sec")
	b.status("GET", "/restart", "", 200)
	b.status("POST", "/restart", "", 302)
	resp, _ = b.status("GET", "/api/json", "", 503)
	if resp.Header.Get("X-Jenkins-Session") != "" {
		t.Errorf("a restarting controller has no session header")
	}
	b.status("GET", "/__sim/state", "", 200)
	var after string
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, _ := b.do("GET", "/api/json", "")
		after = resp.Header.Get("X-Jenkins-Session")
		return resp.StatusCode == 200
	}, testkit.Sayf("restart to finish"))
	if after == oldSession || b.c.Restarts() != 1 {
		t.Errorf("session %s after restart (before %s), restarts %d", after, oldSession, b.c.Restarts())
	}
	lost := b.json("/job/deploy/1/api/json")
	if lost["building"] != false || lost["result"] != "FAILURE" {
		t.Errorf("build running during restart: building %v result %v", lost["building"], lost["result"])
	}
	// LeftItems are gone; the still-queued item survived with its id.
	b.status("GET", "/queue/item/"+itoa(running)+"/api/json", "", 404)
	if item := b.json("/queue/item/" + itoa(queued) + "/api/json"); item["_class"] != "hudson.model.Queue$WaitingItem" {
		t.Errorf("queued item after restart: %v", item["_class"])
	}
	// The id counter restarts after the highest persisted item.
	if next := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=1"); next != queued+1 {
		t.Errorf("next id after restart: %d, want %d", next, queued+1)
	}
}

func TestSafeRestartWaitsForBuilds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	qid := b.trigger("/job/deploy/buildWithParameters?SIM_DURATION_MS=200")
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, ok := b.json("/queue/item/" + itoa(qid) + "/api/json")["executable"].(map[string]any)
		return ok
	}, testkit.Sayf("build to start"))
	b.status("POST", "/safeRestart", "", 302)
	if info := b.json("/api/json"); info["quietingDown"] != true {
		t.Errorf("safeRestart must quiet down first")
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return b.c.Restarts() == 1 }, testkit.Sayf("safe restart"))
	testkit.Eventually(t, 10*time.Second, func() bool { resp, _ := b.do("GET", "/api/json", ""); return resp.StatusCode == 200 }, testkit.Sayf("controller back"))
	if build := b.json("/job/deploy/1/api/json"); build["result"] != "SUCCESS" {
		t.Errorf("build running at safeRestart must finish: %v", build["result"])
	}
}

func TestFaultDownAndUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	before := b.c.Session()
	b.c.Down()
	_, err := b.http.Get(b.c.URL() + "api/json")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("down: got %v, want connection refused", err)
	}
	if err := b.c.Up(); err != nil {
		t.Fatal(err)
	}
	resp, _ := b.status("GET", "/api/json", "", 200)
	if resp.Header.Get("X-Jenkins-Session") == before {
		t.Errorf("a crash and start must change X-Jenkins-Session")
	}
}

func TestFaultHangSlowError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.c.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.c.URL()+"api/json", nil)
	_, err := b.http.Do(req)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: got %v, want a timeout", err)
	}
	// The simulator's own endpoint still answers, and shows the fault.
	if _, body := b.status("GET", "/__sim/state", "", 200); !strings.Contains(body, `"hang"`) {
		t.Errorf("state during hang: %s", body)
	}
	// Connections are accepted while hanging.
	conn, err := net.Dial("tcp", b.c.Addr())
	if err != nil {
		t.Errorf("hang must accept connections: %v", err)
	} else {
		conn.Close()
	}
	b.c.Unhang()
	b.status("GET", "/api/json", "", 200)

	b.c.FailWith(502, "/job/")
	b.status("GET", "/job/hello/api/json", "", 502)
	b.status("GET", "/api/json", "", 200)
	b.status("DELETE", "/__sim/faults", "", 204)
	b.status("GET", "/job/hello/api/json", "", 200)

	b.c.Slow(time.Hour)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	req, _ = http.NewRequestWithContext(ctx, "GET", b.c.URL()+"api/json", nil)
	_, err = b.http.Do(req)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: got %v, want a timeout", err)
	}
	b.c.Slow(0)
}

func TestFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Agents = 2 })
	post := func(body string, want int) string {
		t.Helper()
		_, out := b.status("POST", "/__sim/faults", body, want, anon, header("Content-Type", "application/json"))
		return out
	}
	post(`{"kind":"error","status":503}`, 202)
	b.status("GET", "/api/json", "", 503)
	b.status("DELETE", "/__sim/faults", "", 204, anon)
	post(`{"kind":"restart","for":"50ms"}`, 202)
	testkit.Eventually(t, 10*time.Second, func() bool { return b.c.Restarts() == 1 }, testkit.Sayf("restart via HTTP"))
	post(`{"kind":"down","for":"100ms"}`, 202)
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, err := b.http.Get(b.c.URL() + "__sim/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st State
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Restarts == 2
	}, testkit.Sayf("down and back up"))
	post(`{"kind":"hang","after":"1h"}`, 202) // scheduled, not yet active
	b.status("GET", "/api/json", "", 200)
	post(`{"kind":"agent-offline","node":"agent-2"}`, 202)
	if off := b.json("/computer/agent-2/api/json")["offline"]; off != true {
		t.Errorf("agent-2 offline: %v", off)
	}
	post(`{"kind":"executors","node":"built-in","executors":7}`, 202)
	if n := b.json("/api/json")["numExecutors"]; n != float64(7) {
		t.Errorf("executors: %v", n)
	}
	for _, bad := range []string{`{"kind":"explode"}`, `{"kind":"slow"}`, `{"kind":"error","status":200}`, `{"kind":"agent-offline","node":"nope"}`, `{"kind":"hang","after":"soon"}`, `{"kind":"hang","extra":1}`} {
		if out := post(bad, 400); !strings.Contains(out, `"error"`) {
			t.Errorf("%s: %s", bad, out)
		}
	}
}

func TestAgentPort(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.status("GET", "/tcpSlaveAgentListener/", "", 200, anon)
	port := resp.Header.Get("X-Jenkins-JNLP-Port")
	if body != "Jenkins" || port != itoa(b.c.AgentPort()) || resp.Header.Get("X-Instance-Identity") == "" || resp.Header.Get("X-Jenkins-Agent-Protocols") == "" {
		t.Fatalf("discovery: %q %v", body, resp.Header)
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("Protocol:JNLP4-connect\nping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	tmp := make([]byte, 128)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !bytes.Contains(buf, []byte("ping\n")) {
		n, err := conn.Read(tmp)
		if err != nil {
			t.Fatalf("read %q: %v", buf, err)
		}
		buf = append(buf, tmp[:n]...)
	}
	if want := "JENKINS-SIM-AGENT jenkins\nProtocol:JNLP4-connect\nping\n"; string(buf) != want {
		t.Errorf("agent port: got %q, want %q", buf, want)
	}
}

// Down while connections keep arriving must not deadlock with the
// server's connection tracking.
func TestDownUnderConnectionChurn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if conn, err := net.Dial("tcp", b.c.Addr()); err == nil {
				conn.Close()
			}
		}
	}()
	for i := 0; i < 20; i++ {
		b.c.Down()
		if err := b.c.Up(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	b.status("GET", "/api/json", "", 200)
}

func TestVersionOlder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"5.7.0", "5.10.1", true},
		{"5.10.1", "5.7.0", false},
		{"5.7.0", "5.7.0", false},
		{"1.2", "1.2.1", true},
		{"1413.va_51c53703df1", "1414.v1", true},
		{"608.v67378e9d3db_1", "608.v67378e9d3db_1", false},
		{"3.2.6", "3.2.5", false},
	} {
		if got := versionOlder(tt.a, tt.b); got != tt.want {
			t.Errorf("versionOlder(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestInstallNecessaryPluginsAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status("GET", "/pluginManager/installNecessaryPlugins", "", 405)
	b.status("POST", "/pluginManager/installNecessaryPlugins", `<jenkins><install plugin="git"/></jenkins>`, 500)
	resp, _ := b.status("POST", "/pluginManager/installNecessaryPlugins", `<jenkins><install plugin="git@99.0"/></jenkins>`, 302)
	if loc := resp.Header.Get("Location"); loc != b.c.URL()+"pluginManager/updates/" {
		t.Errorf("Location %q, want the plugin manager's updates", loc)
	}
	if uc := b.json("/updateCenter/api/json"); uc["restartRequiredForCompletion"] != true {
		t.Errorf("updateCenter: %v, want restartRequiredForCompletion", uc)
	}
}

// The fault API does not answer a request that came through a proxy.
func TestFaultAPINotThroughAProxy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, h := range []string{"X-Forwarded-For", "Forwarded"} {
		req, _ := http.NewRequest("POST", b.c.URL()+"__sim/faults", strings.NewReader(`{"kind":"down"}`))
		req.Header.Set(h, "for=192.0.2.1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("POST /__sim/faults with %s: %d, want 404", h, res.StatusCode)
		}
	}
	b.status("GET", "/api/json", "", 200) // still up
}
