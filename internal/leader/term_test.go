package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/leader"
)

// checkIn runs term's Check in a transaction of its own on d, committed
// when the Check passes, and returns what Check returned.
func checkIn(t *testing.T, d *db.DB, term leader.Term) error {
	t.Helper()
	tx, err := d.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	if err := term.Check(context.Background(), tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return nil
}

func wantStale(t *testing.T, who string, err error) {
	t.Helper()
	if !errors.Is(err, leader.ErrStale) || !errors.Is(err, leader.ErrLost) {
		t.Errorf("%s: Check: got %v, want ErrStale (wrapping ErrLost)", who, err)
	}
}

// TestCheckFencesPausedLeader: a is paused (its virtual clock stands
// still, so it still believes it leads) while b, whose clock is past a's
// expiry, takes the lease over. a's Check fails by the lease's row; once
// a's clock moves past its deadline, by its own reckoning too. b's passes.
func TestCheckFencesPausedLeader(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		ca, cb := newVirtualClock(start), newVirtualClock(start.Add(runCfg.TTL))
		da, dbB := f.open(t), f.open(t)
		a, b := f.replicaOn(da, "a", ca, runCfg), f.replicaOn(dbB, "b", cb, runCfg)
		ra := startRun(t, a)
		termA := recv(t, ra.started, "a's work start")
		if err := checkIn(t, da, termA); err != nil {
			t.Fatalf("a, the live leader: Check: %v", err)
		}

		rb := startRun(t, b)
		termB := recv(t, rb.started, "b's work start")
		if termB.Epoch != termA.Epoch+1 {
			t.Fatalf("b's term: epoch %d, want %d", termB.Epoch, termA.Epoch+1)
		}
		if _, ok := a.Held(); !ok {
			t.Fatalf("a, paused, no longer counts itself leader: the test needs it to")
		}
		wantStale(t, "a, paused, after b took over", checkIn(t, da, termA))
		if err := checkIn(t, dbB, termB); err != nil {
			t.Errorf("b, the live leader: Check: %v", err)
		}

		// a wakes up past its deadline: its watchdog and renewal fire.
		ca.advanceTo(start.Add(runCfg.TTL))
		if cause := recv(t, ra.stopped, "a's work stop"); !errors.Is(cause, leader.ErrLost) {
			t.Errorf("a's work ended with %v, want ErrLost", cause)
		}
		wantStale(t, "a, past its deadline", checkIn(t, da, termA))
		wantStale(t, "the zero Term", checkIn(t, da, leader.Term{}))
		if err := checkIn(t, dbB, termB); err != nil {
			t.Errorf("b, still the live leader: Check: %v", err)
		}
	})
}

// TestCheckOrdersTakeover: on PostgreSQL a Check inside a transaction and
// a takeover are ordered by the lease row's lock. A takeover that comes
// after the Check waits for the write to commit; a Check that comes
// after a takeover began waits for it and then fails. Never do both
// succeed with the write committed last.
func TestCheckOrdersTakeover(t *testing.T) {
	t.Parallel()
	e := dbtest.Engines(t)[1]
	if e.Name != string(db.Postgres) {
		t.Fatalf("engine %s, want postgres", e.Name)
	}
	f := setup(t, e)
	ctx := f.ctx
	setupDB := f.open(t)
	if _, err := setupDB.ExecContext(ctx, `CREATE TABLE fenced (epoch BIGINT NOT NULL)`); err != nil {
		t.Fatalf("create table: %v", err)
	}

	// a leads in epoch 1, paused: its clock stands still.
	ca := newVirtualClock(start)
	da := f.open(t)
	a := f.replicaOn(da, "a", ca, runCfg)
	ra := startRun(t, a)
	termA := recv(t, ra.started, "a's work start")

	// 1. a's write checks first: b's takeover waits for it to commit.
	tx, err := da.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	if err := termA.Check(ctx, tx); err != nil {
		t.Fatalf("a: Check: %v", err)
	}
	bURL, bApp := dbtest.Tagged(t, f.url)
	b := f.replicaOn(f.openURL(t, bURL), "b", newVirtualClock(start.Add(runCfg.TTL)), runCfg)
	rb := startRun(t, b)
	waitForLock(t, setupDB, bApp)
	select {
	case term := <-rb.started:
		t.Fatalf("b took the lease (epoch %d) while a's checked write was open", term.Epoch)
	default:
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fenced (epoch) VALUES ($1)`, termA.Epoch); err != nil {
		t.Fatalf("a: write: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("a: commit: %v", err)
	}
	termB := recv(t, rb.started, "b's work start, after a's commit")
	if termB.Epoch != termA.Epoch+1 {
		t.Fatalf("b's term: epoch %d, want %d", termB.Epoch, termA.Epoch+1)
	}
	wantStale(t, "a, after b's takeover", checkIn(t, da, termA))

	// 2. A takeover of b's term (by c) is under way, not committed yet: a
	// Check of b's waits for it, then fails.
	takeover, err := setupDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer takeover.Rollback()
	if _, err := takeover.ExecContext(ctx, `UPDATE leader_leases SET holder = 'c', epoch = epoch + 1 WHERE name = 'dispatch'`); err != nil {
		t.Fatalf("c: take over: %v", err)
	}
	checkURL, checkApp := dbtest.Tagged(t, f.url)
	dCheck := f.openURL(t, checkURL)
	checked := make(chan error, 1)
	go func() { checked <- checkIn(t, dCheck, termB) }()
	waitForLock(t, setupDB, checkApp)
	if err := takeover.Commit(); err != nil {
		t.Fatalf("c: commit: %v", err)
	}
	wantStale(t, "b, after c's takeover committed", recv(t, checked, "b's Check"))

	var epochs []int64
	rows, err := setupDB.QueryContext(ctx, `SELECT epoch FROM fenced`)
	if err != nil {
		t.Fatalf("read fenced: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e int64
		rows.Scan(&e)
		epochs = append(epochs, e)
	}
	if len(epochs) != 1 || epochs[0] != termA.Epoch {
		t.Errorf("fenced writes: epochs %v, want [%d]", epochs, termA.Epoch)
	}
}

// waitForLock returns once a backend of app waits for a lock.
func waitForLock(t *testing.T, d *db.DB, app string) {
	t.Helper()
	eventually(t, "a backend of "+app+" waits for a lock", func() bool {
		var n int
		err := d.QueryRowContext(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
		if err != nil {
			t.Fatalf("read pg_stat_activity: %v", err)
		}
		return n > 0
	})
}

// eventually returns once cond holds. The deadline only keeps a broken
// test from hanging; it is no timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
