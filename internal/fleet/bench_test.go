package fleet_test

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

// BenchmarkTrigger measures POST buildWithParameters on the front door,
// in process, with the placer and follower running: one op is one build
// accepted (201). bench/builds measures the same across processes.
func BenchmarkTrigger(b *testing.B) {
	jobs := []jenkinssim.JobSpec{{Name: "build", Concurrent: true, DurationMs: 0, Parameters: []jenkinssim.ParamSpec{{Name: "SEQ"}}}}
	s := servertest.Start(b, servertest.Options{Controllers: 3, Sim: jenkinssim.Config{Executors: 2000, Jobs: jobs}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", s.Front+"/job/build/buildWithParameters?SEQ="+strconv.FormatInt(seq.Add(1), 10), nil)
			req.SetBasicAuth(servertest.User, servertest.Token)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				b.Fatalf("HTTP %d", res.StatusCode)
			}
		}
	})
}

// BenchmarkConsolePoll measures GET logText/progressiveText of a finished
// build on the front door, in process: one op is one console poll
// answered (200), read from the controller that ran the build.
func BenchmarkConsolePoll(b *testing.B) {
	s := servertest.Start(b, servertest.Options{Controllers: 3, Sim: jenkinssim.Config{Executors: 4}})
	res, body := s.Jenkins("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=0&delay=0sec", nil, "")
	if res.StatusCode != http.StatusCreated {
		b.Fatalf("trigger: HTTP %d: %s", res.StatusCode, body)
	}
	path := s.Front + "/job/deploy/1/logText/progressiveText?start=0"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	poll := func() (int, string) {
		req, _ := http.NewRequest("GET", path, nil)
		req.SetBasicAuth(servertest.User, servertest.Token)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode, res.Header.Get("X-More-Data")
	}
	for code, more := poll(); code != http.StatusOK || more != ""; code, more = poll() {
		runtime.Gosched() // until the build ran and ended
	}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code, _ := poll(); code != http.StatusOK {
				b.Fatalf("HTTP %d", code)
			}
		}
	})
}
