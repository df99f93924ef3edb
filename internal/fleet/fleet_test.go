package fleet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// fleetSim is a cluster of three controllers with the demo jobs.
func fleetSim(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Controllers: 3, Sim: jenkinssim.Config{Executors: 4}})
}

func queueID(t *testing.T, res *http.Response) int64 {
	t.Helper()
	loc := res.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, "/queue/item/") || !strings.HasSuffix(u.Path, "/") {
		t.Fatalf("Location %q: want <front>/queue/item/N/", loc)
	}
	id, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(u.Path, "/queue/item/"), "/"), 10, 64)
	if err != nil {
		t.Fatalf("Location %q: %v", loc, err)
	}
	return id
}

func getJSON(t *testing.T, s *servertest.Server, path string, v any) {
	t.Helper()
	res, body := s.Jenkins("GET", path, nil, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

type queueItem struct {
	Class      string `json:"_class"`
	ID         int64  `json:"id"`
	Cancelled  bool   `json:"cancelled"`
	Executable *struct {
		Number int64  `json:"number"`
		URL    string `json:"url"`
	} `json:"executable"`
}

// waitForNumber follows queue item id to its build number.
func waitForNumber(t *testing.T, s *servertest.Server, id int64) int64 {
	t.Helper()
	var n int64
	testkit.Eventually(t, 20*time.Second, func() bool {
		var it queueItem
		getJSON(t, s, "/queue/item/"+strconv.FormatInt(id, 10)+"/api/json", &it)
		if it.Executable != nil {
			n = it.Executable.Number
		}
		return n > 0
	}, testkit.Sayf("queue item %d to start", id))
	return n
}

type buildInfo struct {
	Class    string  `json:"_class"`
	Number   int64   `json:"number"`
	ID       string  `json:"id"`
	URL      string  `json:"url"`
	QueueID  int64   `json:"queueId"`
	Building bool    `json:"building"`
	Result   *string `json:"result"`
}

func waitForResult(t *testing.T, s *servertest.Server, job string, n int64) buildInfo {
	t.Helper()
	var b buildInfo
	testkit.Eventually(t, 20*time.Second, func() bool {
		getJSON(t, s, "/job/"+job+"/"+strconv.FormatInt(n, 10)+"/api/json", &b)
		return !b.Building && b.Result != nil
	}, testkit.Sayf("%s #%d to end", job, n))
	return b
}

func TestTriggerFollowAndRead(t *testing.T) {
	t.Parallel()
	s := fleetSim(t)
	res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=10&SIM_RESULT=UNSTABLE&delay=0sec", nil, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("trigger: HTTP %d: %s", res.StatusCode, body)
	}
	if !strings.HasPrefix(res.Header.Get("Location"), s.Front+"/queue/item/") {
		t.Errorf("Location %q: want it on the front door %s", res.Header.Get("Location"), s.Front)
	}
	id := queueID(t, res)
	n := waitForNumber(t, s, id)
	if n != 1 {
		t.Errorf("first build of deploy: number %d, want 1", n)
	}
	b := waitForResult(t, s, "deploy", n)
	if *b.Result != "UNSTABLE" || b.Number != n || b.ID != strconv.FormatInt(n, 10) || b.QueueID != id {
		t.Errorf("build: %+v, want UNSTABLE #%d from queue item %d", b, n, id)
	}
	if want := s.Front + "/job/deploy/" + strconv.FormatInt(n, 10) + "/"; b.URL != want {
		t.Errorf("url %q, want %q", b.URL, want)
	}
	res, console := s.Jenkins("GET", "/job/deploy/1/consoleText", nil, "")
	if res.StatusCode != 200 || !strings.Contains(string(console), "Finished: UNSTABLE") {
		t.Errorf("consoleText: HTTP %d: %s", res.StatusCode, console)
	}
	res, _ = s.Jenkins("GET", "/job/deploy/1/logText/progressiveText?start=0", nil, "")
	if res.Header.Get("X-Text-Size") == "" || res.Header.Get("X-More-Data") != "" {
		t.Errorf("progressiveText of a finished build: X-Text-Size %q X-More-Data %q", res.Header.Get("X-Text-Size"), res.Header.Get("X-More-Data"))
	}
	var job struct {
		Builds []struct {
			Number   int64   `json:"number"`
			Building bool    `json:"building"`
			Result   *string `json:"result"`
		} `json:"builds"`
		NextBuildNumber int64 `json:"nextBuildNumber"`
		LastBuild       *struct {
			Number int64 `json:"number"`
		} `json:"lastBuild"`
	}
	getJSON(t, s, "/job/deploy/api/json?tree=builds[number,building,result],nextBuildNumber,lastBuild[number]", &job)
	if len(job.Builds) != 1 || job.Builds[0].Number != 1 || job.NextBuildNumber != 2 || job.LastBuild == nil || job.LastBuild.Number != 1 {
		t.Errorf("job: %+v", job)
	}
}

// jobsSim has a disabled job and a slow parameterized one.
func jobsSim(t *testing.T) *servertest.Server {
	t.Helper()
	jobs := append(jenkinssim.DefaultJobs(),
		jenkinssim.JobSpec{Name: "off", Disabled: true},
		jenkinssim.JobSpec{Name: "slow", DurationMs: 60000, Parameters: []jenkinssim.ParamSpec{{Name: "N"}}},
		jenkinssim.JobSpec{Name: "remote", DurationMs: 1, AuthToken: "s3cret"},
		jenkinssim.JobSpec{Name: "build", DurationMs: 1}, // a job whose URL ends in /build
	)
	return servertest.Start(t, servertest.Options{Controllers: 2, Sim: jenkinssim.Config{Executors: 4, Jobs: jobs}})
}

func TestTriggerStatusesAreJenkins(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	for _, c := range []struct {
		method, path string
		want         int
		header       string // a header that must be set
	}{
		{"POST", "/job/nope/build", 404, ""},
		{"POST", "/job/team-a/job/nope/build", 404, ""},
		{"POST", "/job/off/build", 409, ""},
		{"POST", "/job/hello/buildWithParameters", 400, "X-Error"},
		{"GET", "/job/hello/build", 405, "Allow"},
		{"POST", "/job/hello/build?delay=soon", 400, "X-Error"},
		{"POST", "/job/deploy/build", 400, "X-Error"}, // parameterized: needs the json form
		{"POST", "/job/hello/build?delay=0sec", 201, "Location"},
		{"POST", "/job/team-a/job/pipeline/build?delay=0sec", 201, "Location"},
	} {
		res, body := s.Jenkins(c.method, c.path, nil, "")
		if res.StatusCode != c.want {
			t.Errorf("%s %s: HTTP %d, want %d: %.200s", c.method, c.path, res.StatusCode, c.want, body)
			continue
		}
		if c.header != "" && res.Header.Get(c.header) == "" {
			t.Errorf("%s %s: no %s header", c.method, c.path, c.header)
		}
	}
	// Wrong credentials are the controllers' 401.
	req, _ := http.NewRequest("POST", s.Front+"/job/hello/build", nil)
	req.SetBasicAuth(servertest.User, "wrong-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d, want 401", res.StatusCode)
	}
	// The json form of POST /build on a parameterized job.
	form := url.Values{"json": {`{"parameter":[{"name":"SIM_DURATION_MS","value":"5"}]}`}}
	res, body := s.Jenkins("POST", "/job/deploy/build", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusCreated {
		t.Errorf("POST /job/deploy/build with json: HTTP %d: %s", res.StatusCode, body)
	}
}

func TestDuplicateWaitingBuildIs303AndCancelItem(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	first, _ := s.Jenkins("POST", "/job/slow/buildWithParameters?N=1&delay=600sec", nil, "")
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("first trigger: HTTP %d", first.StatusCode)
	}
	again, _ := s.Jenkins("POST", "/job/slow/buildWithParameters?N=1&delay=600sec", nil, "")
	if again.StatusCode != http.StatusSeeOther || again.Header.Get("Location") != first.Header.Get("Location") {
		t.Errorf("identical trigger: HTTP %d Location %q, want 303 to %q", again.StatusCode, again.Header.Get("Location"), first.Header.Get("Location"))
	}
	id := queueID(t, first)
	var q struct {
		Items []queueItem `json:"items"`
	}
	getJSON(t, s, "/queue/api/json", &q)
	if len(q.Items) != 1 || q.Items[0].ID != id || q.Items[0].Class != "hudson.model.Queue$WaitingItem" {
		t.Errorf("queue: %+v, want the waiting item %d", q.Items, id)
	}
	idStr := strconv.FormatInt(id, 10)
	if res, body := s.Jenkins("POST", "/queue/cancelItem?id="+idStr, nil, ""); res.StatusCode != http.StatusNoContent {
		t.Fatalf("cancelItem: HTTP %d: %s", res.StatusCode, body)
	}
	var it queueItem
	getJSON(t, s, "/queue/item/"+idStr+"/api/json", &it)
	if it.Class != "hudson.model.Queue$LeftItem" || !it.Cancelled || it.Executable != nil {
		t.Errorf("cancelled item: %+v", it)
	}
	if res, _ := s.Jenkins("POST", "/queue/cancelItem?id="+idStr, nil, ""); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("cancelItem again: HTTP %d, want 422", res.StatusCode)
	}
	if res, _ := s.Jenkins("POST", "/queue/cancelItem?id=99999", nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("cancelItem of an unknown id: HTTP %d, want 404", res.StatusCode)
	}
	if res, _ := s.Jenkins("GET", "/queue/item/99999/api/json", nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown queue item: HTTP %d, want 404", res.StatusCode)
	}
}

func TestStopAndPermalinks(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	ok, _ := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=5&SIM_RESULT=SUCCESS", nil, "")
	waitForResult(t, s, "deploy", waitForNumber(t, s, queueID(t, ok)))
	bad, _ := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=5&SIM_RESULT=FAILURE", nil, "")
	waitForResult(t, s, "deploy", waitForNumber(t, s, queueID(t, bad)))
	long, _ := s.Jenkins("POST", "/job/slow/buildWithParameters?N=2", nil, "")
	n := waitForNumber(t, s, queueID(t, long))
	res, body := s.Jenkins("POST", "/job/slow/"+strconv.FormatInt(n, 10)+"/stop", nil, "")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("stop: HTTP %d: %s", res.StatusCode, body)
	}
	if b := waitForResult(t, s, "slow", n); *b.Result != "ABORTED" {
		t.Errorf("stopped build: result %s, want ABORTED", *b.Result)
	}
	for link, want := range map[string]int64{"lastBuild": 2, "lastSuccessfulBuild": 1, "lastStableBuild": 1, "lastFailedBuild": 2, "lastCompletedBuild": 2} {
		var b buildInfo
		getJSON(t, s, "/job/deploy/"+link+"/api/json", &b)
		if b.Number != want {
			t.Errorf("%s: #%d, want #%d", link, b.Number, want)
		}
	}
	if res, _ := s.Jenkins("GET", "/job/deploy/lastUnstableBuild/api/json", nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("lastUnstableBuild without one: HTTP %d, want 404", res.StatusCode)
	}
	if res, _ := s.Jenkins("GET", "/job/deploy/7/api/json", nil, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("a number never given: HTTP %d, want 404", res.StatusCode)
	}
}

func TestAggregatedReads(t *testing.T) {
	t.Parallel()
	s := fleetSim(t)
	extra := jenkinssim.JobSpec{Name: "only-on-one", DurationMs: 1}
	if err := s.Sims[2].AddJob(extra); err != nil {
		t.Fatal(err)
	}
	var root struct {
		Jobs []struct {
			Name string `json:"name"`
			URL  string `json:"url"`
			Jobs []struct {
				Name string `json:"name"`
			} `json:"jobs"`
		} `json:"jobs"`
	}
	getJSON(t, s, "/api/json?tree=jobs[name,url,jobs[name]]", &root)
	names := map[string]bool{}
	for _, j := range root.Jobs {
		if names[j.Name] {
			t.Errorf("job %s listed twice", j.Name)
		}
		names[j.Name] = true
		if !strings.HasPrefix(j.URL, s.Front+"/") {
			t.Errorf("job %s: url %q is not on the front door", j.Name, j.URL)
		}
	}
	for _, want := range []string{"hello", "deploy", "team-a", "only-on-one"} {
		if !names[want] {
			t.Errorf("root jobs %v: %s missing", names, want)
		}
	}
	var nodes struct {
		Computer []struct {
			DisplayName string `json:"displayName"`
		} `json:"computer"`
	}
	getJSON(t, s, "/computer/api/json?tree=computer[displayName,offline]", &nodes)
	seen := map[string]bool{}
	for _, c := range nodes.Computer {
		if seen[c.DisplayName] {
			t.Errorf("node %q listed twice", c.DisplayName)
		}
		seen[c.DisplayName] = true
	}
	if len(nodes.Computer) < 3 {
		t.Errorf("nodes of 3 controllers: %v", nodes.Computer)
	}
	// Builds of one job spread over the controllers are one history.
	var ids []int64
	for i := range 6 {
		res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=1&VERSION=v"+strconv.Itoa(i), nil, "")
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("trigger %d: HTTP %d: %s", i, res.StatusCode, body)
		}
		ids = append(ids, queueID(t, res))
	}
	got := map[int64]bool{}
	for _, id := range ids {
		n := waitForNumber(t, s, id)
		if got[n] {
			t.Errorf("number %d given twice", n)
		}
		got[n] = true
		waitForResult(t, s, "deploy", n)
	}
	var job struct {
		Builds []struct {
			Number int64 `json:"number"`
		} `json:"builds"`
	}
	getJSON(t, s, "/job/deploy/api/json?tree=builds[number,building,result]", &job)
	if len(job.Builds) != 6 || job.Builds[0].Number != 6 || job.Builds[5].Number != 1 {
		t.Errorf("builds of deploy: %+v, want 6..1", job.Builds)
	}
	ran := 0
	for _, c := range s.Sims {
		var j struct {
			Builds []any `json:"builds"`
		}
		req, _ := http.NewRequest("GET", c.URL()+"job/deploy/api/json?tree=builds[number]", nil)
		req.SetBasicAuth(servertest.User, servertest.Token)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = json.NewDecoder(res.Body).Decode(&j)
			res.Body.Close()
		}
		if len(j.Builds) > 0 {
			ran++
		}
	}
	if ran < 2 {
		t.Errorf("the 6 builds ran on %d controller(s), want them spread by least-load", ran)
	}
}

// A build whose controller dies is placed again and keeps its number and
// queue id on the front door.
func TestRedispatchKeepsTheFrontDoorIds(t *testing.T) {
	t.Parallel()
	s := fleetSim(t)
	res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=1500&SIM_RESULT=SUCCESS", nil, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("trigger: HTTP %d: %s", res.StatusCode, body)
	}
	id := queueID(t, res)
	n := waitForNumber(t, s, id)
	b, err := s.Jenkinds().Dispatch.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := b.Current()
	for _, c := range s.Sims {
		if c.Name() == s.Jenkinds().Pool.Get(first.ControllerID).Instance().Name {
			c.Down()
		}
	}
	got := waitForResult(t, s, "deploy", n)
	if *got.Result != "SUCCESS" || got.Number != n || got.QueueID != id {
		t.Errorf("after re-dispatch: %+v, want SUCCESS #%d of item %d", got, n, id)
	}
	b, err = s.Jenkinds().Dispatch.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := b.Current()
	if len(b.Attempts) < 2 || cur.ControllerID == first.ControllerID {
		t.Errorf("attempts %+v: want a second one on another controller", b.Attempts)
	}
}

// ?token= triggers without credentials are checked against the job's
// "Trigger builds remotely" token and become durable builds too.
func TestRemoteTokenTrigger(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	post := func(path string) *http.Response {
		res, err := http.Post(s.Front+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Logf("POST %s: HTTP %d: %s", path, res.StatusCode, b)
		}
		return res
	}
	if res := post("/job/remote/build?token=wrong"); res.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: HTTP %d, want 403", res.StatusCode)
	}
	if res := post("/job/hello/build?token=s3cret"); res.StatusCode != http.StatusForbidden {
		t.Errorf("token on a job without one: HTTP %d, want 403", res.StatusCode)
	}
	res := post("/job/remote/build?token=s3cret&cause=nightly")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("remote trigger: HTTP %d, want 201", res.StatusCode)
	}
	id := queueID(t, res)
	b, err := s.Jenkinds().Dispatch.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Cause.Kind != "remote" || b.Cause.Note != "nightly" || b.Cause.Addr != "127.0.0.1" {
		t.Errorf("cause %+v, want remote from 127.0.0.1 with note nightly", b.Cause)
	}
	waitForResult(t, s, "remote", waitForNumber(t, s, id))
}

// A job created on the front door is created on every controller, and
// can be built at once.
func TestJobsDefinedOnce(t *testing.T) {
	t.Parallel()
	s := fleetSim(t)
	const xml = `<?xml version='1.1' encoding='UTF-8'?>
<project><description>made once</description><disabled>false</disabled><builders/></project>`
	res, body := s.Jenkins("POST", "/createItem?name=once", strings.NewReader(xml), "text/xml; charset=utf-8")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("createItem: HTTP %d: %s", res.StatusCode, body)
	}
	for _, c := range s.Sims {
		req, _ := http.NewRequest("GET", c.URL()+"job/once/config.xml", nil)
		req.SetBasicAuth(servertest.User, servertest.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(got), "made once") {
			t.Errorf("%s: job once: HTTP %d: %s", c.Name(), res.StatusCode, got)
		}
	}
	res, body = s.Jenkins("POST", "/job/once/build", nil, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("build the new job: HTTP %d: %s", res.StatusCode, body)
	}
	waitForNumber(t, s, queueID(t, res))
	res, body = s.Jenkins("POST", "/job/once/doDelete", nil, "")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("doDelete: HTTP %d: %s", res.StatusCode, body)
	}
	// The demo jobs are alike on every controller; one changed directly on
	// a controller is drift.
	var drift struct {
		Summary struct {
			Jobs, InSync, Differs int
		} `json:"summary"`
		Plugins struct {
			Jenkins struct{ Status string } `json:"jenkins"`
			Summary struct{ Plugins, InSync int }
		} `json:"plugins"`
	}
	if err := json.Unmarshal(s.API("GET", "/api/v1/clusters/default/drift", nil, http.StatusOK), &drift); err != nil {
		t.Fatal(err)
	}
	if drift.Summary.Jobs == 0 || drift.Summary.InSync != drift.Summary.Jobs {
		t.Errorf("drift before a change: %+v, want every job in sync", drift.Summary)
	}
	// The simulators run the same Jenkins and plugins.
	if p := drift.Plugins; p.Jenkins.Status != "in_sync" || p.Summary.Plugins != len(jenkinssim.DefaultPlugins) || p.Summary.InSync != p.Summary.Plugins {
		t.Errorf("plugin drift: %+v, want Jenkins and %d plugins in sync", p, len(jenkinssim.DefaultPlugins))
	}
	req, _ := http.NewRequest("POST", s.Sims[1].URL()+"job/hello/config.xml", strings.NewReader(xml))
	req.SetBasicAuth(servertest.User, servertest.Token)
	req.Header.Set("Content-Type", "text/xml")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("change hello on %s: %v %v", s.Sims[1].Name(), res, err)
	}
	if err := json.Unmarshal(s.API("GET", "/api/v1/clusters/default/drift", nil, http.StatusOK), &drift); err != nil {
		t.Fatal(err)
	}
	if drift.Summary.Differs != 1 {
		t.Errorf("drift after changing hello on one controller: %+v, want 1 differing", drift.Summary)
	}
}

// Nothing is done as jenkinds for a caller without valid credentials:
// without an Authorization header only a remote trigger is answered here,
// and a job write is first made with the caller's own credentials.
func TestNoWriteWithoutTheCallersCredentials(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	do := func(method, path, user, token string, body string) int {
		req, _ := http.NewRequest(method, s.Front+path, strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, token)
		}
		req.Header.Set("Content-Type", "text/xml")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	exists := func(job string) int {
		n := 0
		for _, c := range s.Sims {
			req, _ := http.NewRequest("GET", c.URL()+"job/"+job+"/api/json?tree=name", nil)
			req.SetBasicAuth(servertest.User, servertest.Token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				n++
			}
		}
		return n
	}
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/job/build/?token=nope"},
		{"POST", "/job/hello/doDelete?token=x&build"},
		{"GET", "/job/build/api/json?token=x"},
		{"POST", "/job/hello/config.xml?token=x"},
		{"GET", "/job/hello/config.xml?token=x"},
		{"POST", "/createItem?name=sneaky&token=x"},
	} {
		if code := do(c.method, c.path, "", "", "<project/>"); code < 400 {
			t.Errorf("%s %s without credentials: HTTP %d, want a refusal", c.method, c.path, code)
		}
	}
	if code := do("POST", "/createItem?name=sneaky", servertest.User, "wrong-token", "<project/>"); code != http.StatusUnauthorized {
		t.Errorf("createItem with a wrong token: HTTP %d, want the controller's 401", code)
	}
	if code := do("POST", "/job/hello/doDelete", servertest.User, "wrong-token", ""); code != http.StatusUnauthorized {
		t.Errorf("doDelete with a wrong token: HTTP %d, want the controller's 401", code)
	}
	for _, job := range []string{"hello", "build"} {
		if n := exists(job); n != len(s.Sims) {
			t.Errorf("%s is on %d of %d controllers after refused deletes", job, n, len(s.Sims))
		}
	}
	if n := exists("sneaky"); n != 0 {
		t.Errorf("sneaky was created on %d controllers by refused requests", n)
	}
}
