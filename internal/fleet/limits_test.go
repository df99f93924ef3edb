package fleet_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

// Bad trigger input is refused before anything is queued: a form larger
// than the front door takes is 413 (not a build with the job's defaults),
// a delay beyond 30 days is 400 (not one that wraps around and starts at
// once).
func TestTriggerInputThatWouldDoHarmIsRefused(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{Controllers: 1})
	post := func(path, contentType string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.Front+path, body)
		req.SetBasicAuth(servertest.User, servertest.Token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res, string(data)
	}
	big := "SIM_RESULT=FAILURE&VERSION=" + strings.Repeat("x", 11<<20)
	res, body := post("/job/deploy/buildWithParameters", "application/x-www-form-urlencoded", strings.NewReader(big))
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "nothing was queued") {
		t.Errorf("an 11 MB form: HTTP %d: %.200s; want 413", res.StatusCode, body)
	}
	for _, d := range []string{"99999999999sec", "2592001sec", "9223372036854775807"} {
		res, body := post("/job/deploy/buildWithParameters?delay="+d, "", nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Invalid time duration value") {
			t.Errorf("delay=%s: HTTP %d: %.200s; want 400", d, res.StatusCode, body)
		}
	}
	counts, err := s.Jenkinds().Dispatch.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for state, n := range counts {
		if n != 0 {
			t.Errorf("%d builds %s after refused triggers, want none", n, state)
		}
	}
	// A delay of 30 days is taken.
	if res, body := post("/job/deploy/buildWithParameters?delay=2592000sec", "", nil); res.StatusCode != http.StatusCreated {
		t.Errorf("delay=2592000sec (30 days): HTTP %d: %.200s; want 201", res.StatusCode, body)
	}
}
