package testkit

import (
	"net/http"
	"strings"
	"testing"
)

// Answer is what an HTTP answer must hold, for table tests of handlers:
// a status, exact header values ("" for a header that must be absent),
// and strings its body must or must not contain.
type Answer struct {
	Status  int
	Headers map[string]string
	Body    []string
	NotBody []string
}

// Check reports as errors of t, each starting with what, every way res and
// its body differ from a. Once the status differs it checks nothing more
// and returns false.
func (a Answer) Check(t testing.TB, what string, res *http.Response, body string) bool {
	t.Helper()
	if res.StatusCode != a.Status {
		t.Errorf("%s: status %d, want %d; body %.200q", what, res.StatusCode, a.Status, body)
		return false
	}
	for k, want := range a.Headers {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
	for _, s := range a.Body {
		if !strings.Contains(body, s) {
			t.Errorf("%s: body %.300q lacks %q", what, body, s)
		}
	}
	for _, s := range a.NotBody {
		if strings.Contains(body, s) {
			t.Errorf("%s: body %.300q holds %q", what, body, s)
		}
	}
	return true
}
