package jobsync

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "jobsync", FS: migrationFS, Dir: "migrations"}

// Op is what a write does to a job.
type Op string

const (
	OpCreate Op = "create" // POST createItem: make the job with this config.xml
	OpUpdate Op = "update" // POST config.xml: replace the job's config.xml
	OpDelete Op = "delete" // POST doDelete or DELETE: remove the job
)

// Pending is a write some controller has not applied yet.
type Pending struct {
	ID           int64     `json:"id"`
	Cluster      string    `json:"cluster"`
	ControllerID int64     `json:"controllerId"`
	Controller   string    `json:"controller"` // its name, when registered
	Job          string    `json:"job"`
	Op           Op        `json:"op"`
	Attempts     int       `json:"attempts"`  // failed sends so far
	LastError    string    `json:"lastError"` // why the last send failed
	NextAttempt  time.Time `json:"nextAttemptAt"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`

	config  string
	version int64
}

// store is the package's SQL over the shared handle. Every change to a
// row a retry holds is conditional on the version it read, so a write
// that replaced the row meanwhile is never undone.
type store struct {
	db  *db.DB
	now func() time.Time

	// writeMu serialises writes on SQLite, which has one writer anyway.
	writeMu sync.Mutex
}

func newStore(d *db.DB, now func() time.Time) *store { return &store{db: d, now: now} }

// clock is now as the database keeps it: UTC, to the microsecond.
func (s *store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.db.Dialect == db.SQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
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

func (s *store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// failedSend is a controller that did not apply a write the front door
// accepted.
type failedSend struct {
	controllerID int64
	attempted    bool   // false when it was not asked (unhealthy)
	err          string // why not
}

// record stores the outcome of an accepted write of job: applied
// controllers lose any older pending write of the job (this one
// superseded it); failed ones get this write as their pending write,
// replacing an older one. A delete also drops the pending writes of the
// jobs inside the deleted one (a folder) on those controllers. One
// transaction: either all of it is stored or none.
func (s *store) record(ctx context.Context, cluster, job string, op Op, config string, applied []int64, failed []failedSend, retryBase time.Duration) error {
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, id := range applied {
			if _, err := s.exec(ctx, tx, `DELETE FROM job_sync_pending WHERE controller_id = ? AND job = ?`, id, job); err != nil {
				return fmt.Errorf("clear pending write of %s on controller %d: %w", job, id, err)
			}
			if op == OpDelete {
				if err := s.dropInside(ctx, tx, id, job); err != nil {
					return err
				}
			}
		}
		for _, f := range failed {
			attempts, next := 0, now
			if f.attempted {
				attempts, next = 1, now.Add(retryBase)
			}
			_, err := s.exec(ctx, tx, `INSERT INTO job_sync_pending
				(cluster, controller_id, job, op, config_xml, version, attempts, last_error, next_attempt_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
				ON CONFLICT (controller_id, job) DO UPDATE SET
					cluster = excluded.cluster, op = excluded.op, config_xml = excluded.config_xml,
					version = job_sync_pending.version + 1, attempts = excluded.attempts,
					last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at,
					created_at = excluded.created_at, updated_at = excluded.updated_at`,
				cluster, f.controllerID, job, string(op), config, attempts, f.err, next, now, now)
			if err != nil {
				return fmt.Errorf("record pending %s of %s on controller %d: %w", op, job, f.controllerID, err)
			}
			if op == OpDelete {
				if err := s.dropInside(ctx, tx, f.controllerID, job); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// dropInside deletes the pending writes of the jobs inside folder on a
// controller: deleting the folder deletes them there.
func (s *store) dropInside(ctx context.Context, tx *sql.Tx, controllerID int64, folder string) error {
	prefix := folder + "/"
	_, err := s.exec(ctx, tx, `DELETE FROM job_sync_pending WHERE controller_id = ? AND substr(job, 1, ?) = ?`,
		controllerID, utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return fmt.Errorf("drop pending writes inside %s on controller %d: %w", folder, controllerID, err)
	}
	return nil
}

const pendingColumns = `id, cluster, controller_id, job, op, config_xml, version, attempts, last_error,
	next_attempt_at, created_at, updated_at`

func scanPending(row interface{ Scan(...any) error }) (Pending, error) {
	var (
		p                  Pending
		op                 string
		next, created, upd nullTime
	)
	err := row.Scan(&p.ID, &p.Cluster, &p.ControllerID, &p.Job, &op, &p.config, &p.version, &p.Attempts, &p.LastError,
		&next, &created, &upd)
	if err != nil {
		return Pending{}, err
	}
	p.Op, p.NextAttempt, p.CreatedAt, p.UpdatedAt = Op(op), next.Time, created.Time, upd.Time
	return p, nil
}

func (s *store) query(ctx context.Context, q string, args ...any) ([]Pending, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		p, err := scanPending(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// due returns the pending writes of the given controllers whose next
// attempt is due, oldest first.
func (s *store) due(ctx context.Context, controllers []int64, limit int) ([]Pending, error) {
	if len(controllers) == 0 {
		return nil, nil
	}
	args := []any{s.clock()}
	for _, id := range controllers {
		args = append(args, id)
	}
	args = append(args, limit)
	out, err := s.query(ctx, `SELECT `+pendingColumns+` FROM job_sync_pending
		WHERE next_attempt_at <= ? AND controller_id IN (`+marks(len(controllers))+`)
		ORDER BY next_attempt_at, id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list due pending writes: %w", err)
	}
	return out, nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// controllers returns the controllers that have pending writes.
func (s *store) controllers(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT controller_id FROM job_sync_pending`)
	if err != nil {
		return nil, fmt.Errorf("list controllers with pending writes: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// forget drops every pending write of a controller.
func (s *store) forget(ctx context.Context, controllerID int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.exec(ctx, tx, `DELETE FROM job_sync_pending WHERE controller_id = ?`, controllerID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drop pending writes of controller %d: %w", controllerID, err)
	}
	return n, nil
}

// claim takes a due pending write for one send: its next attempt moves
// past the send's lease, so no other round takes it meanwhile. False when
// it is no longer due, or was replaced or removed.
func (s *store) claim(ctx context.Context, p Pending, lease time.Duration) (bool, error) {
	now := s.clock()
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.exec(ctx, tx, `UPDATE job_sync_pending SET next_attempt_at = ?
			WHERE id = ? AND version = ? AND next_attempt_at <= ?`, now.Add(lease), p.ID, p.version, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim pending write %d: %w", p.ID, err)
	}
	return n == 1, nil
}

// get re-reads a pending write at the version a round claimed; false when
// it was replaced or removed since.
func (s *store) get(ctx context.Context, id, version int64) (Pending, bool, error) {
	out, err := s.query(ctx, `SELECT `+pendingColumns+` FROM job_sync_pending WHERE id = ? AND version = ?`, id, version)
	if err != nil {
		return Pending{}, false, fmt.Errorf("read pending write %d: %w", id, err)
	}
	if len(out) == 0 {
		return Pending{}, false, nil
	}
	return out[0], true, nil
}

// done removes a pending write the controller applied (or that has no
// controller any more), unless it was replaced meanwhile.
func (s *store) done(ctx context.Context, p Pending) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM job_sync_pending WHERE id = ? AND version = ?`, p.ID, p.version); err != nil {
			return fmt.Errorf("remove pending write %d: %w", p.ID, err)
		}
		return nil
	})
}

// failed records a failed send and when to try again, unless the write
// was replaced meanwhile.
func (s *store) failed(ctx context.Context, p Pending, reason string, next time.Time) error {
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE job_sync_pending SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, updated_at = ?
			WHERE id = ? AND version = ?`, reason, next.UTC().Truncate(time.Microsecond), now, p.ID, p.version)
		if err != nil {
			return fmt.Errorf("record failed send of pending write %d: %w", p.ID, err)
		}
		return nil
	})
}

// makeDue makes every pending write of a controller due now (it came
// back).
func (s *store) makeDue(ctx context.Context, controllerID int64) error {
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE job_sync_pending SET next_attempt_at = ? WHERE controller_id = ? AND next_attempt_at > ?`,
			now, controllerID, now)
		if err != nil {
			return fmt.Errorf("make pending writes of controller %d due: %w", controllerID, err)
		}
		return nil
	})
}

// list returns the pending writes of a cluster ("" for all), by job and
// controller.
func (s *store) list(ctx context.Context, cluster string) ([]Pending, error) {
	q, args := `SELECT `+pendingColumns+` FROM job_sync_pending`, []any{}
	if cluster != "" {
		q, args = q+` WHERE cluster = ?`, append(args, cluster)
	}
	out, err := s.query(ctx, q+` ORDER BY job, controller_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list pending writes: %w", err)
	}
	return out, nil
}

// pendingOn returns the controllers with a pending write of job.
func (s *store) pendingOn(ctx context.Context, cluster, job string) (map[int64]bool, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT controller_id FROM job_sync_pending WHERE cluster = ? AND job = ?`), cluster, job)
	if err != nil {
		return nil, fmt.Errorf("list pending writes of %s: %w", job, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// counts returns how many pending writes each cluster has.
func (s *store) counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT cluster, COUNT(*) FROM job_sync_pending GROUP BY cluster`)
	if err != nil {
		return nil, fmt.Errorf("count pending writes: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// nullTime scans timestamps on either engine.
type nullTime = db.NullTime
