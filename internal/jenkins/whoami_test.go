package jenkins_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func TestMeAndCanRead(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Password: "pw", Jobs: catalogue})
	caller, wrong, anonymous := f.client.As(basic("admin", "pw")), f.client.As(basic("admin", "nope")), f.client.As("")

	if user, _, err := f.client.Me(f.ctx); err != nil || user != "admin" {
		t.Errorf("me with the API token: %q %v", user, err)
	}
	var se *jenkins.StatusError
	_, _, err := wrong.Me(f.ctx)
	if !errors.As(err, &se) || se.Code != 401 || se.Header.Get("WWW-Authenticate") != `Basic realm="Jenkins"` || !jenkins.CredentialsRejected(err) {
		t.Errorf("me with wrong credentials: %v", err)
	}
	_, _, err = anonymous.Me(f.ctx)
	if !errors.As(err, &se) || se.Code != 403 || !strings.Contains(string(se.Body), "Authentication required") {
		t.Errorf("me without credentials: %v", err)
	}

	for _, tc := range []struct {
		client *jenkins.Client
		job    string
		ok     bool
		code   int // of the error; 0 for none
	}{
		{caller, "fast", true, 0},
		{caller, "team/deep/p", true, 0},
		{caller, "nope", false, 0},
		{wrong, "fast", false, 401},
		{anonymous, "fast", false, 403},
	} {
		ok, r, err := tc.client.CanRead(f.ctx, tc.job)
		code := 0
		if errors.As(err, &se) {
			code = se.Code
		}
		if ok != tc.ok || code != tc.code || (err != nil) != (tc.code != 0) || r == nil {
			t.Errorf("CanRead(%q): %v, %v (code %d), want %v, code %d", tc.job, ok, err, code, tc.ok, tc.code)
		}
	}
}
