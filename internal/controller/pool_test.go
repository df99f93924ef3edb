package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func synced(id int64, cluster string, prio int, primary bool) Synced {
	return Synced{Instance: Instance{ID: id, Name: "c" + string(rune('0'+id)), ClusterID: cluster, Priority: prio, IsPrimary: primary, MaxConnections: 10, IsActive: true, HealthStatus: balance.Healthy}, Token: "t"}
}

func TestPoolSyncKeepsLiveState(t *testing.T) {
	t.Parallel()
	p := NewPool()
	p.Sync([]Synced{synced(1, "a", 0, false), synced(2, "a", 0, false), synced(3, "b", 0, false)})
	p.Get(1).SetLoad(7)
	p.Get(1).SetHealth(balance.Degraded, time.Unix(100, 0))
	p.Get(1).Checked(time.Unix(100, 0))
	changed := synced(1, "a", 50, false)
	removed := p.Sync([]Synced{changed, synced(3, "b", 0, false)})
	if len(removed) != 1 || removed[0].ID() != 2 {
		t.Errorf("removed: %v", removed)
	}
	r := p.Get(1)
	if r.Load() != 7 || r.Health() != balance.Degraded || r.Instance().Priority != 50 || !r.LastChecked().Equal(time.Unix(100, 0)) {
		t.Errorf("live state lost or config not updated: load %d health %s prio %d", r.Load(), r.Health(), r.Instance().Priority)
	}
	if got := p.Clusters(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("clusters: %v", got)
	}
	if p.Get(2) != nil {
		t.Errorf("removed runtime still present")
	}
}

func TestPoolPickAndFailover(t *testing.T) {
	t.Parallel()
	p := NewPool()
	p.Sync([]Synced{synced(1, "a", 10, true), synced(2, "a", 5, false), synced(3, "a", 5, false)})
	r, err := p.Pick("a", balance.StrategyPrimaryBackup)
	if err != nil || r.ID() != 1 {
		t.Fatalf("primary-backup: %v %v", r, err)
	}
	p.Get(1).SetHealth(balance.Unhealthy, time.Now())
	if r, _ := p.Pick("a", balance.StrategyPrimaryBackup); r.ID() == 1 {
		t.Errorf("unhealthy primary picked")
	}
	// In-flight requests count as load: least-load avoids the busy one.
	p.Get(1).SetHealth(balance.Healthy, time.Now())
	release := p.Get(2).Acquire()
	p.Get(1).SetLoad(1)
	if r, _ := p.Pick("a", ""); r.ID() != 3 {
		t.Errorf("least-load with in-flight: got %d, want 3", r.ID())
	}
	release()
	if p.Get(2).InFlight() != 0 {
		t.Errorf("release did not release")
	}
	p.Get(3).SetDraining(true)
	if r, _ := p.Failover("a", 2); r.ID() != 1 {
		t.Errorf("failover from 2 with 3 draining: got %d", r.ID())
	}
	if _, err := p.Pick("nope", ""); !errors.Is(err, balance.ErrNoneEligible) {
		t.Errorf("empty cluster: %v", err)
	}
	if _, err := p.Pick("a", "random"); !errors.Is(err, balance.ErrUnknownStrategy) {
		t.Errorf("unknown strategy: %v", err)
	}
	p.Get(1).SetDraining(true)
	p.Get(2).SetHealth(balance.Unhealthy, time.Now())
	if _, err := p.Failover("a", 3); !errors.Is(err, balance.ErrNoneEligible) {
		t.Errorf("failover with nothing left: %v", err)
	}
}

func BenchmarkPoolPick(b *testing.B) {
	p := NewPool()
	var all []Synced
	for i := int64(1); i <= 1000; i++ {
		all = append(all, synced(i, "a", int(i%10), false))
	}
	p.Sync(all)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Pick("a", ""); err != nil {
			b.Fatal(err)
		}
	}
}
