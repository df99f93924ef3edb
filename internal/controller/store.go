package controller

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "controller", FS: migrationFS, Dir: "migrations"}

var (
	// ErrNotFound means no instance has the id or name asked for.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change collides with another instance: see
	// ConflictError for which field.
	ErrConflict = errors.New("conflict")
)

// ConflictError says which unique rule a create or update broke: a name
// that another instance has, or a second primary in a cluster. It matches
// ErrConflict with errors.Is.
type ConflictError struct {
	Field  string // "name" or "isPrimary"
	Detail string
}

func (e *ConflictError) Error() string        { return e.Field + ": " + e.Detail }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Sealer seals API tokens at rest; *secret.Sealer is one.
type Sealer interface {
	Seal(plain []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Store is the registry of controllers, in the controllers table.
type Store struct {
	db     *db.DB
	sealer Sealer
	now    func() time.Time
}

// NewStore returns a Store over d, migrated with Migrations, that seals
// tokens with sealer and reads the time from now.
func NewStore(d *db.DB, sealer Sealer, now func() time.Time) *Store {
	return &Store{db: d, sealer: sealer, now: now}
}

// clock is now as the database keeps it: UTC, to the microsecond
// (PostgreSQL's precision), so what Create returns equals what Get reads.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const columns = `id, name, url, username, description, api_token, is_primary, cluster_id,
	load_balancer_url, priority, health_check_url, max_connections, is_active, created_at, updated_at,
	health_status, last_health_check, last_error, current_load, version, jenkins_session, restart_count, draining`

// queryer is what reads run on: the pool or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanInstance(row interface{ Scan(...any) error }) (Instance, error) {
	var i Instance
	var checked sql.NullTime
	err := row.Scan(&i.ID, &i.Name, &i.URL, &i.Username, &i.Description, &i.sealedToken, &i.IsPrimary, &i.ClusterID,
		&i.LoadBalancerURL, &i.Priority, &i.HealthCheckURL, &i.MaxConnections, &i.IsActive, &i.CreatedAt, &i.UpdatedAt,
		&i.HealthStatus, &checked, &i.LastError, &i.CurrentLoad, &i.Version, &i.JenkinsSession, &i.RestartCount, &i.Draining)
	if err != nil {
		return Instance{}, err
	}
	i.HasAPIToken = i.sealedToken != ""
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	if checked.Valid {
		t := checked.Time.UTC()
		i.LastHealthCheck = &t
	}
	return i, nil
}

// getWhere reads the one instance matching where (a condition on ? args).
func (s *Store) getWhere(ctx context.Context, q queryer, where string, args ...any) (Instance, error) {
	query := `SELECT ` + columns + ` FROM controllers WHERE ` + where
	if _, inTx := q.(*sql.Tx); inTx {
		query += s.db.ForUpdate()
	}
	i, err := scanInstance(q.QueryRowContext(ctx, s.db.Rebind(query), args...))
	return i, notFound(err)
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Get returns the instance with id.
func (s *Store) Get(ctx context.Context, id int64) (Instance, error) {
	i, err := s.getWhere(ctx, s.db, `id = ?`, id)
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %d: %w", id, err)
	}
	return i, nil
}

// GetByName returns the instance called name.
func (s *Store) GetByName(ctx context.Context, name string) (Instance, error) {
	i, err := s.getWhere(ctx, s.db, `name = ?`, name)
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %q: %w", name, err)
	}
	return i, nil
}

// List returns the instances f selects, by ascending id; an empty, non-nil
// slice when there are none, so it renders as [] in JSON.
func (s *Store) List(ctx context.Context, f ListFilter) ([]Instance, error) {
	query, args := `SELECT `+columns+` FROM controllers`, []any{}
	if f.ClusterID != "" {
		query += ` WHERE cluster_id = ?`
		args = append(args, f.ClusterID)
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(query+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	out := []Instance{}
	for rows.Next() {
		i, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// Create registers a controller and returns it as stored. A wrong field
// gives a *ValidationError; a taken name, or a second primary in the
// cluster, a *ConflictError (ErrConflict).
func (s *Store) Create(ctx context.Context, in CreateInput) (Instance, error) {
	if err := in.Validate(); err != nil {
		return Instance{}, fmt.Errorf("create instance: %w", err)
	}
	c := in.config()
	token, err := s.sealToken(in.APIToken)
	if err != nil {
		return Instance{}, fmt.Errorf("create instance %q: %w", c.name, err)
	}
	now := s.clock()
	var id int64
	err = s.change(ctx, func(tx *sql.Tx) (int64, error) {
		err := tx.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO controllers
	(name, url, username, description, api_token, is_primary, cluster_id, load_balancer_url,
	 priority, health_check_url, max_connections, is_active, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			c.name, c.url, c.username, c.description, token, c.isPrimary, c.clusterID, c.loadBalancerURL,
			c.priority, c.healthCheckURL, c.maxConnections, c.isActive, now, now).Scan(&id)
		return id, err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("create instance %q: %w", c.name, s.describe(ctx, err, c, 0))
	}
	return s.Get(ctx, id)
}

// Update applies p to the instance with id and returns it as stored. Its
// errors are those of Create, plus ErrNotFound.
func (s *Store) Update(ctx context.Context, id int64, p Patch) (Instance, error) {
	if err := p.Validate(); err != nil {
		return Instance{}, fmt.Errorf("update instance %d: %w", id, err)
	}
	if err := s.update(ctx, id, p); err != nil {
		return Instance{}, fmt.Errorf("update instance %d: %w", id, err)
	}
	return s.Get(ctx, id)
}

func (s *Store) update(ctx context.Context, id int64, p Patch) error {
	var c config
	err := s.change(ctx, func(tx *sql.Tx) (int64, error) {
		cur, err := s.getWhere(ctx, tx, `id = ?`, id)
		if err != nil {
			return 0, err
		}
		c = p.apply(cur.config()) // valid: cur was, and Update validated p
		token := cur.sealedToken
		if p.APIToken != nil {
			if token, err = s.sealToken(*p.APIToken); err != nil {
				return 0, err
			}
		}
		_, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE controllers SET
	name = ?, url = ?, username = ?, description = ?, api_token = ?, is_primary = ?, cluster_id = ?,
	load_balancer_url = ?, priority = ?, health_check_url = ?, max_connections = ?, is_active = ?, updated_at = ?
	WHERE id = ?`),
			c.name, c.url, c.username, c.description, token, c.isPrimary, c.clusterID,
			c.loadBalancerURL, c.priority, c.healthCheckURL, c.maxConnections, c.isActive, s.clock(), id)
		return id, err
	})
	if err != nil {
		return s.describe(ctx, err, c, id) // the transaction has ended: PostgreSQL refuses statements in a failed one
	}
	return nil
}

// describe turns a unique violation from writing c (as instance self; 0 for
// a new one) into a ConflictError naming the instance it collides with.
// Other errors pass through.
func (s *Store) describe(ctx context.Context, err error, c config, self int64) error {
	if !db.IsUniqueViolation(err) {
		return err
	}
	var otherID int64
	var otherName string
	lookup := func(where string, args ...any) bool {
		row := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT id, name FROM controllers WHERE `+where+` AND id <> ?`), append(args, self)...)
		return row.Scan(&otherID, &otherName) == nil
	}
	switch {
	case lookup(`name = ?`, c.name):
		return &ConflictError{"name", fmt.Sprintf("%q is already the name of instance %d", c.name, otherID)}
	case c.isPrimary && lookup(`cluster_id = ? AND is_primary`, c.clusterID):
		return &ConflictError{"isPrimary", fmt.Sprintf("cluster %q already has primary instance %q (id %d): unset its isPrimary first", c.clusterID, otherName, otherID)}
	}
	// The other row went away since: say so rather than guess.
	return fmt.Errorf("%w: %v (try again)", ErrConflict, err)
}

// Delete removes the instance with id.
func (s *Store) Delete(ctx context.Context, id int64) error {
	err := s.change(ctx, func(tx *sql.Tx) (int64, error) {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM controllers WHERE id = ?`), id)
		if err != nil {
			return 0, err
		}
		return id, affected(res)
	})
	if err != nil {
		return fmt.Errorf("delete instance %d: %w", id, err)
	}
	return nil
}

// mustAffect turns an UPDATE or DELETE that matched no row into ErrNotFound,
// wrapped with format and id.
func mustAffect(res sql.Result, format string, id int64) error {
	if err := affected(res); err != nil {
		return fmt.Errorf(format, id, err)
	}
	return nil
}

// affected is ErrNotFound for an UPDATE or DELETE that matched no row.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
