package jenkinssim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestRootAndHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.status("GET", "/api/json", "", 200)
	for k, want := range map[string]string{
		"X-Jenkins":              DefaultVersion,
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "deny",
		"Content-Type":           "application/json;charset=utf-8",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(resp.Header.Get("X-Jenkins-Session")) {
		t.Errorf("X-Jenkins-Session %q: want 8 hex", resp.Header.Get("X-Jenkins-Session"))
	}
	if resp.Header.Get("X-Hudson") != "" {
		t.Errorf("API responses carry no X-Hudson, got %q", resp.Header.Get("X-Hudson"))
	}
	wantPrefix := `{"_class":"hudson.model.Hudson","assignedLabels":[{"name":"built-in"}],"mode":"NORMAL","nodeDescription":"the Jenkins controller's built-in node","nodeName":"","numExecutors":2,"description":null,"jobs":[{"_class":"hudson.model.FreeStyleProject","name":"deploy","url":"` + b.c.URL() + `job/deploy/","color":"notbuilt"}`
	if !strings.HasPrefix(body, wantPrefix) {
		t.Errorf("root JSON:\n got %.400s\nwant prefix %s", body, wantPrefix)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	for _, k := range []string{"overallLoad", "primaryView", "quietDownReason", "quietingDown", "slaveAgentPort", "unlabeledLoad", "url", "useCrumbs", "useSecurity", "views"} {
		if _, ok := m[k]; !ok {
			t.Errorf("root JSON lacks %s", k)
		}
	}
	if m["url"] != b.c.URL() {
		t.Errorf("url: got %v, want %s", m["url"], b.c.URL())
	}
	// The root page is HTML with X-Hudson.
	resp, _ = b.status("GET", "/", "", 200)
	if resp.Header.Get("X-Hudson") == "" || resp.Header.Get("X-Jenkins") == "" {
		t.Errorf("GET / headers: %v", resp.Header)
	}
}

func TestForwardedHeadersShapeURLs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.status("GET", "/api/json?tree=url,jobs[url]", "", 200,
		header("X-Forwarded-Proto", "https"), header("X-Forwarded-Host", "ci.example.com"), header("X-Forwarded-Port", "443"))
	want := `{"_class":"hudson.model.Hudson","jobs":[{"_class":"hudson.model.FreeStyleProject","url":"https://ci.example.com/job/deploy/"},{"_class":"hudson.model.FreeStyleProject","url":"https://ci.example.com/job/hello/"},{"_class":"com.cloudbees.hudson.plugins.folder.Folder","url":"https://ci.example.com/job/team-a/"}],"url":"https://ci.example.com/"}`
	if body != want {
		t.Errorf("got  %s\nwant %s", body, want)
	}
}

func TestUnprotectedEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, _ := b.status("GET", "/login", "", 200, anon)
	if resp.Header.Get("X-Jenkins") == "" || resp.Header.Get("X-Hudson") == "" {
		t.Errorf("/login must advertise X-Jenkins and X-Hudson: %v", resp.Header)
	}
	if ck := resp.Cookies(); len(ck) != 1 || !regexp.MustCompile(`^JSESSIONID\.[0-9a-f]{8}$`).MatchString(ck[0].Name) {
		t.Errorf("/login cookie: got %v, want one JSESSIONID.<8hex>", ck)
	}
	// HealthCheckAction.doIndex: /health itself is redirected (see
	// TestStaplerDispatch).
	_, body := b.status("GET", "/health/", "", 200, anon)
	if body != `{"status":true}` {
		t.Errorf("/health/: got %s", body)
	}
	_, body = b.status("GET", "/whoAmI/api/json", "", 200, anon)
	if body != `{"_class":"hudson.security.WhoAmI","anonymous":true,"authenticated":true,"authorities":["anonymous"],"name":"anonymous"}` {
		t.Errorf("anonymous whoAmI: got %s", body)
	}
	_, body = b.status("GET", "/whoAmI/api/json", "", 200)
	if !strings.Contains(body, `"anonymous":false`) || !strings.Contains(body, `"name":"admin"`) {
		t.Errorf("whoAmI: got %s", body)
	}
	b.status("GET", "/me/api/json", "", 403, anon)
	me := b.json("/me/api/json?depth=0")
	if me["id"] != "admin" || me["_class"] != "hudson.model.User" {
		t.Errorf("me: got %v", me)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, _ := b.status("GET", "/api/json", "", 401, func(r *http.Request) { r.SetBasicAuth("admin", "wrong") })
	if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="Jenkins"` {
		t.Errorf("WWW-Authenticate: got %q", got)
	}
	b.status("GET", "/login", "", 401, func(r *http.Request) { r.SetBasicAuth("nobody", "11tok") })
	resp, body := b.status("GET", "/job/hello/api/json", "", 403, anon)
	if !strings.Contains(body, "Authentication required") || !strings.Contains(body, "/login?from=") {
		t.Errorf("anonymous 403 page: %s", body)
	}
	if resp.Header.Get("X-Jenkins-Session") == "" {
		t.Errorf("403 entry point must advertise X-Jenkins-Session")
	}
	_, body = b.status("GET", "/api/json", "", 403, anon, header("X-Requested-With", "XMLHttpRequest"))
	if body != "" {
		t.Errorf("XHR 403 body: got %q, want empty", body)
	}
	b.status("GET", "/api/json", "", 200, withPassword)
}

func TestCrumbs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Token requests need no crumb.
	b.status("POST", "/job/hello/build?delay=0sec", "", 201)
	// Password requests do.
	_, body := b.status("POST", "/job/hello/build", "", 403, withPassword)
	if !strings.Contains(body, "No valid crumb was included in the request") {
		t.Errorf("crumb failure page: %s", body)
	}
	resp, body := b.status("GET", "/crumbIssuer/api/json", "", 200, withPassword)
	var crumb struct {
		Class string `json:"_class"`
		Crumb string `json:"crumb"`
		Field string `json:"crumbRequestField"`
	}
	if err := json.Unmarshal([]byte(body), &crumb); err != nil {
		t.Fatal(err)
	}
	if crumb.Class != "hudson.security.csrf.DefaultCrumbIssuer" || crumb.Field != "Jenkins-Crumb" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(crumb.Crumb) {
		t.Fatalf("crumb: %+v", crumb)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("crumb issuer cookies: %v", cookies)
	}
	// Crumb + its session: accepted. Crumb without the session: refused.
	b.status("POST", "/job/hello/build?delay=0sec", "", 201, withPassword, header("Jenkins-Crumb", crumb.Crumb), withCookie(cookies[0]))
	b.status("POST", "/job/hello/build?delay=0sec", "", 403, withPassword, header("Jenkins-Crumb", crumb.Crumb))
	// A session that already holds the user turns a token request into a
	// session request: its POSTs need the crumb (BasicHeaderProcessor).
	b.status("POST", "/job/hello/build?delay=0sec", "", 403, withCookie(cookies[0]))
	b.status("POST", "/job/hello/build?delay=0sec", "", 201, withCookie(cookies[0]), header("Jenkins-Crumb", crumb.Crumb))
	// A crumb is bound to the controller that issued it.
	other := setup(t)
	other.status("POST", "/job/hello/build", "", 403, withPassword, header("Jenkins-Crumb", crumb.Crumb), withCookie(cookies[0]))
}

func TestLoginForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, _ := b.status("POST", "/j_spring_security_check", "j_username=admin&j_password=pw&from=%2Fjob%2Fhello%2F", 302, anon, header("Content-Type", "application/x-www-form-urlencoded"))
	if loc := resp.Header.Get("Location"); loc != b.c.URL()+"job/hello/" {
		t.Errorf("login redirect: got %q", loc)
	}
	ck := resp.Cookies()
	if len(ck) != 1 {
		t.Fatalf("login cookie: %v", ck)
	}
	b.status("GET", "/api/json", "", 200, anon, withCookie(ck[0]))
	resp, _ = b.status("POST", "/j_spring_security_check", "j_username=admin&j_password=bad", 302, anon, header("Content-Type", "application/x-www-form-urlencoded"))
	if !strings.HasSuffix(resp.Header.Get("Location"), "/loginError") {
		t.Errorf("bad login: Location %q", resp.Header.Get("Location"))
	}
}

func TestTreeAndDepthErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.status("GET", "/api/json?tree=jobs[name", "", 500)
	if !strings.Contains(body, "Malformed tree expression") {
		t.Errorf("malformed tree body: %.200s", body)
	}
	_, body = b.status("GET", "/api/json?depth=x", "", 500)
	if !strings.Contains(body, "Depth parameter must be a number") {
		t.Errorf("bad depth body: %.200s", body)
	}
	b.status("GET", "/api/json?jsonp=cb", "", 403)
	_, body = b.status("GET", "/api/json?tree=nope,quietingDown", "", 200)
	if body != `{"_class":"hudson.model.Hudson","quietingDown":false}` {
		t.Errorf("unknown tree names must be omitted: %s", body)
	}
	// Raw brackets, as python-jenkins sends them.
	_, body = b.status("GET", "/api/json?tree=jobs[name,jobs[name]]", "", 200)
	if !strings.Contains(body, `"jobs":[{"_class":"org.jenkinsci.plugins.workflow.job.WorkflowJob","name":"pipeline"}]`) {
		t.Errorf("nested folder tree: %s", body)
	}
	resp, body := b.status("HEAD", "/job/hello/api/json", "", 200)
	if body != "" || resp.Header.Get("Content-Type") != "application/json;charset=utf-8" {
		t.Errorf("HEAD: body %q headers %v", body, resp.Header)
	}
	b.status("HEAD", "/job/nope/api/json", "", 404)
}
