package clientcompat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// The smallest requests, with plain HTTP, that show the front door answering
// otherwise than one Jenkins (here: one of the controllers behind it, asked
// the same) where the clients above tripped.

// controllerDo sends method path to controller c with the same credentials
// and returns the answer with its body read.
func controllerDo(t *testing.T, c *jenkinssim.Controller, method, path string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.URL()+path[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(servertest.User, servertest.Token)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", c.Name(), method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", c.Name(), method, path, err)
	}
	return res, body
}

func decode(t *testing.T, what string, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v: %.300s", what, err, body)
	}
}

// queueIDOf reads the queue id from a trigger's Location.
func queueIDOf(t *testing.T, res *http.Response) int64 {
	t.Helper()
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", res.Header.Get("Location"), err)
	}
	id, err := strconv.ParseInt(path.Base(u.Path), 10, 64)
	if err != nil {
		t.Fatalf("Location %q: no queue id: %v", u, err)
	}
	return id
}

// python-jenkins job_exists('team-a') and gojenkins GetFolder('team-a'):
// a folder's JSON; and python-jenkins create_job('team-a/x'): creating a
// job in a folder.
func TestFrontDoorFolder(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	const p = "/job/team-a/api/json?tree=name,url,jobs[name]"
	res, body := s.Jenkins("GET", p, nil, "")
	if want, _ := controllerDo(t, s.Sims[0], "GET", p); res.StatusCode != want.StatusCode {
		t.Errorf("GET %s: HTTP %d, want %d as the controllers answer: %.300s", p, res.StatusCode, want.StatusCode, body)
	} else {
		var folder struct {
			Class string `json:"_class"`
			Name  string `json:"name"`
			URL   string `json:"url"`
			Jobs  []struct {
				Name string `json:"name"`
			} `json:"jobs"`
		}
		decode(t, "GET "+p, body, &folder)
		if folder.Class != "com.cloudbees.hudson.plugins.folder.Folder" || folder.Name != "team-a" || folder.URL != s.Front+"/job/team-a/" ||
			len(folder.Jobs) != 1 || folder.Jobs[0].Name != "pipeline" {
			t.Errorf("GET %s: %+v, want folder team-a at %s/job/team-a/ with job pipeline", p, folder, s.Front)
		}
	}

	const create = "/job/team-a/createItem?name=made-here"
	const config = `<?xml version='1.1' encoding='UTF-8'?><project><description>in a folder</description></project>`
	res, body = s.Jenkins("POST", create, strings.NewReader(config), "text/xml; charset=utf-8")
	if res.StatusCode != http.StatusOK {
		t.Errorf("POST %s: HTTP %d, want 200 as Jenkins answers (§6.2): %.300s", create, res.StatusCode, body)
	}
	for _, c := range s.Sims {
		if res, _ := controllerDo(t, c, "GET", "/job/team-a/job/made-here/api/json?tree=name"); res.StatusCode != http.StatusOK {
			t.Errorf("%s: team-a/made-here: HTTP %d after POST %s, want the job on every controller", c.Name(), res.StatusCode, create)
		}
	}
}

// gojenkins Init reads the version from GET /api/json: Jenkins sets
// X-Jenkins and X-Jenkins-Session on every …/api/json answer (§1.1).
func TestFrontDoorAPIHeaders(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	for _, p := range []string{"/api/json", "/job/deploy/api/json", "/computer/api/json", "/queue/api/json"} {
		want, _ := controllerDo(t, s.Sims[0], "GET", p)
		res, _ := s.Jenkins("GET", p, nil, "")
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: HTTP %d, want 200", p, res.StatusCode)
			continue
		}
		for _, h := range []string{"X-Jenkins", "X-Jenkins-Session"} {
			if want.Header.Get(h) == "" {
				t.Fatalf("%s: GET %s has no %s", s.Sims[0].Name(), p, h)
			}
			if res.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header; the controllers send %s: %s", p, h, h, want.Header.Get(h))
			}
		}
		if got := res.Header.Get("X-Jenkins"); got != "" && got != jenkinssim.DefaultVersion {
			t.Errorf("GET %s: X-Jenkins %q, want %q", p, got, jenkinssim.DefaultVersion)
		}
	}
}

// python-jenkins get_queue_item()['params'] and gojenkins Task.Raw.Params:
// a waiting item lists every parameter of the job, the defaults of those the
// trigger left out (§4.2), as the controller does for the same trigger.
func TestFrontDoorQueueItemParams(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	const trigger = "/job/deploy/buildWithParameters?VERSION=9.9.9&delay=60sec"
	type item struct {
		Params  string `json:"params"`
		Actions []struct {
			Parameters []struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"parameters"`
		} `json:"actions"`
	}
	paramsOf := func(it item) []string {
		var out []string
		for _, a := range it.Actions {
			for _, p := range a.Parameters {
				out = append(out, p.Name+"="+jsonText(p.Value))
			}
		}
		return out
	}
	cres, _ := controllerDo(t, s.Sims[0], "POST", trigger)
	if cres.StatusCode != http.StatusCreated {
		t.Fatalf("%s: POST %s: HTTP %d", s.Sims[0].Name(), trigger, cres.StatusCode)
	}
	var want item
	_, body := controllerDo(t, s.Sims[0], "GET", "/queue/item/"+strconv.FormatInt(queueIDOf(t, cres), 10)+"/api/json")
	decode(t, "the controller's queue item", body, &want)

	res, body := s.Jenkins("POST", trigger, nil, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: HTTP %d: %s", trigger, res.StatusCode, body)
	}
	p := "/queue/item/" + strconv.FormatInt(queueIDOf(t, res), 10) + "/api/json"
	res, body = s.Jenkins("GET", p, nil, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", p, res.StatusCode, body)
	}
	var got item
	decode(t, "GET "+p, body, &got)
	if got.Params != want.Params {
		t.Errorf("GET %s: params %q, want %q as the controller shows the same trigger", p, got.Params, want.Params)
	}
	if g, w := paramsOf(got), paramsOf(want); jsonText(g) != jsonText(w) {
		t.Errorf("GET %s: ParametersAction %v, want %v as the controller shows the same trigger", p, g, w)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// python-jenkins get_jobs()/get_all_jobs() and gojenkins Raw.Jobs: a job's
// color in the root's job list is the color of the job (§1.2: from its
// last build), the same as GET /job/X/api/json gives.
func TestFrontDoorRootJobColor(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	colors := func() (inRoot, ofJob string) {
		var root struct {
			Jobs []struct {
				Name  string `json:"name"`
				Color string `json:"color"`
			} `json:"jobs"`
		}
		_, body := s.Jenkins("GET", "/api/json?tree=jobs[name,color]", nil, "")
		decode(t, "GET /api/json", body, &root)
		for _, j := range root.Jobs {
			if j.Name == "deploy" {
				inRoot = j.Color
			}
		}
		var job struct {
			Color string `json:"color"`
		}
		_, body = s.Jenkins("GET", "/job/deploy/api/json?tree=color", nil, "")
		decode(t, "GET /job/deploy/api/json", body, &job)
		return inRoot, job.Color
	}
	// Two builds one after the other, so on two controllers: the root's
	// list cannot be right after both unless it shows the job's color.
	ran := map[string]bool{}
	for i, result := range []string{"SUCCESS", "FAILURE"} {
		res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=10&SIM_RESULT="+result, nil, "")
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("trigger: HTTP %d: %s", res.StatusCode, body)
		}
		id := queueIDOf(t, res)
		var ctl string
		testkit.Eventually(t, waitTimeout, func() bool {
			b := record(t, s, id)
			ctl, _ = b.ranOn()
			return b.terminal()
		}, testkit.Sayf("build %d to end in jenkinds' record", i+1))
		ran[ctl] = true
		inRoot, ofJob := colors()
		if want := map[string]string{"SUCCESS": "blue", "FAILURE": "red"}[result]; ofJob != want {
			t.Errorf("after build %d (%s, on %s): /job/deploy/api/json color %q, want %q", i+1, result, ctl, ofJob, want)
		}
		if inRoot != ofJob {
			t.Errorf("after build %d (%s, on %s): deploy's color in /api/json is %q, in /job/deploy/api/json %q",
				i+1, result, ctl, inRoot, ofJob)
		}
	}
	if len(ran) != 2 {
		t.Fatalf("both builds ran on %v: the check needs two controllers", ran)
	}
}

// gojenkins GetAllNodes then Node.Poll: every node the front door lists
// answers at /computer/<its name>/ (§10.3), as on one Jenkins — but the
// built-in node, which no Jenkins ≥ 2.307 serves under its display name.
func TestFrontDoorNodesByListedName(t *testing.T) {
	t.Parallel()
	s := startFleet(t)
	var set struct {
		Computer []struct {
			DisplayName string `json:"displayName"`
		} `json:"computer"`
	}
	_, body := s.Jenkins("GET", "/computer/api/json?tree=computer[displayName]", nil, "")
	decode(t, "GET /computer/api/json", body, &set)
	if len(set.Computer) != 2*controllers {
		t.Fatalf("GET /computer/api/json: %d nodes, want %d: %s", len(set.Computer), 2*controllers, body)
	}
	for _, c := range set.Computer {
		if strings.HasPrefix(c.DisplayName, "Built-In Node") {
			continue
		}
		p := "/computer/" + url.PathEscape(c.DisplayName) + "/api/json?tree=displayName"
		res, body := s.Jenkins("GET", p, nil, "")
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s (a node GET /computer/api/json lists): HTTP %d, want 200: %.200s", p, res.StatusCode, body)
		}
	}
}
