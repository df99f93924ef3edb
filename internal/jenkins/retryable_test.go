package jenkins_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// failing serves the failure shapes of a controller by path: /status/N
// answers N, /hang holds the request until the client gives up, /reset
// resets the connection after reading the request, /eof closes it.
func failing(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/status/"):
			var code int
			fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/status/"), &code)
			w.WriteHeader(code)
		case r.URL.Path == "/hang":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case r.URL.Path == "/reset", r.URL.Path == "/eof":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			if r.URL.Path == "/reset" {
				conn.(*net.TCPConn).SetLinger(0) // close sends RST
			}
			conn.Close()
		case r.URL.Path == "/created": // a 2xx without Location
			w.WriteHeader(http.StatusCreated)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before Close, which waits for handlers
	return srv
}

func TestClassify(t *testing.T) {
	t.Parallel()
	srv := failing(t)
	c, _ := jenkins.New(srv.URL, "u", "t", nil)
	call := func(path string) error {
		_, _, err := c.Do(context.Background(), http.MethodPost, path, strings.NewReader("x"), "text/plain")
		return err
	}
	impatient, _ := jenkins.New(srv.URL, "u", "t", &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 20 * time.Millisecond}})
	headerTimeout := func() error {
		_, _, err := impatient.Do(context.Background(), http.MethodPost, "hang", strings.NewReader("x"), "text/plain")
		return err
	}
	dead, _ := jenkins.New("http://"+testkit.DeadAddr(t), "u", "t", nil)
	refused := func() error {
		_, _, err := dead.Do(context.Background(), http.MethodPost, "build", nil, "")
		return err
	}
	deadline := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, _, err := c.Do(ctx, http.MethodGet, "hang", nil, "")
		return err
	}
	unclear := func() error { _, err := c.Trigger(context.Background(), "x", nil, false); return err }
	synthetic := func(err error) func() error { return func() error { return err } }
	dns := &url.Error{Op: "Get", URL: "http://nowhere.invalid/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}}}

	for _, tc := range []struct {
		name        string
		err         func() error
		class       jenkins.Class
		gone, creds bool
	}{
		{"no error", synthetic(nil), jenkins.Succeeded, false, false},
		{"dial refused", refused, jenkins.NothingSent, true, false},
		{"name does not resolve", synthetic(dns), jenkins.NothingSent, false, false},
		{"reset by peer after sending", func() error { return call("reset") }, jenkins.Ambiguous, true, false},
		{"EOF after sending", func() error { return call("eof") }, jenkins.Ambiguous, false, false},
		{"response header timeout", headerTimeout, jenkins.Ambiguous, false, false},
		{"context deadline", deadline, jenkins.Ambiguous, false, false},
		{"2xx without Location", unclear, jenkins.Ambiguous, false, false},
		{"unknown error", synthetic(errors.New("what")), jenkins.Ambiguous, false, false},
		{"408", func() error { return call("status/408") }, jenkins.Unavailable, false, false},
		{"429", func() error { return call("status/429") }, jenkins.Unavailable, false, false},
		{"502", func() error { return call("status/502") }, jenkins.Unavailable, false, false},
		{"503", func() error { return call("status/503") }, jenkins.Unavailable, false, false},
		{"504", func() error { return call("status/504") }, jenkins.Unavailable, false, false},
		{"400", func() error { return call("status/400") }, jenkins.Refused, false, false},
		{"401", func() error { return call("status/401") }, jenkins.Refused, false, true},
		{"403", func() error { return call("status/403") }, jenkins.Refused, false, true},
		{"404", func() error { return call("status/404") }, jenkins.Refused, false, false},
		{"409", func() error { return call("status/409") }, jenkins.Refused, false, false},
		{"422", func() error { return call("status/422") }, jenkins.Refused, false, false},
		{"500", func() error { return call("status/500") }, jenkins.Refused, false, false},
		{"501", func() error { return call("status/501") }, jenkins.Refused, false, false},
	} {
		err := tc.err()
		if got := jenkins.Classify(err); got != tc.class {
			t.Errorf("%s: Classify = %v, want %v (%v)", tc.name, got, tc.class, err)
		}
		if got := jenkins.ProcessGone(err); got != tc.gone {
			t.Errorf("%s: ProcessGone = %v, want %v (%v)", tc.name, got, tc.gone, err)
		}
		if got := jenkins.CredentialsRejected(err); got != tc.creds {
			t.Errorf("%s: CredentialsRejected = %v, want %v (%v)", tc.name, got, tc.creds, err)
		}
		if want := tc.class != jenkins.Refused && tc.class != jenkins.Succeeded || strings.HasPrefix(tc.name, "50"); jenkins.IsUnavailable(err) != want {
			t.Errorf("%s: IsUnavailable = %v, want %v", tc.name, !want, want)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	status := func(code int) error { return &jenkins.StatusError{Method: "GET", URL: "http://h/api/json", Code: code} }
	dial := func(errno error) error {
		return &url.Error{Op: "Get", URL: "http://h/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errno}}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status(401), "HTTP 401: the username or API token is wrong"},
		{status(403), "HTTP 403: the request was anonymous or the user lacks Overall/Read"},
		{status(503), "HTTP 503: Jenkins is starting or restarting"},
		{status(502), "HTTP 502: a proxy in front of Jenkins got no answer"},
		{status(429), "HTTP 429: Jenkins or a proxy in front of it asks to slow down"},
		{status(404), "GET http://h/api/json: HTTP 404"},
		{fmt.Errorf("probe: %w", context.DeadlineExceeded), "timed out after 5s with no answer"},
		{dial(&net.DNSError{Err: "no such host", Name: "x.invalid"}), `the host name "x.invalid" does not resolve`},
		{dial(syscall.ECONNREFUSED), "connection refused: nothing listens"},
		{errors.New("odd"), "odd"},
	} {
		if got := jenkins.Explain(tc.err, 5*time.Second); !strings.HasPrefix(got, tc.want) {
			t.Errorf("Explain(%v) = %q, want it to start with %q", tc.err, got, tc.want)
		}
	}
}
