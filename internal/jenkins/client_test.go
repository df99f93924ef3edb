package jenkins_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func sim(t *testing.T) *jenkinssim.Controller {
	t.Helper()
	c, err := jenkinssim.New(jenkinssim.Config{Token: "11tok", QuietPeriod: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	s := sim(t)
	c, err := jenkins.New(s.URL(), "admin", "11tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _, err = c.Do(ctx, http.MethodPost, "job/hello/buildWithParameters", nil, "")
	var se *jenkins.StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Message != "hello is not parameterized" {
		t.Errorf("400 with X-Error: %v", err)
	}
	if jenkins.IsUnavailable(err) {
		t.Errorf("a 400 does not mean the controller is down")
	}
	_, _, err = c.Do(ctx, http.MethodGet, "job/nope/api/json", nil, "")
	if !jenkins.IsNotFound(err) {
		t.Errorf("404: %v", err)
	}
	s.FailWith(503, "")
	_, _, err = c.Do(ctx, http.MethodGet, "api/json", nil, "")
	if !jenkins.IsUnavailable(err) {
		t.Errorf("503 is unavailable: %v", err)
	}
	s.ClearFaults()
	dead, _ := jenkins.New("http://"+deadAddr(t), "admin", "x", nil)
	_, err = dead.Probe(ctx, "")
	if !jenkins.IsUnavailable(err) {
		t.Errorf("connection refused is unavailable: %v", err)
	}
	bad, _ := jenkins.New(s.URL(), "admin", "wrong", nil)
	if _, err := bad.Probe(ctx, ""); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("bad token: %v", err)
	}
	if _, err := jenkins.New("ftp://x", "", "", nil); err == nil {
		t.Errorf("ftp URL accepted")
	}
}

func TestProbeAndJobStats(t *testing.T) {
	t.Parallel()
	s := sim(t)
	c, _ := jenkins.New(s.URL(), "admin", "11tok", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Probe(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != jenkinssim.DefaultVersion || st.Session != s.Session() || st.TotalExecutors != 2 || st.HealthCheckCode != 200 {
		t.Errorf("status: %+v", st)
	}
	total, active, err := c.JobStats(ctx)
	if err != nil || total != 3 || active != 0 {
		t.Errorf("job stats: %d %d %v", total, active, err)
	}
}

func TestJobPath(t *testing.T) {
	for in, want := range map[string]string{"a": "job/a/", "a/b c": "job/a/job/b%20c/", "/x/": "job/x/"} {
		if got := jenkins.JobPath(in); got != want {
			t.Errorf("jenkins.JobPath(%q) = %q, want %q", in, got, want)
		}
	}
}
