package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/secret"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestRegistryChangeReachesOtherReplica: two replicas on one PostgreSQL
// database. What is registered, changed, drained or removed through one
// replica's store reaches the other's pool by the change's notification:
// nobody calls SyncNow, and the periodic sync is an hour away.
func TestRegistryChangeReachesOtherReplica(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := dbtest.Engines(t)[1].URL(t)
	open := func(url string) *db.DB {
		t.Helper()
		d, err := db.Open(ctx, url)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	dA, dB := open(base), open(base)
	if err := dA.Migrate(ctx, controller.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	sealer, err := secret.NewSealer(secret.GenerateKey())
	if err != nil {
		t.Fatalf("new sealer: %v", err)
	}
	storeA := controller.NewStore(dA, sealer, time.Now)
	seed, err := storeA.Create(ctx, controller.CreateInput{Name: "seed", URL: "https://seed.example.com"})
	if err != nil {
		t.Fatalf("create seed: %v", err)
	}

	poolB := controller.NewPool()
	syncB := &syncer{store: controller.NewStore(dB, sealer, time.Now), pool: poolB, log: slog.New(slog.DiscardHandler),
		listen: func(ctx context.Context) (<-chan string, error) { return dB.Listen(ctx, controller.RegistryChannel) }}
	done := make(chan error, 1)
	go func() { done <- syncB.Run(ctx, time.Hour) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// B syncs once it listens: from then on, only notifications move it.
	testkit.Eventually(t, 10*time.Second, func() bool { return poolB.Get(seed.ID) != nil }, testkit.Sayf("replica B's first sync"))

	in := controller.CreateInput{Name: "ci-1", URL: "https://ci-1.example.com", APIToken: "tok-1"}
	inst, err := storeA.Create(ctx, in)
	if err != nil {
		t.Fatalf("create through A: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		r := poolB.Get(inst.ID)
		return r != nil && r.Token() == "tok-1"
	}, testkit.Sayf("ci-1 in B's pool, with its token"))
	desc := "moved"
	if _, err := storeA.Update(ctx, inst.ID, controller.Patch{Description: &desc}); err != nil {
		t.Fatalf("update through A: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return poolB.Get(inst.ID).Instance().Description == desc }, testkit.Sayf("ci-1's update in B's pool"))
	if err := storeA.SetDraining(ctx, inst.ID, true); err != nil {
		t.Fatalf("drain through A: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return poolB.Get(inst.ID).Draining() }, testkit.Sayf("ci-1 draining in B's pool"))
	if err := storeA.Delete(ctx, inst.ID); err != nil {
		t.Fatalf("delete through A: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return poolB.Get(inst.ID) == nil }, testkit.Sayf("ci-1 gone from B's pool"))
}
