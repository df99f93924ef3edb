package leader

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Term is one leadership term of a Lease: Run hands it to the work it
// runs while it holds the lease, so that the work can fence its writes.
// The zero Term is no term: its Check always fails.
type Term struct {
	// Epoch is the term's fencing token, greater than every earlier
	// term's epoch of the same lease.
	Epoch int64
	lease *Lease
}

// Fence refuses a write of a leader whose term is over. Term is one;
// NoFence is the one of code that runs without a leader.
type Fence interface {
	// Check fails unless the write of tx may commit. Call it inside the
	// write's transaction, before the write.
	Check(ctx context.Context, tx *sql.Tx) error
}

var (
	_ Fence = Term{}
	_ Fence = NoFence
)

// NoFence is the Fence of work that runs without a lease (single-replica
// tests): its Check always passes.
var NoFence Fence = noFence{}

type noFence struct{}

func (noFence) Check(context.Context, *sql.Tx) error { return nil }

// Check fails with an error wrapping ErrStale (and so ErrLost) unless
// this term still holds the lease: its Lease still counts itself leader
// in this term (Held: the deadline has not passed), and the lease's row
// still names the same holder and epoch. Run it inside the write
// transaction, before the write, so that a stale leader's late write is
// refused:
//
//   - on PostgreSQL it locks the lease row FOR SHARE until tx ends. A
//     takeover (or the renewal, or Release), which updates that row,
//     waits for tx to commit or roll back; a Check that comes after a
//     takeover began waits for it and, if it commits, fails. Either the
//     write commits before the next term begins, or it is refused.
//   - on SQLite tx holds the database's one write lock from its BEGIN
//     IMMEDIATE (see db.Open), so the takeover statement waits for tx the
//     same way.
//
// Check does not test expires_at: a lease that has expired but that no
// replica has taken yet still fences correctly, since whoever takes it
// waits for tx.
func (t Term) Check(ctx context.Context, tx *sql.Tx) error {
	l := t.lease
	if l == nil {
		return fmt.Errorf("check leader term: no term: %w", ErrStale)
	}
	if epoch, ok := l.Held(); !ok || epoch != t.Epoch {
		return fmt.Errorf("check leader lease %s epoch %d: the term is over: %w", l.name, t.Epoch, ErrStale)
	}
	var one int
	err := tx.QueryRowContext(ctx, l.db.Rebind(`SELECT 1 FROM leader_leases WHERE name = ? AND holder = ? AND epoch = ?`+l.db.ForShare()),
		l.name, l.holder, t.Epoch).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check leader lease %s epoch %d: another term began: %w", l.name, t.Epoch, ErrStale)
	case err != nil:
		return fmt.Errorf("check leader lease %s epoch %d: %w", l.name, t.Epoch, err)
	}
	return nil
}
