package jenkins_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"ftp://x", "x", "http://", ""} {
		if _, err := jenkins.New(bad, "", "", nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	c, err := jenkins.New("http://h:8080/jenkins", "u", "t", nil)
	if err != nil || c.BaseURL() != "http://h:8080/jenkins/" {
		t.Errorf("base URL: %v %v", c, err)
	}
}

func TestDoStatusError(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{})
	r, body, err := f.client.Do(f.ctx, http.MethodPost, "job/hello/buildWithParameters", nil, "")
	var se *jenkins.StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Message != "hello is not parameterized" {
		t.Fatalf("400 with X-Error: %v", err)
	}
	if r == nil || r.Code != 400 || r.Session != f.sim.Session() || r.Version != jenkinssim.DefaultVersion {
		t.Errorf("the answer's headers come with the error: %+v", r)
	}
	if se.Header.Get("X-Error") != se.Message || len(se.Body) == 0 || string(se.Body) != string(body) {
		t.Errorf("the error carries the answer to pass on: %v %q", se.Header, se.Body)
	}
	if _, _, err := f.client.Do(f.ctx, http.MethodGet, "job/nope/api/json", nil, ""); !jenkins.IsNotFound(err) {
		t.Errorf("404: %v", err)
	}
}

// A 302 is Jenkins' answer, not a hop to follow.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c, _ := jenkins.New(srv.URL, "u", "t", &http.Client{}) // a client that would follow
	r, _, err := c.Do(context.Background(), http.MethodPost, "job/x/doDelete", nil, "")
	if err != nil || r.Code != http.StatusFound || r.Location != "/elsewhere" || followed.Load() != 0 {
		t.Errorf("302: %+v %v, followed %d times", r, err, followed.Load())
	}
}

func TestAs(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Password: "pw"})
	auth := func(user, pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	if user, _, err := f.client.As(auth("admin", "pw")).Me(f.ctx); err != nil || user != "admin" {
		t.Errorf("a caller's own credentials: %q %v", user, err)
	}
	_, _, err := f.client.As(auth("admin", "wrong")).Me(f.ctx)
	if !jenkins.CredentialsRejected(err) {
		t.Errorf("a caller's wrong credentials: %v", err)
	}
	if _, _, err := f.client.Me(f.ctx); err != nil {
		t.Errorf("As returns a copy; the client keeps its token: %v", err)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{})
	resp, err := f.client.Stream(f.ctx, http.MethodGet, "job/nope/api/json", nil, "")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("a 404 streams as an answer, not an error: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Not Found") {
		t.Errorf("body: %q", body)
	}
}

func TestJobPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"a": "job/a/", "a/b c": "job/a/job/b%20c/", "/x/": "job/x/"} {
		if got := jenkins.JobPath(in); got != want {
			t.Errorf("jenkins.JobPath(%q) = %q, want %q", in, got, want)
		}
	}
}
