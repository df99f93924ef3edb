package dispatch

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "dispatch", FS: migrationFS, Dir: "migrations"}

// store is the package's SQL over the shared handle. Every state change is
// a conditional UPDATE on the state it expects (and on current_attempt for
// builds), so a late or repeated writer changes nothing.
type store struct {
	db  *db.DB
	now func() time.Time

	// writeMu serialises writes on SQLite, which has one writer anyway:
	// waiting here is cheaper and fairer than on busy_timeout.
	writeMu sync.Mutex

	stmtMu  sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // run in a transaction, to be prepared after it

	stale atomic.Int64 // writes refused because the leader term ended

	insMu     sync.Mutex
	inserts   []*pendingInsert // Submits waiting for the next group commit
	inserting bool             // a Submit is committing batches
}

func newStore(d *db.DB, now func() time.Time) *store {
	return &store{db: d, now: now, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// clock is now as the database keeps it: UTC, to the microsecond.
func (s *store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// txn is the transaction every state change runs in.
type txn = *sql.Tx

// write runs fn in one transaction, holding writeMu on SQLite.
func (s *store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.db.Dialect == db.SQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	defer s.preparePending(ctx)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// writeAs is write for the placer and the follower: the transaction first
// checks that their leader term still holds (fence), so a stale leader's
// late write changes nothing.
func (s *store) writeAs(ctx context.Context, fence Fence, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := fence.Check(ctx, tx); err != nil {
			s.stale.Add(1)
			return fmt.Errorf("%w: %w", ErrStaleLeader, err)
		}
		return fn(tx)
	})
}

// preparePending prepares the statements transactions ran unprepared.
// It runs outside any transaction: preparing takes a connection of its
// own, which a transaction holding one must never wait for (with every
// connection held by such transactions, none would come).
func (s *store) preparePending(ctx context.Context) {
	s.stmtMu.Lock()
	var qs []string
	for q := range s.pending {
		qs = append(qs, q)
	}
	clear(s.pending)
	s.stmtMu.Unlock()
	for _, q := range qs {
		_, _ = s.stmt(ctx, q) // a failure leaves it unprepared: it still runs
	}
}

// asyncCommit makes tx, on PostgreSQL, commit without waiting for the WAL
// flush. Only follow rounds commit so: what they store is derived from
// what the controllers say, so a commit lost in a database crash is
// derived again by the next round. Submit and placement (whose rows are
// the only record of a build or a trigger) wait for the flush.
func (s *store) asyncCommit(ctx context.Context, tx txn) error {
	if s.db.Dialect != db.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// stmt returns the prepared form of query (with ? placeholders). The
// lock is not held while preparing, which waits for a connection: a
// transaction holding one may be waiting for the lock meanwhile.
func (s *store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st, ok := s.stmts[query]
	s.stmtMu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.db.Rebind(query))
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if prev, ok := s.stmts[query]; ok {
		st.Close()
		return prev, nil
	}
	s.stmts[query] = st
	return st, nil
}

func (s *store) close() {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
}

// execTx runs a portable statement in tx: prepared once it has run (see
// preparePending), so its SQL is parsed once per connection.
func (s *store) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	s.stmtMu.Lock()
	st := s.stmts[query]
	if st == nil {
		s.pending[query] = true
	}
	s.stmtMu.Unlock()
	var res sql.Result
	var err error
	if st != nil {
		res, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		res, err = tx.ExecContext(ctx, s.db.Rebind(query), args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// nullTime scans timestamps on either engine.
type nullTime = db.NullTime

const buildColumns = `id, cluster, job, params, cause, state, number, current_attempt, max_attempts, result, reason,
	stop_requested, not_before, created_at, updated_at, started_at, finished_at`

func scanBuild(row interface{ Scan(...any) error }) (Build, error) {
	var (
		b                          Build
		params, cause, state       string
		number                     sql.NullInt64
		notBefore, created, update nullTime
		started, finished          nullTime
	)
	err := row.Scan(&b.ID, &b.Cluster, &b.Job, &params, &cause, &state, &number, &b.CurrentAttempt, &b.MaxAttempts,
		&b.Result, &b.Reason, &b.StopRequested, &notBefore, &created, &update, &started, &finished)
	if err != nil {
		return Build{}, err
	}
	b.State, b.Number = State(state), number.Int64
	b.NotBefore, b.CreatedAt, b.UpdatedAt = notBefore.Time, created.Time, update.Time
	b.StartedAt, b.FinishedAt = started.Ptr(), finished.Ptr()
	if err := json.Unmarshal([]byte(params), &b.Params); err != nil {
		return Build{}, fmt.Errorf("decode params of build %d: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(cause), &b.Cause); err != nil {
		return Build{}, fmt.Errorf("decode cause of build %d: %w", b.ID, err)
	}
	if b.Params == nil {
		b.Params = []Param{}
	}
	return b, nil
}

const attemptColumns = `build_id, attempt, controller_id, backend_queue_id, backend_number, backend_session, backend_floor,
	state, counts, result, reason, fence, triggered_at, started_at, finished_at, superseded_at, redispatch`

func scanAttempt(row interface{ Scan(...any) error }) (Attempt, error) {
	var (
		a                            Attempt
		qid, num                     sql.NullInt64
		state                        string
		triggered, started, finished nullTime
		superseded                   nullTime
	)
	err := row.Scan(&a.BuildID, &a.Attempt, &a.ControllerID, &qid, &num, &a.BackendSession, &a.floor,
		&state, &a.Counts, &a.Result, &a.Reason, &a.Fence, &triggered, &started, &finished, &superseded, &a.Redispatch)
	if err != nil {
		return Attempt{}, err
	}
	a.BackendQueueID, a.BackendNumber, a.State = qid.Int64, num.Int64, AttemptState(state)
	a.TriggeredAt, a.StartedAt, a.FinishedAt, a.SupersededAt = triggered.Time, started.Ptr(), finished.Ptr(), superseded.Ptr()
	return a, nil
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// queryRowTx is execTx for a statement that returns one row.
func (s *store) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	s.stmtMu.Lock()
	st := s.stmts[query]
	if st == nil {
		s.pending[query] = true
	}
	s.stmtMu.Unlock()
	if st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.db.Rebind(query), args...)
}

// writeOne runs a single autocommitted statement under writeMu on SQLite.
func (s *store) writeOne(ctx context.Context, fn func() error) error {
	if s.db.Dialect == db.SQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	return fn()
}

// waitingTwin returns an accepted or placed build of cluster/job with
// exactly these parameters, for Request.Coalesce. There is normally one at
// most; the query has no ORDER BY so that no planner prefers walking the
// builds in id order over the twin index (PostgreSQL did, on a table it
// had no statistics for yet).
func (s *store) waitingTwin(ctx context.Context, cluster, job string, params []Param) (Build, error) {
	st, err := s.stmt(ctx, `SELECT `+buildColumns+` FROM builds
	WHERE cluster = ? AND job = ? AND params = ? AND state IN ('accepted', 'placed') LIMIT 1`)
	if err != nil {
		return Build{}, err
	}
	b, err := scanBuild(st.QueryRowContext(ctx, cluster, job, encodeJSON(params)))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, ErrNotFound
	}
	return b, err
}

// get returns build id with its attempts.
func (s *store) get(ctx context.Context, id int64) (Build, error) {
	return s.getWhere(ctx, `id = ?`, id)
}

func (s *store) getWhere(ctx context.Context, where string, args ...any) (Build, error) {
	b, err := scanBuild(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+buildColumns+` FROM builds WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, ErrNotFound
	}
	if err != nil {
		return Build{}, err
	}
	b.Attempts, err = s.attempts(ctx, b.ID)
	return b, err
}

func (s *store) attempts(ctx context.Context, buildID int64) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT `+attemptColumns+` FROM build_attempts WHERE build_id = ? ORDER BY attempt`), buildID)
	return collect(rows, err, scanAttempt)
}

// collect scans every row with scan; an empty, non-nil slice when there
// are none, so it renders as [] in JSON.
func collect[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// list returns the builds f selects, by ascending id, without attempts.
func (s *store) list(ctx context.Context, f Filter) ([]Build, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.Cluster != "" {
		add("cluster = ?", f.Cluster)
	}
	if f.Job != "" {
		add("job = ?", f.Job)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	q := `SELECT ` + buildColumns + ` FROM builds`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), append(args, f.Limit)...)
	return collect(rows, err, scanBuild)
}

// due returns up to limit accepted builds of cluster whose not_before has
// passed, oldest first.
func (s *store) due(ctx context.Context, cluster string, limit int) ([]Build, error) {
	st, err := s.stmt(ctx, `SELECT `+buildColumns+` FROM builds WHERE state = 'accepted' AND cluster = ? AND not_before <= ? ORDER BY id LIMIT ?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, cluster, s.clock(), limit)
	return collect(rows, err, scanBuild)
}

// anyWaiting reports whether cluster has builds waiting to be placed.
func (s *store) anyWaiting(ctx context.Context, cluster string) (bool, error) {
	st, err := s.stmt(ctx, `SELECT 1 FROM builds WHERE state = 'accepted' AND cluster = ? LIMIT 1`)
	if err != nil {
		return false, err
	}
	var one int
	switch err := st.QueryRowContext(ctx, cluster).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// postpone moves the not_before of accepted builds by d.
func (s *store) postpone(ctx context.Context, fence Fence, bs []Build, d time.Duration) error {
	return s.writeAs(ctx, fence, func(tx *sql.Tx) error {
		now := s.clock()
		for _, b := range bs {
			if _, err := s.execTx(ctx, tx, `UPDATE builds SET not_before = ? WHERE id = ? AND state = 'accepted' AND current_attempt = ?`,
				now.Add(d), b.ID, b.CurrentAttempt); err != nil {
				return err
			}
		}
		return nil
	})
}

func decodeParams(s string) []Param {
	var ps []Param
	_ = json.Unmarshal([]byte(s), &ps) // written by encodeJSON
	return ps
}
