package buildcluster

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "buildcluster", FS: migrationFS, Dir: "migrations"}

var (
	// ErrNotFound means no record has the name (and scmContext) asked for.
	ErrNotFound = errors.New("not found")
	// ErrKeyNotFound means the cluster has no public key with the kid asked for.
	ErrKeyNotFound = errors.New("key not found")
	// ErrConflict means the change collides with another record or key:
	// see ConflictError.
	ErrConflict = errors.New("conflict")
	// ErrAmbiguous means a name without an scmContext matches records of
	// several scmContexts: see AmbiguousError.
	ErrAmbiguous = errors.New("ambiguous")
)

// ConflictError says which unique rule a write broke: a second active
// record for (name, scmContext), or a kid the cluster already has. It
// matches ErrConflict with errors.Is.
type ConflictError struct {
	Field  string // "isActive" or "kid"
	Detail string
}

func (e *ConflictError) Error() string        { return e.Field + ": " + e.Detail }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// AmbiguousError is a name asked for without an scmContext that several
// scmContexts have. It matches ErrAmbiguous with errors.Is.
type AmbiguousError struct {
	Name        string
	SCMContexts []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("build cluster %q is registered for several scmContexts (%s): name the scmContext",
		e.Name, strings.Join(e.SCMContexts, ", "))
}
func (e *AmbiguousError) Is(target error) bool { return target == ErrAmbiguous }

// Store is the build cluster registry, in the build_clusters table.
//
// Get, Update, Delete, AddKey and RemoveKey address a record by name and
// scmContext. scmContext "" is allowed while the name is registered for one
// scmContext only; otherwise they return an *AmbiguousError listing them.
// Within one (name, scmContext) they address the active record, or, when
// none is active, the inactive one updated last; older inactive records are
// reachable by GetByID and List.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// NewStore returns a Store over d, migrated with Migrations, that reads the
// time from now.
func NewStore(d *db.DB, now func() time.Time) *Store {
	return &Store{db: d, now: now}
}

// clock is now as the database keeps it: UTC, to the microsecond.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const columns = `id, name, scm_context, description, scm_organizations, is_active, managed_by,
	managed_by_email, weight, public_keys, created_at, updated_at`

// queryer is what reads run on: the pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanCluster(row interface{ Scan(...any) error }) (Cluster, error) {
	var c Cluster
	var orgs, keys string
	err := row.Scan(&c.ID, &c.Name, &c.SCMContext, &c.Description, &orgs, &c.IsActive, &c.ManagedBy,
		&c.ManagedByEmail, &c.Weight, &keys, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return Cluster{}, err
	}
	if err := json.Unmarshal([]byte(orgs), &c.SCMOrganizations); err != nil {
		return Cluster{}, fmt.Errorf("decode scm_organizations of record %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(keys), &c.PublicKeys); err != nil {
		return Cluster{}, fmt.Errorf("decode public_keys of record %d: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// query reads the records matching where (a condition on ? args), in order.
func (s *Store) query(ctx context.Context, q queryer, where, order string, args ...any) ([]Cluster, error) {
	query := `SELECT ` + columns + ` FROM build_clusters`
	if where != "" {
		query += ` WHERE ` + where
	}
	query += ` ORDER BY ` + order
	if _, inTx := q.(*sql.Tx); inTx {
		query += s.db.ForUpdate()
	}
	rows, err := q.QueryContext(ctx, s.db.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Cluster{}
	for rows.Next() {
		c, err := scanCluster(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// List returns the records f selects, ordered by name, scmContext, active
// first, then id; an empty, non-nil slice when there are none.
func (s *Store) List(ctx context.Context, f ListFilter) ([]Cluster, error) {
	var where []string
	var args []any
	if f.Name != "" {
		where, args = append(where, `name = ?`), append(args, f.Name)
	}
	if f.SCMContext != "" {
		where, args = append(where, `scm_context = ?`), append(args, f.SCMContext)
	}
	if f.ActiveOnly {
		where = append(where, `is_active`)
	}
	out, err := s.query(ctx, s.db, strings.Join(where, ` AND `), `id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list build clusters: %w", err)
	}
	// Sorted here, not by ORDER BY, so the order is the same whatever the
	// PostgreSQL collation: byte order of names, as on SQLite.
	slices.SortStableFunc(out, func(a, b Cluster) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.SCMContext, b.SCMContext),
			compareActive(a, b), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// compareActive orders active records before inactive ones.
func compareActive(a, b Cluster) int {
	switch {
	case a.IsActive == b.IsActive:
		return 0
	case a.IsActive:
		return -1
	}
	return 1
}

// GetByID returns the record with id.
func (s *Store) GetByID(ctx context.Context, id int64) (Cluster, error) {
	list, err := s.query(ctx, s.db, `id = ?`, `id`, id)
	if err != nil {
		return Cluster{}, fmt.Errorf("get build cluster %d: %w", id, err)
	}
	if len(list) == 0 {
		return Cluster{}, fmt.Errorf("get build cluster %d: %w", id, ErrNotFound)
	}
	return list[0], nil
}

// Get returns the record (name, scmContext) addresses (see Store).
func (s *Store) Get(ctx context.Context, name, scmContext string) (Cluster, error) {
	c, err := s.resolve(ctx, s.db, name, scmContext)
	if err != nil {
		return Cluster{}, fmt.Errorf("get build cluster %s: %w", ref(name, scmContext), err)
	}
	return c, nil
}

// resolve finds the record (name, scmContext) addresses, locking the
// candidates when q is a transaction.
func (s *Store) resolve(ctx context.Context, q queryer, name, scmContext string) (Cluster, error) {
	where, args := `name = ?`, []any{name}
	if scmContext != "" {
		where, args = where+` AND scm_context = ?`, append(args, scmContext)
	}
	list, err := s.query(ctx, q, where, `scm_context, is_active DESC, updated_at DESC, id DESC`, args...)
	if err != nil {
		return Cluster{}, err
	}
	if len(list) == 0 {
		return Cluster{}, ErrNotFound
	}
	var contexts []string
	for _, c := range list {
		if !slices.Contains(contexts, c.SCMContext) {
			contexts = append(contexts, c.SCMContext)
		}
	}
	if len(contexts) > 1 {
		return Cluster{}, &AmbiguousError{Name: name, SCMContexts: contexts}
	}
	return list[0], nil
}

// ref renders a (name, scmContext) address for error messages.
func ref(name, scmContext string) string {
	if scmContext == "" {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q (%s)", name, scmContext)
}

// Create registers a cluster record and returns it as stored. A wrong field
// gives a *ValidationError (ErrExternalWithoutOrganizations for an external
// cluster without organizations); a second active record for (name,
// scmContext) a *ConflictError on isActive.
func (s *Store) Create(ctx context.Context, in CreateInput) (Cluster, error) {
	c, err := in.config().check()
	if err != nil {
		return Cluster{}, fmt.Errorf("create build cluster: %w", err)
	}
	orgs, keys, err := encode(c)
	if err != nil {
		return Cluster{}, fmt.Errorf("create build cluster %s: %w", ref(c.name, c.scmContext), err)
	}
	now := s.clock()
	var id int64
	err = s.db.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO build_clusters
	(name, scm_context, description, scm_organizations, is_active, managed_by, managed_by_email,
	 weight, public_keys, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		c.name, c.scmContext, c.description, orgs, c.isActive, c.managedBy, c.email,
		c.weight, keys, now, now).Scan(&id)
	if err != nil {
		return Cluster{}, fmt.Errorf("create build cluster %s: %w", ref(c.name, c.scmContext), s.describe(ctx, err, c))
	}
	return s.GetByID(ctx, id)
}

func encode(c config) (orgs, keys string, err error) {
	o, err := json.Marshal(c.orgs)
	if err != nil {
		return "", "", err
	}
	k, err := json.Marshal(c.keys)
	if err != nil {
		return "", "", err
	}
	return string(o), string(k), nil
}

// describe turns a unique violation from writing c as an active record into
// a ConflictError naming the active record it collides with. Other errors
// pass through.
func (s *Store) describe(ctx context.Context, err error, c config) error {
	if !db.IsUniqueViolation(err) {
		return err
	}
	var other int64
	row := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT id FROM build_clusters WHERE name = ? AND scm_context = ? AND is_active`), c.name, c.scmContext)
	if row.Scan(&other) != nil {
		// The other record went away since: say so rather than guess.
		return fmt.Errorf("%w: %v (try again)", ErrConflict, err)
	}
	return &ConflictError{Field: "isActive", Detail: fmt.Sprintf(
		"build cluster %q already has an active record for %s (id %d): deactivate it first, or register this one with isActive false",
		c.name, c.scmContext, other)}
}

// Update applies p to the record (name, scmContext) addresses and returns
// it as stored. Its errors are those of Create, plus ErrNotFound and
// *AmbiguousError; a patch that changes name or scmContext is a
// *ValidationError.
func (s *Store) Update(ctx context.Context, name, scmContext string, p Patch) (Cluster, error) {
	id, err := s.modify(ctx, name, scmContext, func(cur Cluster) (config, error) {
		if err := p.checkIdentity(cur); err != nil {
			return config{}, err
		}
		return p.apply(cur.config()).check()
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("update build cluster %s: %w", ref(name, scmContext), err)
	}
	return s.GetByID(ctx, id)
}

// AddKey registers one more public key on the record (name, scmContext)
// addresses, for a rotation: workers may sign with the old or the new key
// until RemoveKey retires the old one. A kid the cluster has is a
// *ConflictError; a bad key a *ValidationError on kid, algorithm or pem.
func (s *Store) AddKey(ctx context.Context, name, scmContext string, k PublicKey) (Cluster, error) {
	id, err := s.modify(ctx, name, scmContext, func(cur Cluster) (config, error) {
		norm, _, problem := parseKey("", k)
		if problem != nil {
			return config{}, problem
		}
		if _, taken := cur.Key(k.KID); taken {
			return config{}, &ConflictError{Field: "kid", Detail: fmt.Sprintf("build cluster %q already has a key %q: remove it first, or choose another kid", cur.Name, k.KID)}
		}
		c := cur.config()
		c.keys = append(slices.Clone(c.keys), norm)
		return c.check()
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("add key %q to build cluster %s: %w", k.KID, ref(name, scmContext), err)
	}
	return s.GetByID(ctx, id)
}

// RemoveKey retires the public key kid of the record (name, scmContext)
// addresses: ErrKeyNotFound when it has none. Removing the last key is
// allowed; the cluster's workers then cannot authenticate.
func (s *Store) RemoveKey(ctx context.Context, name, scmContext, kid string) (Cluster, error) {
	id, err := s.modify(ctx, name, scmContext, func(cur Cluster) (config, error) {
		if _, ok := cur.Key(kid); !ok {
			return config{}, ErrKeyNotFound
		}
		c := cur.config()
		c.keys = slices.DeleteFunc(slices.Clone(c.keys), func(k PublicKey) bool { return k.KID == kid })
		return c, nil
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("remove key %q from build cluster %s: %w", kid, ref(name, scmContext), err)
	}
	return s.GetByID(ctx, id)
}

// modify rewrites the record (name, scmContext) addresses with what change
// makes of it, in one transaction that holds the record, and returns its id.
func (s *Store) modify(ctx context.Context, name, scmContext string, change func(Cluster) (config, error)) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	cur, err := s.resolve(ctx, tx, name, scmContext)
	if err != nil {
		return 0, err
	}
	c, err := change(cur)
	if err != nil {
		return 0, err
	}
	orgs, keys, err := encode(c)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE build_clusters SET
	description = ?, scm_organizations = ?, is_active = ?, managed_by = ?, managed_by_email = ?,
	weight = ?, public_keys = ?, updated_at = ? WHERE id = ?`),
		c.description, orgs, c.isActive, c.managedBy, c.email, c.weight, keys, s.clock(), cur.ID)
	if err != nil {
		tx.Rollback() // PostgreSQL refuses further statements in a failed transaction
		return 0, s.describe(ctx, err, c)
	}
	return cur.ID, tx.Commit()
}

// Delete removes the record (name, scmContext) addresses. Other records
// with the same name (inactive ones, other scmContexts) stay.
func (s *Store) Delete(ctx context.Context, name, scmContext string) error {
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		cur, err := s.resolve(ctx, tx, name, scmContext)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM build_clusters WHERE id = ?`), cur.ID); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("delete build cluster %s: %w", ref(name, scmContext), err)
	}
	return nil
}
