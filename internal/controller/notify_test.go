package controller_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// TestRegistryNotifications: on PostgreSQL every change the store makes
// (create, update, draining, delete) is announced on RegistryChannel with
// the instance's id; a change that fails announces nothing. Notifications
// are per database, and tests on other schemas announce their changes
// too: this test's ids start at a random billion, and it skips the ids of
// others.
func TestRegistryNotifications(t *testing.T) {
	t.Parallel()
	f := setup(t, dbtest.Engines(t)[1])
	first := 1_000_000_000 + rand.Int64N(1_000_000_000)
	if _, err := f.db.ExecContext(f.ctx, fmt.Sprintf(`ALTER TABLE controllers ALTER COLUMN id RESTART WITH %d`, first)); err != nil {
		t.Fatalf("start ids at %d: %v", first, err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	notes, err := f.db.Listen(ctx, controller.RegistryChannel)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	want := func(what string, id int64) {
		t.Helper()
		payload := fmt.Sprint(id)
		if id == 0 {
			payload = ""
		}
		for {
			select {
			case got := <-notes:
				if n, err := strconv.ParseInt(got, 10, 64); err == nil && n < first {
					continue // another test's
				}
				if got != payload {
					t.Fatalf("after %s: notification %q, want %q", what, got, payload)
				}
				return
			case <-time.After(30 * time.Second):
				t.Fatalf("after %s: no notification after 30s", what)
			}
		}
	}
	want("Listen", 0)

	a := f.create(t, input("a"))
	want("create a", a.ID)
	b := f.create(t, input("b"))
	want("create b", b.ID)
	if _, err := f.store.Create(f.ctx, input("a")); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("create a twice: got %v, want ErrConflict", err)
	}
	if _, err := f.store.Update(f.ctx, b.ID, controller.Patch{Name: ptr("a")}); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("rename b to a: got %v, want ErrConflict", err)
	}
	if err := f.store.SetDraining(f.ctx, 999, true); !errors.Is(err, controller.ErrNotFound) {
		t.Fatalf("drain a missing instance: got %v, want ErrNotFound", err)
	}
	if _, err := f.store.Update(f.ctx, b.ID, controller.Patch{Description: ptr("changed")}); err != nil {
		t.Fatalf("Update b: %v", err)
	}
	want("update b (the failed changes announced nothing)", b.ID)
	if err := f.store.SetDraining(f.ctx, a.ID, true); err != nil {
		t.Fatalf("SetDraining a: %v", err)
	}
	want("drain a", a.ID)
	if err := f.store.Delete(f.ctx, b.ID); err != nil {
		t.Fatalf("Delete b: %v", err)
	}
	want("delete b", b.ID)
}
