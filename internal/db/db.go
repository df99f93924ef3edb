// Package db is the database handle every domain package shares: one
// *sql.DB on SQLite (the pure-Go modernc.org/sqlite driver, no cgo) or
// PostgreSQL (pgx), plus the little that differs between the two engines.
//
// Each domain package owns its tables and SQL. It writes its queries once,
// portably, with ? placeholders and passes them through Rebind; it ships its
// schema as embedded, versioned migrations (see Migrations) that Migrate
// applies under a lock, so replicas starting together never race.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL engine behind a DB. Its value is also the suffix of
// dialect-specific migration files (0001_name.sqlite.sql).
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the shared handle: the embedded *sql.DB plus the engine it talks to.
type DB struct {
	*sql.DB
	Dialect Dialect

	pgConfig *pgx.ConnConfig // PostgreSQL: what Listen's own connections are opened with
	lost     atomic.Int64    // PostgreSQL: when Lost last closed the idle connections, in Unix nanoseconds
}

// acceptedForms ends every error about a URL that Open cannot use.
const acceptedForms = "use sqlite:///absolute/path/jenkinds.db, a plain file path, " +
	"or postgres://user:password@host:5432/dbname?sslmode=disable"

// sqliteBusyTimeout is how long a SQLite connection waits for the write lock
// before it gives up with SQLITE_BUSY. Writes here are short (single rows,
// small migrations), so waiting this long means something is stuck, not busy;
// it is generous so that go test -race, which slows everything down, never
// reaches it.
const sqliteBusyTimeout = 10 * time.Second

// Open connects to the database at rawURL and checks that it answers:
//
//   - sqlite:///abs/path/file.db, sqlite://rel/path.db, sqlite:path.db or a
//     plain file path: SQLite, created if missing (its directory must exist);
//   - postgres://… or postgresql://…: PostgreSQL (any libpq URL parameter,
//     such as sslmode or search_path, is honoured).
//
// The caller closes the DB.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, fmt.Errorf("open database: the database URL is empty: %s", acceptedForms)
	}
	scheme, _, hasScheme := strings.Cut(rawURL, ":")
	switch {
	case hasScheme && (scheme == "postgres" || scheme == "postgresql"):
		return openPostgres(ctx, rawURL)
	case hasScheme && scheme == "sqlite":
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		return openSQLite(ctx, path)
	case strings.Contains(rawURL, "://"):
		return nil, fmt.Errorf("open database: unsupported scheme %q: %s", scheme, acceptedForms)
	default:
		return openSQLite(ctx, rawURL)
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open database: sqlite path %q is not a plain file path: %s", path, acceptedForms)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open database: directory %q of sqlite database %q does not exist: create it or choose another path", dir, path)
	}

	// Concurrency: WAL lets readers run beside the one writer. _txlock=immediate
	// makes every BeginTx a BEGIN IMMEDIATE, which takes the write lock up
	// front (waiting up to busy_timeout for it) instead of upgrading a read
	// lock later; the upgrade is what fails at once with SQLITE_BUSY no matter
	// the timeout, because SQLite cannot wait without risking deadlock. Plain
	// statements outside a transaction wait on busy_timeout the same way. We
	// chose this over a pool of one connection because one connection would
	// deadlock any code that issues a query while it holds a transaction, and
	// would serialise readers that WAL lets run in parallel.
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	// Keep connections open: database/sql keeps 2 idle by default, and every
	// concurrent reader beyond that would close one and open another, which
	// re-runs the pragmas and reloads the schema (measured with
	// bench/builds: 1,515 → 2,950 builds accepted/s).
	sqlDB.SetMaxOpenConns(16)
	sqlDB.SetMaxIdleConns(16)
	d := &DB{DB: sqlDB, Dialect: SQLite}
	if err := d.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	return d, nil
}

// pgMaxConns bounds a PostgreSQL handle's connections, open and idle.
const pgMaxConns = 20

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("open database: parse postgres URL: %w: %s", err, acceptedForms)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	// A bounded pool keeps a busy replica from exhausting the server's
	// max_connections (100 by default) that all replicas share.
	sqlDB.SetMaxOpenConns(pgMaxConns)
	// Keep every connection idle between bursts: reopening one costs a
	// server fork and re-preparing statements (p99 claim latency went from
	// ~1.5 ms to ~45 ms at 1,000 claims/s with 5 idle connections).
	sqlDB.SetMaxIdleConns(pgMaxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{DB: sqlDB, Dialect: Postgres, pgConfig: cfg}
	if err := d.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to postgres at %s:%d/%s: %w: check that the server is running and the URL is right",
			cfg.Host, cfg.Port, cfg.Database, err)
	}
	return d, nil
}

// Ready reports whether the database answers, for /readyz.
func (d *DB) Ready(ctx context.Context) error {
	if err := d.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s database: %w", d.Dialect, err)
	}
	return nil
}
