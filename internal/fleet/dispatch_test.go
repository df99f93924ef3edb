package fleet_test

import (
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// dispatchCase is one request to the front door and what Jenkins answers
// to it (docs/stapler-dispatch.md gives the rule and its source for each).
type dispatchCase struct {
	method, path string
	anonymous    bool
	status       int
	headers      map[string]string // exact values
	body         []string          // substrings of the body
	notBody      []string
	// own: the front door answers itself, no controller does (its
	// X-Jenkins-Session is none of theirs). Where a proxied answer would
	// look alike, this is what tells them apart: a controller answers with
	// its own ids and numbers, or for its own queue.
	own bool
}

// TestStaplerDispatch sends the path variants real clients send (and any
// client following Stapler's rules may send) to a front door over two
// simulated controllers.
func TestStaplerDispatch(t *testing.T) {
	t.Parallel()
	s := jobsSim(t)
	sessions := map[string]bool{}
	for _, c := range s.Sims {
		sessions[c.Session()] = true
	}
	trigger := func(path string) int64 {
		t.Helper()
		res, body := s.Jenkins("POST", path, nil, "")
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: HTTP %d: %s", path, res.StatusCode, body)
		}
		return queueID(t, res)
	}
	// Items waiting in jenkinds first, so that jenkinds' ids run ahead of
	// the controllers' queue ids; then hello #1.
	waiting := trigger("/job/slow/buildWithParameters?N=w1&delay=600sec")
	trigger("/job/slow/buildWithParameters?N=w2&delay=600sec")
	trigger("/job/slow/buildWithParameters?N=w3&delay=600sec")
	first := trigger("/job/hello/build?delay=0sec")
	waitForResult(t, s, "hello", waitForNumber(t, s, first))
	f := strconv.FormatInt(first, 10)
	item := "/queue/item/" + strconv.FormatInt(waiting, 10)
	toCancel := strconv.FormatInt(trigger("/job/slow/buildWithParameters?N=c&delay=600sec"), 10)

	post405 := map[string]string{"Allow": "POST"}
	cases := []dispatchCase{
		// Actions are called whatever follows their name: a trigger with a
		// tail is still jenkinds' durable build.
		{method: "POST", path: "/job/slow/buildWithParameters/?N=t1&delay=600sec", status: 201, own: true},
		{method: "POST", path: "/job/slow/buildWithParameters/extra/x?N=t2&delay=600sec", status: 201, own: true},
		{method: "POST", path: "/job/hello/build/?delay=600sec", status: 201, own: true},
		{method: "POST", path: "/job/remote/build/now?token=s3cret&delay=600sec", anonymous: true, status: 201, own: true},
		{method: "POST", path: "/queue/cancelItem/x?id=" + toCancel, status: 204, own: true},
		{method: "GET", path: "/queue/item/" + toCancel + "/api/json?tree=cancelled", status: 200, body: []string{`"cancelled":true`}, own: true},
		{method: "GET", path: "/job/hello/1/consoleText/", status: 200, body: []string{"Finished: SUCCESS"}, own: true},
		{method: "GET", path: "/job/hello/1/consoleText/more", status: 200, body: []string{"Finished: SUCCESS"}, own: true},
		{method: "POST", path: "/job/hello/1/consoleText", status: 200, body: []string{"Finished: SUCCESS"}, own: true},
		{method: "GET", path: "/job/hello/1/logText/progressiveText/?start=0", status: 200, body: []string{"Finished: SUCCESS"}, own: true},

		// Other methods on a trigger start nothing: a controller answers as
		// Jenkins does (405, the parameters form, 409 for a disabled job).
		{method: "GET", path: "/job/hello/build", status: 405, headers: post405, body: []string{"This URL requires POST"}},
		{method: "HEAD", path: "/job/hello/build/", status: 405, headers: post405},
		{method: "GET", path: "/job/slow/build", status: 200, body: []string{"This build requires parameters"}},
		{method: "GET", path: "/job/off/build", status: 409},
		{method: "GET", path: "/queue/cancelItem?id=1", status: 405, headers: post405, own: true},
		{method: "GET", path: "/job/hello/1/stop/", status: 405, headers: post405, own: true},
		{method: "GET", path: item + "/cancelQueue", status: 405, headers: post405, own: true},

		// api/json is Api.doJson: any method, any tail; tree= wins over depth=.
		{method: "GET", path: "/job/hello/api/json?tree=name", status: 200, headers: map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny"}, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/hello/api/json/?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/hello/api/json/extra?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "POST", path: "/job/hello/api/json?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "HEAD", path: "/job/hello/api/json", status: 200, headers: map[string]string{"Content-Type": "application/json;charset=utf-8"}, own: true},
		{method: "GET", path: "/job/hello/lastBuild/api/json?tree=number,queueId", status: 200, body: []string{`"number":1`, `"queueId":` + f}, own: true},
		{method: "GET", path: "/job/hello/firstBuild/api/json?tree=number,queueId", status: 200, body: []string{`"number":1`, `"queueId":` + f}, own: true},
		{method: "GET", path: "/job/hello/+1/api/json?tree=number,queueId", status: 200, body: []string{`"number":1`, `"queueId":` + f}, own: true},
		{method: "GET", path: "/api/json?depth=1&tree=jobs[name]", status: 200, body: []string{`"jobs":[{`, `"name":"hello"`}, notBody: []string{`"numExecutors"`, `"color"`}, own: true},
		{method: "GET", path: "/api/json/", status: 200, body: []string{`"_class":"hudson.model.Hudson"`}, own: true},
		{method: "GET", path: "/computer/api/json/?tree=busyExecutors", status: 200, body: []string{`"_class":"hudson.model.ComputerSet"`}, own: true},
		{method: "GET", path: "/queue/api/json/", status: 200, body: []string{`"_class":"hudson.model.Queue"`}, own: true},
		// The XML and Python flavours: 404 rather than one controller's
		// numbers (§3).
		{method: "GET", path: "/job/hello/api/xml", status: 404, own: true},
		{method: "GET", path: "/api/xml", status: 404, own: true},
		{method: "GET", path: "/job/hello/1/api/python", status: 404, own: true},
		{method: "GET", path: "/job/hello/api", status: 302, headers: map[string]string{"Location": "/job/hello/api/"}},

		// Names are case-sensitive; job names are not (§1.5): /job/HELLO/
		// is the job hello, its builds and its triggers.
		{method: "GET", path: "/job/hello/api/JSON", status: 404},
		{method: "GET", path: "/job/hello/API/json", status: 404},
		{method: "GET", path: "/job/HELLO/api/json?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/Hello/1/api/json?tree=number,queueId", status: 200, body: []string{`"number":1`, `"queueId":` + f}, own: true},
		{method: "POST", path: "/job/SLOW/buildWithParameters?N=t3&delay=600sec", status: 201, own: true},
		{method: "GET", path: "/JOB/hello/api/json", status: 404},

		// Empty segments, dot segments, percent-encoding.
		{method: "GET", path: "/job/hello//1//api/json?depth=1", status: 200, body: []string{`"number":1`, `"queueId":` + f}, own: true},
		{method: "GET", path: "//job//hello//api//json//?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "//api/json?tree=jobs[name]", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/nope/../hello/api/json?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/hel%6Co/api/json?tree=name", status: 200, body: []string{`"name":"hello"`}, own: true},
		{method: "GET", path: "/job/team-a%2Fpipeline/api/json", status: 404},
		{method: "GET", path: "/computer/(built-in)/api/json", status: 200, body: []string{`"_class":"hudson.model.Hudson$MasterComputer"`}},
		{method: "GET", path: "/computer/%28built-in%29/api/json", status: 200, body: []string{`"_class":"hudson.model.Hudson$MasterComputer"`}},

		// ';' in the path is refused before anything else.
		{method: "GET", path: "/job/hello/api/json;jsessionid=0123abcd", status: 400, body: []string{"Semicolons are not allowed in the request URI"}, own: true},
		{method: "POST", path: "/job/remote;jsessionid=0123abcd/build?token=s3cret", anonymous: true, status: 400, own: true},

		// An object reached with nothing after it: 302 to the path with a
		// slash, relative, on the front door's own numbering.
		{method: "GET", path: "/job/hello", status: 302, headers: map[string]string{"Location": "/job/hello/"}},
		{method: "DELETE", path: "/job/hello", status: 302, headers: map[string]string{"Location": "/job/hello/"}},
		{method: "GET", path: "/job/hello/1", status: 302, headers: map[string]string{"Location": "/job/hello/1/"}, own: true},
		{method: "GET", path: "/job/hello//lastBuild?x=1", status: 302, headers: map[string]string{"Location": "/job/hello/lastBuild/?x=1"}, own: true},
		{method: "GET", path: "/job/hello/1/api", status: 302, headers: map[string]string{"Location": "/job/hello/1/api/"}, own: true},
		{method: "GET", path: "/job/hello/1/logText", status: 302, headers: map[string]string{"Location": "/job/hello/1/logText/"}, own: true},
		{method: "GET", path: "/job/hello/1/", status: 200},
		{method: "GET", path: "/job/hello/7", status: 404, own: true},
		{method: "GET", path: item, status: 302, headers: map[string]string{"Location": item + "/"}, own: true},
		{method: "GET", path: item + "/", status: 200, body: []string{"Queue item exists."}, own: true},
		{method: "POST", path: item + "/", status: 200, body: []string{"Queue item exists."}, own: true},
		{method: "GET", path: item + "/index", status: 200, body: []string{"Queue item exists."}, own: true},
		{method: "GET", path: item + "/api/json/", status: 200, body: []string{`"_class":"hudson.model.Queue$WaitingItem"`, `"id":` + strconv.FormatInt(waiting, 10)}, own: true},
		{method: "GET", path: "/queue/item/999999", status: 404, own: true},
		{method: "GET", path: "/queue/item/abc/api/json", status: 500},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, s.Front+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.anonymous {
			req.SetBasicAuth(servertest.User, servertest.Token)
		}
		res, body := send(t, req)
		what := tc.method + " " + tc.path
		want := testkit.Answer{Status: tc.status, Headers: tc.headers, Body: tc.body, NotBody: tc.notBody}
		if loc, ok := tc.headers["Location"]; ok {
			// Jenkins sends a relative Location; the proxy makes a
			// controller's absolute on the front door. Both lead to the
			// same place.
			want.Headers = maps.Clone(tc.headers)
			want.Headers["Location"] = resolve(req.URL, loc)
			res.Header.Set("Location", resolve(req.URL, res.Header.Get("Location")))
		}
		if want.Check(t, what, res, body) && tc.own && sessions[res.Header.Get("X-Jenkins-Session")] {
			t.Errorf("%s: answered by a controller (X-Jenkins-Session %s), want the front door's own answer", what, res.Header.Get("X-Jenkins-Session"))
		}
	}

	// The triggers with a tail made durable builds with their parameters.
	for _, n := range []string{"t1", "t2", "t3"} {
		found := false
		waitingBuilds, err := s.Jenkinds().Dispatch.Waiting(t.Context(), "default", "slow", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range waitingBuilds {
			found = found || len(b.Params) == 1 && b.Params[0] == (dispatch.Param{Name: "N", Value: n})
		}
		if !found {
			t.Errorf("no durable build of slow with N=%s", n)
		}
	}
	// DELETE /job/hello was redirected, not done.
	if res, _ := s.Jenkins("GET", "/job/hello/api/json?tree=name", nil, ""); res.StatusCode != http.StatusOK {
		t.Errorf("hello after DELETE /job/hello: HTTP %d, want it still there", res.StatusCode)
	}
}

func send(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", req.Method, req.URL, err)
	}
	return res, string(body)
}

func resolve(base *url.URL, loc string) string {
	u, err := base.Parse(loc)
	if err != nil {
		return "unparsable " + loc
	}
	return u.String()
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
