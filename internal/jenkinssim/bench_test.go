package jenkinssim

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchController is a controller whose handler is called in-process, so
// the benchmark measures the simulator's CPU per request, not the network.
func benchController(b *testing.B) *Controller {
	b.Helper()
	c, err := New(Config{Token: "11tok", QuietPeriod: 0, Agents: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func benchServe(b *testing.B, c *Controller, method, target string, want int) {
	b.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.SetBasicAuth("admin", "11tok")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			c.ServeHTTP(w, req)
			if w.Code != want {
				b.Errorf("%s %s: status %d, want %d", method, target, w.Code, want)
				return
			}
		}
	})
}

func BenchmarkRootJSON(b *testing.B) {
	benchServe(b, benchController(b), "GET", "/api/json", http.StatusOK)
}

func BenchmarkJobJSONTree(b *testing.B) {
	benchServe(b, benchController(b), "GET", "/job/deploy/api/json?tree=builds[number,building,result]", http.StatusOK)
}

func BenchmarkComputerJSON(b *testing.B) {
	benchServe(b, benchController(b), "GET", "/computer/api/json?tree=busyExecutors,totalExecutors,computer[offline]", http.StatusOK)
}

// BenchmarkTrigger queues builds (distinct parameters, a long delay so the
// queue grows like a busy controller's) and measures the trigger path.
func BenchmarkTrigger(b *testing.B) {
	c := benchController(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest("POST", "/job/deploy/buildWithParameters?delay=3600sec&VERSION="+itoa(i), nil)
		req.SetBasicAuth("admin", "11tok")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("trigger: %d", w.Code)
		}
		if i%1000 == 0 { // keep the queue at a realistic size
			c.mu.Lock()
			for _, q := range append([]*queueItem(nil), c.queue...) {
				c.cancelLocked(q)
			}
			c.left = map[int64]*queueItem{}
			c.mu.Unlock()
		}
	}
}
