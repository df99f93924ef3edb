package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// TestCommitOutcome: after a COMMIT whose answer was lost, the group
// commit asks PostgreSQL what became of the transaction: committed (the
// rows stand: no retry), aborted (retry) or, while it is still open, no
// answer within the budget (the Submits fail: no retry, no duplicate).
func TestCommitOutcome(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, dbtest.Engines(t)[1])
	ctx := context.Background()
	lost := errors.New("the COMMIT's answer was lost")
	xact := func(end func(*sql.Tx) error) int64 {
		t.Helper()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		var xid int64
		if err := tx.QueryRowContext(ctx, `SELECT txid_current()`).Scan(&xid); err != nil {
			t.Fatalf("read xid: %v", err)
		}
		if err := end(tx); err != nil {
			t.Fatalf("end the transaction: %v", err)
		}
		return xid
	}

	committed := xact(func(tx *sql.Tx) error { return tx.Commit() })
	if err := s.commitOutcome(ctx, committed, lost); err != nil {
		t.Errorf("committed: commitOutcome: got %v, want nil", err)
	}
	aborted := xact(func(tx *sql.Tx) error { return tx.Rollback() })
	if err := s.commitOutcome(ctx, aborted, lost); err != lost {
		t.Errorf("aborted: commitOutcome: got %v, want the COMMIT's error", err)
	}

	var open *sql.Tx
	running := xact(func(tx *sql.Tx) error { open = tx; return nil })
	defer open.Rollback()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.commitOutcome(short, running, lost); !errors.Is(err, errCommitUnknown) || !errors.Is(err, lost) {
		t.Errorf("in progress: commitOutcome: got %v, want errCommitUnknown wrapping the COMMIT's error", err)
	}
}
