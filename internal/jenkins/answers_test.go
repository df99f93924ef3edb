package jenkins_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

func TestAnswers(t *testing.T) {
	t.Parallel()
	html := "text/html;charset=utf-8"
	for _, tc := range []struct {
		name    string
		answer  func(http.ResponseWriter)
		status  int
		headers map[string]string
		body    []string
	}{
		{"page", func(w http.ResponseWriter) { jenkins.Page(w, 200, "A & B", "<p>hi</p>") }, 200,
			map[string]string{"Content-Type": html, "X-Hudson": "1.395"},
			[]string{"<title>A &amp; B [Jenkins]</title>", "<body><p>hi</p></body>"}},
		{"not found", jenkins.NotFound, 404, map[string]string{"Content-Type": html, "X-Error": ""},
			[]string{"<title>Not Found [Jenkins]</title>", "This page may not exist, or you may not have permission to see it."}},
		{"failure", func(w http.ResponseWriter) { jenkins.Failure(w, 400, "No such job: <x>\nnext") }, 400,
			map[string]string{"Content-Type": html, "X-Error": "No such job: <x> next"},
			[]string{"<title>Error [Jenkins]</title>", "<h1>Error</h1><p>No such job: &lt;x&gt;\nnext</p>"}},
		{"server error", func(w http.ResponseWriter) { jenkins.ServerError(w, "java.io.IOException: <bad>") }, 500,
			map[string]string{"Content-Type": html},
			[]string{"<title>Oops! [Jenkins]</title>", "A problem occurred while processing the request", "<pre>java.io.IOException: &lt;bad&gt;</pre>"}},
		{"require POST", jenkins.RequirePOST, 405, map[string]string{"Content-Type": html, "Allow": "POST"},
			[]string{"<title>Method Not Allowed [Jenkins]</title>", "<h1>This URL requires POST</h1>"}},
		{"service unavailable", func(w http.ResponseWriter) { jenkins.ServiceUnavailable(w, "no controller", 1500*time.Millisecond) }, 503,
			map[string]string{"Content-Type": "text/plain;charset=utf-8", "Retry-After": "2"},
			[]string{"jenkinds: no controller\n"}},
		{"no Retry-After", func(w http.ResponseWriter) { jenkins.ServiceUnavailable(w, "x", 0) }, 503,
			map[string]string{"Retry-After": ""}, []string{"jenkinds: x\n"}},
	} {
		rec := httptest.NewRecorder()
		tc.answer(rec)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.status)
		}
		for k, v := range tc.headers {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", tc.name, k, got, v)
			}
		}
		for _, s := range tc.body {
			if !strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: body %q lacks %q", tc.name, rec.Body.String(), s)
			}
		}
	}
}

func TestPathAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		target   string
		answer   func(http.ResponseWriter, *http.Request) bool
		answered bool
		status   int
		headers  map[string]string
		body     string
	}{
		{"semicolon", "/job/x/api/json;jsessionid=ab?tree=name", jenkins.RejectSemicolon, true, 400,
			map[string]string{"Content-Type": "text/html;charset=iso-8859-1"},
			"<h2>HTTP ERROR 400 Semicolons are not allowed in the request URI</h2>\n<table><tr><th>URI:</th><td>/job/x/api/json;jsessionid=ab</td>"},
		{"semicolon in the query", "/job/x/api/json?a=b;c", jenkins.RejectSemicolon, false, 0, nil, ""},
		{"escaped semicolon", "/job/x%3By/", jenkins.RejectSemicolon, false, 0, nil, ""},
		{"add slash", "/job/x//1?depth=1", func(w http.ResponseWriter, r *http.Request) bool {
			jenkins.AddSlash(w, r, "/job/x/1")
			return true
		}, true, 302, map[string]string{"Location": "/job/x/1/?depth=1"}, ""},
	} {
		rec := httptest.NewRecorder()
		got := tc.answer(rec, httptest.NewRequest("GET", tc.target, nil))
		if got != tc.answered {
			t.Errorf("%s: answered %v, want %v", tc.name, got, tc.answered)
			continue
		}
		if !got {
			continue
		}
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.status)
		}
		for k, v := range tc.headers {
			if h := rec.Header().Get(k); h != v {
				t.Errorf("%s: %s %q, want %q", tc.name, k, h, v)
			}
		}
		if !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: body %q lacks %q", tc.name, rec.Body.String(), tc.body)
		}
	}
}
