package clientcompat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

const (
	// clientTimeout bounds one run of an external client.
	clientTimeout = 40 * time.Second
)

// startSim starts a simulator with no quiet period, 50 ms builds, two
// agents besides the built-in node and the default jobs (hello, deploy,
// team-a, team-a/pipeline); it is closed when the test ends.
func startSim(t *testing.T) *jenkinssim.Controller {
	t.Helper()
	c, err := jenkinssim.New(jenkinssim.Config{
		QuietPeriod:     0,
		BuildDuration:   jenkinssim.Duration{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond},
		RestartDuration: 200 * time.Millisecond,
		Agents:          2,
	})
	if err != nil {
		t.Fatalf("jenkinssim.New: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// simDo sends an API-token request (crumb-exempt, §2.2) for path,
// relative to the controller's root, without following redirects, and
// returns the response with its body read.
func simDo(t *testing.T, c *jenkinssim.Controller, method, path string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.URL()+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.User(), c.Token())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(body)
}

// simGet fetches path and returns the status and body.
func simGet(t *testing.T, c *jenkinssim.Controller, path string) (int, string) {
	t.Helper()
	resp, body := simDo(t, c, http.MethodGet, path)
	return resp.StatusCode, body
}

// simJSON fetches path and decodes its JSON into v, failing unless 200.
func simJSON(t *testing.T, c *jenkinssim.Controller, path string, v any) {
	t.Helper()
	status, body := simGet(t, c, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body: %.300s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: decode: %v; body: %.300s", path, err, body)
	}
}

// simPost sends an empty POST and returns the status and the Location.
func simPost(t *testing.T, c *jenkinssim.Controller, path string) (int, string) {
	t.Helper()
	resp, _ := simDo(t, c, http.MethodPost, path)
	return resp.StatusCode, resp.Header.Get("Location")
}

// jobParams lists "Class:NAME" for each parameter definition of a job, from
// GET /job/…/api/json (property[].parameterDefinitions, §6.1).
func jobParams(t *testing.T, c *jenkinssim.Controller, jobPath string) []string {
	t.Helper()
	var job struct {
		Property []struct {
			ParameterDefinitions []struct {
				Class string `json:"_class"`
				Name  string `json:"name"`
			} `json:"parameterDefinitions"`
		} `json:"property"`
	}
	simJSON(t, c, jobPath+"api/json", &job)
	var out []string
	for _, p := range job.Property {
		for _, d := range p.ParameterDefinitions {
			out = append(out, strings.TrimPrefix(d.Class, "hudson.model.")+":"+d.Name)
		}
	}
	return out
}
