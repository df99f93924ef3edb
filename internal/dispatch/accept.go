package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

// This file holds how Submit's rows reach the database: group commit,
// retried through a database restart without inserting a row twice.

// insertBuild stores a new accepted build and returns it with its id.
func (s *store) insertBuild(ctx context.Context, b Build) (Build, error) {
	now := s.clock()
	b.State, b.CreatedAt, b.UpdatedAt = StateAccepted, now, now
	if b.NotBefore.IsZero() || b.NotBefore.Before(now) {
		b.NotBefore = now
	}
	b.NotBefore = b.NotBefore.UTC().Truncate(time.Microsecond)
	p := &pendingInsert{b: b, done: make(chan insertResult, 1)}
	s.insMu.Lock()
	s.inserts = append(s.inserts, p)
	lead := !s.inserting
	s.inserting = true
	s.insMu.Unlock()
	for {
		if lead {
			s.commitInserts(ctx)
		}
		r := <-p.done
		if r.lead {
			lead = true // the previous committer handed the next batch to this Submit
			continue
		}
		if r.err != nil {
			return Build{}, fmt.Errorf("insert build of %s/%s: %w", b.Cluster, b.Job, r.err)
		}
		return p.b, nil
	}
}

// pendingInsert is a Submit waiting for its row to be committed, or for
// its turn to commit the next batch.
type pendingInsert struct {
	b    Build
	done chan insertResult
}

type insertResult struct {
	err  error
	lead bool // not a result: commit the queued batch (this one's row in it)
}

const insertBuildSQL = `INSERT INTO builds (cluster, job, params, cause, state, max_attempts, not_before, created_at, updated_at)
	VALUES (?, ?, ?, ?, 'accepted', ?, ?, ?, ?) RETURNING id`

// insertBuildXidSQL is insertBuildSQL on PostgreSQL: it returns the
// transaction's id too, for commitOutcome, without a round trip of its own.
const insertBuildXidSQL = insertBuildSQL + `, txid_current()`

// commitInserts is group commit: the Submit that finds no commit running
// commits every row queued meanwhile (its own among them) in one
// transaction; rows queued during that commit form the next batch, which
// it hands to the first Submit of that batch to commit, so no Submit waits
// for more than the commit in progress and its own. Each Submit returns
// once its row is committed: one commit (one WAL write and flush) serves
// many concurrent triggers, and a row is still durable before its Submit
// answers. When a batch fails because of a row (not of the connection, and
// not with an outcome unknown), its rows are tried one by one, so only a
// bad row fails.
func (s *store) commitInserts(ctx context.Context) {
	ctx = context.WithoutCancel(ctx) // the batch is everyone's, not the leader's
	s.insMu.Lock()
	batch := s.inserts
	s.inserts = nil
	s.insMu.Unlock()
	if err := s.commitBatch(ctx, batch); err == nil || len(batch) == 1 || db.IsTransient(err) || errors.Is(err, errCommitUnknown) {
		for _, p := range batch {
			p.done <- insertResult{err: err}
		}
	} else {
		// One bad row must not fail the others: each on its own.
		for _, p := range batch {
			p.done <- insertResult{err: s.commitBatch(ctx, []*pendingInsert{p})}
		}
	}
	s.insMu.Lock()
	defer s.insMu.Unlock()
	if len(s.inserts) == 0 {
		s.inserting = false
		return
	}
	s.inserts[0].done <- insertResult{lead: true}
}

// insertRetryWaits is how long commitBatch waits before each retry of a
// batch that failed with a transient error, and commitOutcome before each
// new question: 16s in all, within the batch's 30s budget. A database
// restart of a second or so is ridden out by the first seven.
var insertRetryWaits = []time.Duration{
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
}

// errCommitUnknown: a batch's COMMIT failed and the server could not say
// within the budget whether it committed. Its Submits fail rather than
// risk inserting their rows twice.
var errCommitUnknown = errors.New("commit outcome unknown: the build may have been accepted")

// commitBatch inserts batch in one transaction, bounded in time (30s); a
// panic is an error of the batch, so that no Submit waits forever. A
// batch that fails with a transient error (db.IsTransient: a connection
// the server closed, a restarting server, SQLite busy) is tried again
// after each wait of insertRetryWaits, so that a database restart costs
// the Submits a delay, not an error.
//
// A retry must not insert a row twice. A transaction that failed before
// its COMMIT was sent did not commit; only a failed COMMIT is ambiguous,
// since the server may have committed before the answer was lost. So on
// PostgreSQL each INSERT also returns the transaction's id, and after a
// failed COMMIT commitOutcome asks the server, with txid_status, what
// became of that transaction: the server's own record, which PostgreSQL
// keeps for exactly this question. Committed: the rows stand, with the
// ids the INSERTs returned. Aborted: retry. No answer within the budget:
// errCommitUnknown, and nobody retries. We chose this over a
// client-generated unique key per row because it needs no schema change,
// no second unique index on the busiest table and no extra round trip.
// On SQLite, a local file, a failed COMMIT did not commit.
func (s *store) commitBatch(ctx context.Context, batch []*pendingInsert) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("insert builds: panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = retryTransient(ctx, s.db, func() (struct{}, error) { return struct{}{}, s.insertBatch(ctx, batch) })
	return err
}

// retryTransient runs op, and again after each wait of insertRetryWaits
// while it fails with a transient error (db.IsTransient: a database
// restart), until it succeeds, fails otherwise, or ctx ends. Each such
// error tells d that its idle connections may be dead (db.DB.Lost). The
// reads a trigger makes before its insert ride a restart out as the
// insert does.
func retryTransient[T any](ctx context.Context, d *db.DB, op func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := op()
		if !db.IsTransient(err) {
			return v, err
		}
		d.Lost()
		if attempt == len(insertRetryWaits) || !pause(ctx, insertRetryWaits[attempt]) {
			return v, err
		}
	}
}

// insertBatch is one try of commitBatch.
func (s *store) insertBatch(ctx context.Context, batch []*pendingInsert) error {
	pg := s.db.Dialect == db.Postgres
	query := insertBuildSQL
	if pg {
		query = insertBuildXidSQL
	}
	var xid int64
	committing := false // every INSERT done: an error now is the COMMIT's
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, p := range batch {
			b := &p.b
			dest := []any{&b.ID}
			if pg {
				dest = append(dest, &xid)
			}
			if err := s.queryRowTx(ctx, tx, query, b.Cluster, b.Job, encodeJSON(b.Params), encodeJSON(b.Cause),
				b.MaxAttempts, b.NotBefore, b.CreatedAt, b.UpdatedAt).Scan(dest...); err != nil {
				return err
			}
		}
		committing = true
		return nil
	})
	if err == nil || !committing || !pg {
		return err
	}
	return s.commitOutcome(ctx, xid, err)
}

// commitOutcome asks PostgreSQL what became of transaction xid, whose
// COMMIT failed with commitErr: nil if it committed, commitErr if it
// aborted, an error wrapping errCommitUnknown if the server cannot say
// within ctx (or the insertRetryWaits).
func (s *store) commitOutcome(ctx context.Context, xid int64, commitErr error) error {
	for attempt := 0; ; attempt++ {
		var status sql.NullString
		err := s.db.QueryRowContext(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		switch {
		case err == nil && status.String == "committed":
			return nil
		case err == nil && status.String == "aborted":
			return commitErr
		case err == nil && status.String == "in progress": // its session is still ending: ask again
		case err == nil: // NULL: too old to tell, which a few seconds cannot be
			return fmt.Errorf("%w: %w (transaction %d too old to tell)", errCommitUnknown, commitErr, xid)
		case !db.IsTransient(err):
			return fmt.Errorf("%w: %w (read the outcome of transaction %d: %v)", errCommitUnknown, commitErr, xid, err)
		}
		if attempt == len(insertRetryWaits) || !pause(ctx, insertRetryWaits[attempt]) {
			return fmt.Errorf("%w: %w (transaction %d: no answer in time)", errCommitUnknown, commitErr, xid)
		}
	}
}

// pause waits d, and reports false if ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
