package health

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// BenchmarkRound measures one health round (CheckNow over every
// controller) against 1,000 simulated controllers in this process. The
// figure to watch is ns/op (one whole round) and the heap after a round.
func BenchmarkRound(b *testing.B) {
	const n = 1000
	ctrls, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: n, Template: jenkinssim.Config{
		Token: "11tok", Agents: 1, Jobs: []jenkinssim.JobSpec{},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, c := range ctrls {
			_ = c.Close()
		}
	}()
	var synced []controller.Synced
	for i, c := range ctrls {
		synced = append(synced, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: c.Name(), URL: strings.TrimSuffix(c.URL(), "/"), Username: "admin",
			ClusterID: "default", MaxConnections: 100, IsActive: true,
		}, Token: "11tok"})
	}
	pool := controller.NewPool()
	pool.Sync(synced)
	mon := New(Options{Config: Config{Timeout: 5 * time.Second}, Pool: pool, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := mon.CheckNow(ctx, "")
		for _, r := range res {
			if r.Status != balance.Healthy {
				b.Fatalf("%s: %s %s", r.Name, r.Status, r.Err)
			}
		}
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
}
