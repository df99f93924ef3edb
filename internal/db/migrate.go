package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

// Migrations is one package's embedded schema history:
//
//	//go:embed migrations/*.sql
//	var migrationFS embed.FS
//	var Migrations = db.Migrations{Package: "controller", FS: migrationFS, Dir: "migrations"}
//
// Dir holds files named 0001_name.sql, one per version, applied in version
// order. Where the engines need different SQL, a version has
// 0001_name.sqlite.sql and 0001_name.postgres.sql instead (same name, both
// dialects present). A migration may hold several statements; it runs in one
// transaction. Once released, a migration is never edited: add the next one.
type Migrations struct {
	Package string
	FS      fs.FS
	Dir     string
}

// migration is one version of a package's schema, resolved for a dialect.
type migration struct {
	version int
	name    string
	file    string
	sql     string
}

var migrationFile = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

// load reads the set's migrations for dialect, sorted by version.
func (m Migrations) load(dialect Dialect) ([]migration, error) {
	if m.Package == "" || m.FS == nil {
		return nil, errors.New("migration set needs a Package name and an FS")
	}
	entries, err := fs.ReadDir(m.FS, m.Dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations of %s: %w", m.Package, err)
	}
	type candidate struct {
		name             string
		neutral, dialect string // file names; "" when absent
		other            bool   // a file only for the other engine exists
	}
	byVersion := map[int]*candidate{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		match := migrationFile.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("migration %s of %s: name it 0001_name.sql, 0001_name.sqlite.sql or 0001_name.postgres.sql", e.Name(), m.Package)
		}
		version, err := strconv.Atoi(match[1])
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s of %s: version must be a positive number", e.Name(), m.Package)
		}
		c := byVersion[version]
		if c == nil {
			c = &candidate{name: match[2]}
			byVersion[version] = c
		}
		if c.name != match[2] {
			return nil, fmt.Errorf("migration %s of %s: version %d already has the name %q: give every file of one version the same name", e.Name(), m.Package, version, c.name)
		}
		switch Dialect(match[3]) {
		case "":
			c.neutral = e.Name()
		case dialect:
			c.dialect = e.Name()
		default:
			c.other = true
		}
	}

	out := make([]migration, 0, len(byVersion))
	for version, c := range byVersion {
		file := c.neutral
		switch {
		case c.neutral != "" && (c.dialect != "" || c.other):
			return nil, fmt.Errorf("migration %d of %s has both a dialect-neutral and a dialect-specific file: keep one or the other", version, m.Package)
		case c.neutral == "" && c.dialect == "":
			return nil, fmt.Errorf("migration %d of %s has no file for %s: add %04d_%s.%s.sql", version, m.Package, dialect, version, c.name, dialect)
		case c.neutral == "":
			file = c.dialect
		}
		body, err := fs.ReadFile(m.FS, path.Join(m.Dir, file))
		if err != nil {
			return nil, fmt.Errorf("read migration %s of %s: %w", file, m.Package, err)
		}
		out = append(out, migration{version: version, name: c.name, file: file, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// txBeginner is what Migrate runs its transactions on: the pool for SQLite,
// the connection holding the advisory lock for PostgreSQL.
type txBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// Migrate applies, in order, every migration of sets that the database has
// not recorded in schema_migrations yet: sets in the order given, each set's
// versions in ascending order. Each migration runs in its own transaction
// together with its schema_migrations row, so it is applied completely or
// not at all.
//
// Replicas starting together are safe. On PostgreSQL, Migrate holds a
// session advisory lock (one per schema) on a dedicated connection for the
// whole run; on SQLite, each migration's transaction is a BEGIN IMMEDIATE,
// which holds the database's write lock while it checks schema_migrations and
// applies. Either way the check and the apply are one atomic step, and a
// migrator that waited finds the migration recorded and skips it.
func (d *DB) Migrate(ctx context.Context, sets ...Migrations) error {
	type loaded struct {
		pkg        string
		migrations []migration
	}
	all := make([]loaded, 0, len(sets))
	for _, set := range sets {
		ms, err := set.load(d.Dialect)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		all = append(all, loaded{pkg: set.Package, migrations: ms})
	}

	var on txBeginner = d.DB
	if d.Dialect == Postgres {
		conn, unlock, err := d.lockMigrations(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer unlock()
		on = conn
	}

	if err := d.createMigrationTable(ctx, on); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, set := range all {
		for _, m := range set.migrations {
			if err := d.apply(ctx, on, set.pkg, m); err != nil {
				return fmt.Errorf("migrate: apply %s migration %s: %w", set.pkg, m.file, err)
			}
		}
	}
	return nil
}

func (d *DB) createMigrationTable(ctx context.Context, on txBeginner) error {
	timestamp := "TIMESTAMP"
	if d.Dialect == Postgres {
		timestamp = "TIMESTAMPTZ"
	}
	tx, err := on.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	package    TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	applied_at `+timestamp+` NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (package, version)
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// apply runs m unless schema_migrations already records it.
func (d *DB) apply(ctx context.Context, on txBeginner, pkg string, m migration) error {
	tx, err := on.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	var one int
	err = tx.QueryRowContext(ctx, d.Rebind(`SELECT 1 FROM schema_migrations WHERE package = ? AND version = ?`), pkg, m.version).Scan(&one)
	switch {
	case err == nil:
		return nil // applied already, by us earlier or by another replica
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check schema_migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO schema_migrations (package, version, name) VALUES (?, ?, ?)`), pkg, m.version, m.name); err != nil {
		return fmt.Errorf("record in schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// lockMigrations takes the PostgreSQL advisory lock that serialises
// migrators of the current schema, on a connection of its own. It returns
// that connection, for the migrations to run on, and the function that
// releases both.
func (d *DB) lockMigrations(ctx context.Context) (*sql.Conn, func(), error) {
	conn, err := d.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("take migration lock: %w", err)
	}
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("take migration lock: read current schema: %w", err)
	}
	// Advisory locks are per database; keying the lock by schema lets
	// separate schemas (tests, tenants) migrate in parallel.
	h := fnv.New64a()
	h.Write([]byte("jenkinds migrate " + schema))
	key := int64(h.Sum64())
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("take migration lock: %w", err)
	}
	unlock := func() {
		// Unlock even when ctx was cancelled. Should that fail, discard the
		// connection rather than return it, still locked, to the pool: the
		// server drops the lock with the session.
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	return conn, unlock, nil
}
