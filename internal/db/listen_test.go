package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

func TestListenSQLite(t *testing.T) {
	t.Parallel()
	d := dbtest.Engines(t)[0].Open(t)
	ch, err := d.Listen(context.Background(), "jenkinds_test")
	if ch != nil || err != nil {
		t.Errorf("Listen on SQLite: got (%v, %v), want (nil, nil)", ch, err)
	}
}

// TestListen: notifications committed on one handle reach the listener of
// another, in order, rolled-back ones never; after its connection is
// terminated the listener reconnects, says so with "", and delivers again.
func TestListen(t *testing.T) {
	t.Parallel()
	pg := dbtest.Engines(t)[1]
	base := pg.URL(t)
	tagged, app := dbtest.Tagged(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listener, err := db.Open(ctx, tagged)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer listener.Close()
	other, err := db.Open(ctx, base)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer other.Close()

	channel := fmt.Sprintf("jenkinds_listen_test_%d", rand.Int64()) // this test's own: notifications are per database
	ch, err := listener.Listen(ctx, channel)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	want := func(payload string) {
		t.Helper()
		select {
		case got, ok := <-ch:
			if !ok || got != payload {
				t.Fatalf("notification: got (%q, %v), want %q", got, ok, payload)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no notification %q after 30s", payload)
		}
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := other.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
			t.Fatalf("notify: %v", err)
		}
	}
	want("") // listening

	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, 'rolled back')`, channel); err != nil {
		t.Fatalf("notify in a transaction: %v", err)
	}
	tx.Rollback()
	notify("1")
	notify("2")
	want("1")
	want("2")

	var n int
	if err := other.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminate the listener's backend: %d terminated, %v", n, err)
	}
	want("") // reconnected: what came meanwhile may be lost
	notify("3")
	want("3")

	cancel()
	for range ch { // closed once ctx ended
	}
}
