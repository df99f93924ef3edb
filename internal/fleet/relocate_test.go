package fleet

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRelocateMapsABuildsRedirects: a controller's redirect under a build
// it numbers 7 (Stapler's directory redirect of artifact, testReport…),
// proxied for the front door's build 2, must lead to build 2; other
// redirects and other answers are left alone.
func TestRelocateMapsABuildsRedirects(t *testing.T) {
	for _, c := range []struct {
		code     int
		location string
		want     string
	}{
		{302, "http://front.example/job/hello/7/artifact/", "http://front.example/job/hello/2/artifact/"},
		{302, "/job/hello/7/testReport/?x=1", "/job/hello/2/testReport/?x=1"},
		{301, "/job/hello/7/", "/job/hello/2/"},
		{302, "/job/hello/71/artifact/", "/job/hello/71/artifact/"}, // another build
		{302, "/job/hello%20world/7/", "/job/hello%20world/7/"},     // another job
		{302, "/login?from=%2Fjob%2Fhello%2F7%2F", "/login?from=%2Fjob%2Fhello%2F7%2F"},
		{200, "/job/hello/7/", "/job/hello/7/"},
	} {
		rec := httptest.NewRecorder()
		w := &relocate{ResponseWriter: rec, from: "/job/hello/7/", to: "/job/hello/2/"}
		w.Header().Set("Location", c.location)
		w.WriteHeader(c.code)
		if got := rec.Header().Get("Location"); got != c.want || rec.Code != c.code {
			t.Errorf("%d %s: got %d %s, want %d %s", c.code, c.location, rec.Code, got, c.code, c.want)
		}
	}
	// Names that need escaping are compared escaped.
	rec := httptest.NewRecorder()
	w := &relocate{ResponseWriter: rec, from: "/job/hello%20world/7/", to: "/job/hello%20world/2/"}
	w.Header().Set("Location", "/job/hello%20world/7/artifact/a%20b.txt")
	w.WriteHeader(http.StatusFound)
	if got, want := rec.Header().Get("Location"), "/job/hello%20world/2/artifact/a%20b.txt"; got != want {
		t.Errorf("escaped name: got %s, want %s", got, want)
	}
}
