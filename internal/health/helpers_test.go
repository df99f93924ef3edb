package health

import (
	"net/http"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

var httpClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func httpRequest(method, url string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err == nil {
		req.SetBasicAuth("admin", "11tok")
	}
	return req, err
}

func post(t *testing.T, sim *jenkinssim.Controller, path string) {
	t.Helper()
	req, _ := httpRequest("POST", sim.URL()+path)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		<-tick.C
	}
}
