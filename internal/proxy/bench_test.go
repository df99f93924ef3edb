package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/health"
)

// BenchmarkProxyGET measures the front door's own cost per request: three
// trivial backends, keep-alive, the request served in-process.
func BenchmarkProxyGET(b *testing.B) {
	body := []byte(`{"_class":"hudson.model.Hudson","quietingDown":false}`)
	pool := controller.NewPool()
	var synced []controller.Synced
	for i := 1; i <= 3; i++ {
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}))
		b.Cleanup(be.Close)
		synced = append(synced, controller.Synced{Instance: controller.Instance{
			ID: int64(i), Name: "b" + strconv.Itoa(i), URL: be.URL, ClusterID: "default", MaxConnections: 1 << 20, IsActive: true,
		}, Token: "t"})
	}
	pool.Sync(synced)
	for _, r := range pool.All() {
		r.SetHealth(balance.Healthy, time.Now())
	}
	p := New(Config{}, pool, health.New(health.Options{Pool: pool}), slog.New(slog.DiscardHandler), nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "http://front.example/api/json", nil)
			req.SetBasicAuth("admin", "t")
			w := httptest.NewRecorder()
			p.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Errorf("status %d", w.Code)
				return
			}
			_, _ = io.Copy(io.Discard, w.Body)
		}
	})
}
