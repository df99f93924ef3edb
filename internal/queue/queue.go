package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "queue", FS: migrationFS, Dir: "migrations"}

// Options tune a Queue; the zero value is the production setup.
type Options struct {
	// Now is the clock leases expire by. Default: time.Now.
	Now func() time.Time
	// Token makes lease tokens; they must be unguessable, since a token is
	// what lets a worker complete a job. Default: 128 random bits from
	// crypto/rand, in hex.
	Token func() string
	// Notifier wakes LeaseWait callers when a cluster may have work.
	// Default: NewNotifier(), in-process.
	Notifier Notifier
	// PollInterval is how often LeaseWait looks for work when nothing
	// wakes it: the fallback for work a notification did not announce (a
	// job enqueued by another replica). Default: 5s.
	PollInterval time.Duration
	// RescueInterval is how often Run rescues expired leases; a lost
	// worker's job waits at most its lease TTL plus this. Default: 15s.
	RescueInterval time.Duration
	// Log receives transitions worth a line: rescues and jobs failed at
	// the delivery limit. Default: discard.
	Log *slog.Logger
}

// Queue is the per-cluster job queue, in the queue_jobs table. Its methods
// are safe for concurrent use. Use one Queue per database in a process: on
// SQLite it serialises its writes itself (see write).
type Queue struct {
	db          *db.DB
	now         func() time.Time
	token       func() string
	notifier    Notifier
	poll        time.Duration
	rescueEvery time.Duration
	log         *slog.Logger
	metrics     *metrics
	leaseSQL    string

	// stmts are the statements this Queue runs, prepared once (and by
	// database/sql once per connection): parsing the lease statement on
	// every call was over half of a claim's CPU on SQLite.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	// writeMu serialises this Queue's writes on SQLite, which has one
	// writer at a time anyway. Without it, writers that collide wait in
	// SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries:
	// that sleep, not the work, would set the claim latency. On
	// PostgreSQL row locks do the job and writeMu is not used.
	writeMu sync.Mutex
}

// New returns a Queue over d, migrated with Migrations.
func New(d *db.DB, opts Options) *Queue {
	q := &Queue{
		db:          d,
		now:         opts.Now,
		token:       opts.Token,
		notifier:    opts.Notifier,
		poll:        opts.PollInterval,
		rescueEvery: opts.RescueInterval,
		log:         opts.Log,
		metrics:     newMetrics(),
		stmts:       map[string]*sql.Stmt{},
		leaseSQL:    leaseSQL(d.Dialect),
	}
	if q.now == nil {
		q.now = time.Now
	}
	if q.token == nil {
		q.token = randomToken
	}
	if q.notifier == nil {
		q.notifier = NewNotifier()
	}
	if q.poll <= 0 {
		q.poll = 5 * time.Second
	}
	if q.rescueEvery <= 0 {
		q.rescueEvery = 15 * time.Second
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	return q
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clock is now as the database keeps it: UTC, to the microsecond.
func (q *Queue) clock() time.Time { return q.now().UTC().Truncate(time.Microsecond) }

// queryRow runs query (with ? placeholders) as a prepared statement.
func (q *Queue) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q.stmtMu.Lock()
	stmt, ok := q.stmts[query]
	if !ok {
		var err error
		if stmt, err = q.db.PrepareContext(ctx, q.db.Rebind(query)); err != nil {
			q.stmtMu.Unlock()
			// Unprepared, the query fails again and its Row carries why.
			return q.db.QueryRowContext(ctx, q.db.Rebind(query), args...)
		}
		q.stmts[query] = stmt
	}
	q.stmtMu.Unlock()
	return stmt.QueryRowContext(ctx, args...)
}

// write runs fn, holding writeMu on SQLite.
func (q *Queue) write(fn func() error) error {
	if q.db.Dialect == db.SQLite {
		q.writeMu.Lock()
		defer q.writeMu.Unlock()
	}
	return fn()
}

const columns = `id, cluster, build_id, payload, state, attempt, max_attempts, lease_token, leased_by,
	lease_expires_at, blocked_by, has_dependents, created_at, updated_at, finished_at, result, exit_code, error`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var (
		j                       Job
		buildID, exitCode       sql.NullInt64
		payload, blockedBy      string
		expires, finished       nullTime
		created, updated        nullTime
		state                   string
		attempt, maxAttempts    int
		token, leasedBy, result string
		errText                 string
		hasDependents           bool
	)
	err := row.Scan(&j.ID, &j.Cluster, &buildID, &payload, &state, &attempt, &maxAttempts, &token, &leasedBy,
		&expires, &blockedBy, &hasDependents, &created, &updated, &finished, &result, &exitCode, &errText)
	if err != nil {
		return Job{}, err
	}
	j.BuildID, j.Payload, j.State = buildID.Int64, json.RawMessage(payload), State(state)
	j.Attempt, j.MaxAttempts, j.LeaseToken, j.LeasedBy = attempt, maxAttempts, token, leasedBy
	j.LeaseExpiresAt, j.FinishedAt = expires.Ptr(), finished.Ptr()
	j.CreatedAt, j.UpdatedAt = created.Time, updated.Time
	j.Result, j.Error, j.hasDependents = result, errText, hasDependents
	if exitCode.Valid {
		c := int(exitCode.Int64)
		j.ExitCode = &c
	}
	if err := json.Unmarshal([]byte(blockedBy), &j.BlockedBy); err != nil {
		return Job{}, fmt.Errorf("decode blocked_by of job %d: %w", j.ID, err)
	}
	return j, nil
}

// nullTime scans timestamps on either engine.
type nullTime = db.NullTime

// Enqueue adds j to its cluster's queue and returns it as stored. Of j it
// reads Cluster, BuildID, Payload, MaxAttempts (0: 3) and BlockedBy. Each
// blocker must be a job that exists; a build with a live job already is
// ErrDuplicate. Waiting workers of the cluster are woken.
func (q *Queue) Enqueue(ctx context.Context, j Job) (Job, error) {
	j, err := j.prepare()
	if err != nil {
		return Job{}, fmt.Errorf("enqueue job: %w", err)
	}
	var out Job
	err = q.write(func() error {
		var err error
		out, err = q.insert(ctx, j)
		return err
	})
	if err != nil {
		what := "job"
		if j.BuildID != 0 {
			what = fmt.Sprintf("build %d", j.BuildID)
		}
		return Job{}, fmt.Errorf("enqueue %s on cluster %s: %w", what, j.Cluster, err)
	}
	q.metrics.enqueued.WithLabelValues(out.Cluster).Inc()
	q.notifier.Notify(out.Cluster)
	return out, nil
}

func (q *Queue) insert(ctx context.Context, j Job) (Job, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	if len(j.BlockedBy) > 0 {
		if err := q.markBlockers(ctx, tx, j.BlockedBy); err != nil {
			return Job{}, err
		}
	}
	blockedBy := []byte("[]") // never "null": the lease tests for '[]'
	if len(j.BlockedBy) > 0 {
		blockedBy, _ = json.Marshal(j.BlockedBy)
	}
	var buildID any
	if j.BuildID != 0 {
		buildID = j.BuildID
	}
	now := q.clock()
	out, err := scanJob(tx.QueryRowContext(ctx, q.db.Rebind(`INSERT INTO queue_jobs
	(cluster, build_id, payload, state, attempt, max_attempts, blocked_by, created_at, updated_at)
	VALUES (?, ?, ?, 'available', 1, ?, ?, ?, ?) RETURNING `+columns),
		j.Cluster, buildID, string(j.Payload), j.MaxAttempts, string(blockedBy), now, now))
	if db.IsUniqueViolation(err) {
		return Job{}, fmt.Errorf("%w: it has an available or leased job; cancel that one first", ErrDuplicate)
	}
	if err != nil {
		return Job{}, err
	}
	return out, tx.Commit()
}

// markBlockers flags the jobs ids as having dependents, so that finishing
// one wakes the clusters waiting on it, and checks they all exist.
func (q *Queue) markBlockers(ctx context.Context, tx *sql.Tx, ids []int64) error {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, q.db.Rebind(`UPDATE queue_jobs SET has_dependents = TRUE WHERE id IN (`+marks+`) RETURNING id`), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var found []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		found = append(found, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			return &ValidationError{"blockedBy", fmt.Sprintf("job %d does not exist", id)}
		}
	}
	return nil
}

// Get returns the job with id.
func (q *Queue) Get(ctx context.Context, id int64) (Job, error) {
	j, err := q.get(ctx, id)
	if err != nil {
		return Job{}, fmt.Errorf("get job %d: %w", id, err)
	}
	return j, nil
}

func (q *Queue) get(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(q.queryRow(ctx, `SELECT `+columns+` FROM queue_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	return j, err
}

// ListFilter narrows List; zero fields do not filter.
type ListFilter struct {
	Cluster string
	State   State
	BuildID int64
	// Limit caps the jobs returned, newest first. Default: 100; at most 1000.
	Limit int
}

// List returns the jobs f selects, newest first: a build's jobs, or a
// cluster's failed jobs, say. An empty, non-nil slice when there are none.
func (q *Queue) List(ctx context.Context, f ListFilter) ([]Job, error) {
	var where []string
	var args []any
	if f.Cluster != "" {
		where, args = append(where, `cluster = ?`), append(args, f.Cluster)
	}
	if f.State != "" {
		where, args = append(where, `state = ?`), append(args, string(f.State))
	}
	if f.BuildID != 0 {
		where, args = append(where, `build_id = ?`), append(args, f.BuildID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	query := `SELECT ` + columns + ` FROM queue_jobs`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := q.db.QueryContext(ctx, q.db.Rebind(query+fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// Cancel stops the job with id, available or leased, and records reason.
// A leased job's worker learns it at its next Extend or Complete
// (*LeaseLostError with State cancelled). Cancelling a cancelled job
// returns it unchanged; a completed or failed one is ErrFinished.
func (q *Queue) Cancel(ctx context.Context, id int64, reason string) (Job, error) {
	var j Job
	err := q.write(func() error {
		now := q.clock()
		var err error
		j, err = scanJob(q.queryRow(ctx, `UPDATE queue_jobs
		SET state = 'cancelled', error = ?, lease_expires_at = NULL, finished_at = ?, updated_at = ?
		WHERE id = ? AND state IN ('available', 'leased') RETURNING `+columns,
			clip(reason), now, now, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := q.get(ctx, id)
		switch {
		case err != nil:
			return Job{}, fmt.Errorf("cancel job %d: %w", id, err)
		case cur.State == StateCancelled:
			return cur, nil
		}
		return Job{}, fmt.Errorf("cancel job %d: %w: it is %s", id, ErrFinished, cur.State)
	}
	if err != nil {
		return Job{}, fmt.Errorf("cancel job %d: %w", id, err)
	}
	q.metrics.finished.WithLabelValues(j.Cluster, string(StateCancelled)).Inc()
	q.finished(ctx, j)
	return j, nil
}

// finished wakes the clusters that may have been waiting on j, now that it
// is finished. Only a job some other job names has any.
func (q *Queue) finished(ctx context.Context, j Job) {
	if !j.hasDependents {
		return
	}
	rows, err := q.db.QueryContext(ctx, `SELECT DISTINCT cluster FROM queue_jobs WHERE state = 'available' AND blocked_by <> '[]'`)
	if err != nil {
		// The fallback poll finds the work; nothing is lost.
		q.log.WarnContext(ctx, "find clusters to wake", "job", j.ID, "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var cluster string
		if rows.Scan(&cluster) == nil {
			q.notifier.Notify(cluster)
		}
	}
}
