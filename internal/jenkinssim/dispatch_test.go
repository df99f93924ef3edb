package jenkinssim

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

// dispatchCase is one request and what Jenkins answers to it
// (docs/stapler-dispatch.md gives the rule and its source for each).
type dispatchCase struct {
	method, path string
	opts         []reqOpt
	status       int
	headers      map[string]string // exact values; "" means the header is absent
	body         []string          // substrings of the body
	notBody      []string          // strings the body must not hold
}

const (
	jsonType = "application/json;charset=utf-8"
	post405  = "This URL requires POST"
)

// TestStaplerDispatch sends the path variants real clients send (and any
// client following Stapler's rules may send) to a simulated controller.
func TestStaplerDispatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	waitedFor := b.trigger("/job/hello/build")
	b.waitBuild("hello", waitedFor) // hello #1, SUCCESS
	q := itoa(b.trigger("/job/hello/build?delay=3600sec"))
	item := "/queue/item/" + q

	cases := []dispatchCase{
		// Actions (doXyz) are called whatever follows their name.
		{method: "POST", path: "/job/hello/build/?delay=3600sec", status: 201, headers: map[string]string{"Location": b.c.URL() + "queue/item/" + q + "/"}},
		{method: "POST", path: "/job/deploy/buildWithParameters/?VERSION=a&delay=3600sec", status: 201},
		{method: "POST", path: "/job/deploy/buildWithParameters/extra/segments?VERSION=b&delay=3600sec", status: 201},
		{method: "POST", path: "/job/deploy/buildWithParameters?VERSION=b&delay=3600sec", status: 303},
		{method: "POST", path: "/queue/cancelItem/?id=999", status: 404, body: []string{"Provided id (999) not found"}},
		{method: "GET", path: "/job/hello/1/consoleText/", status: 200, headers: map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, body: []string{"Finished: SUCCESS"}},
		{method: "GET", path: "/job/hello/1/consoleText/more", status: 200, body: []string{"Finished: SUCCESS"}},
		{method: "POST", path: "/job/hello/1/consoleText", status: 200, body: []string{"Finished: SUCCESS"}},
		{method: "GET", path: "/job/hello/1/logText/progressiveText/?start=0", status: 200, body: []string{"Finished: SUCCESS"}},
		{method: "GET", path: "/job/hello/config.xml/", status: 200, headers: map[string]string{"Content-Type": "application/xml"}, body: []string{"<project>"}},

		// Wrong methods: @RequirePOST (and GET …/build) is 405 with
		// Allow: POST and Jenkins' "This URL requires POST" page.
		{method: "GET", path: "/job/hello/build", status: 405, headers: map[string]string{"Allow": "POST"}, body: []string{post405}},
		{method: "GET", path: "/job/hello/build/", status: 405, headers: map[string]string{"Allow": "POST"}, body: []string{post405}},
		{method: "HEAD", path: "/job/hello/build", status: 405, headers: map[string]string{"Allow": "POST"}},
		{method: "GET", path: "/queue/cancelItem?id=1", status: 405, headers: map[string]string{"Allow": "POST"}, body: []string{post405}},
		{method: "PUT", path: "/queue/cancelItem/?id=1", status: 405, headers: map[string]string{"Allow": "POST"}},
		{method: "GET", path: "/job/hello/doDelete", status: 405, headers: map[string]string{"Allow": "POST"}},
		{method: "GET", path: "/quietDown", status: 405, headers: map[string]string{"Allow": "POST"}},
		{method: "GET", path: "/job/hello/1/stop/", status: 405, headers: map[string]string{"Allow": "POST"}},
		// config.xml reads GET and POST only; HEAD is not GET to Stapler.
		{method: "HEAD", path: "/job/hello/config.xml", status: 400, headers: map[string]string{"X-Error": ""}},
		{method: "PUT", path: "/job/hello/config.xml", status: 400, body: []string{"HTTP ERROR 400 Bad Request"}},

		// api/json is Api.doJson: any method, any tail; tree= wins over depth=.
		{method: "GET", path: "/job/hello/api/json", status: 200, headers: map[string]string{"Content-Type": jsonType, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny"}, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/hello/api/json/", status: 200, headers: map[string]string{"Content-Type": jsonType}, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/hello/api/json/extra", status: 200, body: []string{`"name":"hello"`}},
		{method: "POST", path: "/job/hello/api/json", status: 200, body: []string{`"name":"hello"`}},
		{method: "HEAD", path: "/job/hello/api/json", status: 200, headers: map[string]string{"Content-Type": jsonType, "X-Jenkins": DefaultVersion}},
		{method: "GET", path: "/job/hello/lastBuild/api/json", status: 200, body: []string{`"number":1`, `"result":"SUCCESS"`}},
		{method: "GET", path: "/job/hello/firstBuild/api/json?tree=number", status: 200, body: []string{`"number":1`}},
		{method: "GET", path: "/job/hello/+1/api/json?tree=number", status: 200, body: []string{`"number":1`}},
		{method: "GET", path: "/job/hello/01/api/json?tree=number", status: 200, body: []string{`"number":1`}},
		{method: "GET", path: "/job/hello/lastFailedBuild/api/json", status: 404},
		{method: "GET", path: "/api/json?depth=1&tree=jobs[name]", status: 200, body: []string{`{"_class":"hudson.model.Hudson","jobs":[{"_class":"hudson.model.FreeStyleProject","name":"deploy"}`}, notBody: []string{`"numExecutors"`, `"url"`}},
		{method: "GET", path: "/api/json/", status: 200, body: []string{`"_class":"hudson.model.Hudson"`}},
		{method: "GET", path: "/job/hello/api/", status: 200, body: []string{"REST API"}},
		// The XML and Python flavours are not simulated (§3).
		{method: "GET", path: "/job/hello/api/xml", status: 404},
		{method: "GET", path: "/job/hello/api/python", status: 404},

		// Names are case-sensitive; job names are not.
		{method: "GET", path: "/job/hello/api/JSON", status: 404},
		{method: "GET", path: "/job/hello/API/json", status: 404},
		{method: "GET", path: "/JOB/hello/api/json", status: 404},
		{method: "GET", path: "/job/hello/Build", status: 404},
		{method: "GET", path: "/job/HELLO/api/json?tree=name", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/TEAM-A/job/Pipeline/api/json?tree=fullName", status: 200, body: []string{`"fullName":"team-a/pipeline"`}},

		// Empty segments, dot segments, percent-encoding.
		{method: "GET", path: "/job/hello//api/json", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "//job//hello//api//json//", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/hello//1//api/json?depth=1", status: 200, body: []string{`"number":1`}},
		{method: "GET", path: "/job/hello/./api/json", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/nope/../hello/api/json", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/hel%6Co/api/json", status: 200, body: []string{`"name":"hello"`}},
		{method: "GET", path: "/job/hello%2Fapi/json", status: 404},
		{method: "GET", path: "/job/hello/%2E%2E/api/json", status: 500},
		{method: "GET", path: "/computer/(built-in)/api/json", status: 200, body: []string{`"_class":"hudson.model.Hudson$MasterComputer"`}},
		{method: "GET", path: "/computer/%28built-in%29/api/json", status: 200, body: []string{`"_class":"hudson.model.Hudson$MasterComputer"`}},
		{method: "GET", path: "/computer/(master)/api/json/", status: 200, body: []string{`"_class":"hudson.model.Hudson$MasterComputer"`}},
		{method: "GET", path: "/computer/Built-In%20Node/api/json", status: 404},

		// ;jsessionid= and any other ';' in the path: 400, before
		// authentication; in the query it is fine.
		{method: "GET", path: "/job/hello/api/json;jsessionid=0123abcd", status: 400, body: []string{"Semicolons are not allowed in the request URI"}},
		{method: "GET", path: "/job/hello;jsessionid=0123abcd/api/json", opts: []reqOpt{anon}, status: 400, body: []string{"Semicolons are not allowed in the request URI"}},
		{method: "GET", path: "/job/hello/api/json?tree=name&x=a;b", status: 200, body: []string{`"name":"hello"`}},

		// An object reached with nothing after it: 302 to the path with a
		// slash (relative, canonical, query kept), whatever the method.
		{method: "GET", path: "/job/hello", status: 302, headers: map[string]string{"Location": "/job/hello/"}},
		{method: "GET", path: "/job/hello?x=1", status: 302, headers: map[string]string{"Location": "/job/hello/?x=1"}},
		{method: "DELETE", path: "/job/hello", status: 302, headers: map[string]string{"Location": "/job/hello/"}},
		{method: "POST", path: "/job//hello", status: 302, headers: map[string]string{"Location": "/job/hello/"}},
		{method: "HEAD", path: "/job/hello/", status: 200, headers: map[string]string{"Content-Type": "text/html;charset=utf-8"}},
		{method: "GET", path: "/job/hello/1", status: 302, headers: map[string]string{"Location": "/job/hello/1/"}},
		{method: "GET", path: "/job/hello/lastBuild", status: 302, headers: map[string]string{"Location": "/job/hello/lastBuild/"}},
		{method: "GET", path: "/job/hello/1/logText", status: 302, headers: map[string]string{"Location": "/job/hello/1/logText/"}},
		{method: "GET", path: "/job/hello/api", status: 302, headers: map[string]string{"Location": "/job/hello/api/"}},
		{method: "GET", path: "/api?pretty", status: 302, headers: map[string]string{"Location": "/api/?pretty"}},
		{method: "GET", path: "/job/nope", status: 404},
		{method: "GET", path: "/job/hello/7", status: 404},
		{method: "GET", path: "/computer/(built-in)", status: 302, headers: map[string]string{"Location": "/computer/(built-in)/"}},
		{method: "GET", path: "/computer/%28built-in%29", status: 302, headers: map[string]string{"Location": "/computer/%28built-in%29/"}},
		{method: "GET", path: "/health", opts: []reqOpt{anon}, status: 302, headers: map[string]string{"Location": "/health/"}},
		{method: "GET", path: "/health/", opts: []reqOpt{anon}, status: 200, body: []string{`{"status":true}`}},
		{method: "GET", path: "/tcpSlaveAgentListener", opts: []reqOpt{anon}, status: 302, headers: map[string]string{"Location": "/tcpSlaveAgentListener/"}},
		{method: "GET", path: "/tcpSlaveAgentListener/", opts: []reqOpt{anon}, status: 200, body: []string{"Jenkins"}},

		// index is a view (last segment, no slash); index.jelly is not.
		{method: "GET", path: "/job/hello/index", status: 200, headers: map[string]string{"Content-Type": "text/html;charset=utf-8"}, body: []string{"<h1>hello</h1>"}},
		{method: "GET", path: "/job/hello/index/", status: 404},
		{method: "GET", path: "/job/hello/index.jelly", status: 404},

		// The queue: getItem(long), the item's doIndex, its api.
		{method: "GET", path: item, status: 302, headers: map[string]string{"Location": item + "/"}},
		{method: "GET", path: item + "/", status: 200, headers: map[string]string{"Content-Type": "text/plain;charset=UTF-8"},
			body: []string{"Queue item exists. For details check, for example, " + item + "/api/json?tree=cancelled,executable[url]"}},
		{method: "POST", path: item + "/", status: 200, body: []string{"Queue item exists."}},
		{method: "GET", path: item + "/api/json/", status: 200, body: []string{`"_class":"hudson.model.Queue$WaitingItem"`, `"id":` + q}},
		{method: "GET", path: "/queue/item/999", status: 404},
		{method: "POST", path: "/queue/item/999/cancelQueue", status: 404},
		{method: "GET", path: "/queue/item", status: 404},
		{method: "GET", path: "/queue/item/abc/api/json", status: 500, body: []string{"NumberFormatException"}},
		{method: "GET", path: "/queue/api/json/", status: 200, body: []string{`"_class":"hudson.model.Queue"`}},
	}
	for _, tc := range cases {
		res, body := b.do(tc.method, tc.path, "", tc.opts...)
		want := testkit.Answer{Status: tc.status, Headers: tc.headers, Body: tc.body, NotBody: tc.notBody}
		want.Check(t, tc.method+" "+tc.path, res, body)
	}
}
