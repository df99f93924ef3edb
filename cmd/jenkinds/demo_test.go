package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The newcomer's command: three simulated controllers registered as
// cluster production, healthy, with the primary on priority 10.
func TestDemo(t *testing.T) {
	t.Parallel()
	var out, errOut lockedBuffer
	env := &environment{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--sim-base-port", "0"}, env)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo did not start: %s %s", out.String(), errOut.String())
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d: %s %s", code, out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	m := regexp.MustCompile(`export JENKINDS_ADDR=(\S+) JENKINDS_TOKEN=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no connection details in:\n%s", out.String())
	}
	req, _ := http.NewRequest("GET", m[1]+"/api/v1/clusters", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var clusters []struct {
		ClusterID        string `json:"clusterId"`
		TotalInstances   int    `json:"totalInstances"`
		HealthyInstances int    `json:"healthyInstances"`
		Instances        []struct {
			Priority  int  `json:"priority"`
			IsPrimary bool `json:"isPrimary"`
		} `json:"instances"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&clusters)
	resp.Body.Close()
	if len(clusters) != 1 || clusters[0].ClusterID != "production" || clusters[0].TotalInstances != 3 || clusters[0].HealthyInstances != 3 {
		t.Errorf("clusters: %+v", clusters)
	} else if in := clusters[0].Instances; !in[0].IsPrimary || in[0].Priority != 10 || in[1].Priority != 5 || in[2].Priority != 5 {
		t.Errorf("priorities: %+v", in)
	}
	// The front door takes builds for the cluster production.
	f := regexp.MustCompile(`Front door\s+(\S+)/\s.*user (\S+), API token (\S+)\)`).FindStringSubmatch(out.String())
	if f == nil {
		t.Fatalf("no front door in:\n%s", out.String())
	}
	req, _ = http.NewRequest("POST", f[1]+"/job/hello/build", nil)
	req.SetBasicAuth(f[2], f[3])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Location"), f[1]+"/queue/item/") {
		t.Errorf("trigger on the front door: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exit code %d: %s", code, errOut.String())
	}
}
