// Package dbtest gives tests a fresh, empty database on every engine the
// store suites must pass on: SQLite always, PostgreSQL when one answers.
//
//	for _, e := range dbtest.Engines(t) {
//		t.Run(e.Name, func(t *testing.T) {
//			t.Parallel()
//			d := e.Open(t)
//			...
//		})
//	}
//
// PostgreSQL comes from JENKINDS_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Each database is
// a schema of its own with a random name, dropped when the test ends, so
// tests run in parallel in isolation. When the server is unreachable the
// PostgreSQL subtests skip, unless CI is set: then they fail, because CI must
// always run the suite on both engines.
//
// When JENKINDS_TEST_HOG is set, CPU hogs run until the test that called
// Engines ends (see testkit.HogFromEnv), so that the store suites can be run
// on a saturated machine.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// EnvPostgres names the variable holding the PostgreSQL URL tests use.
const EnvPostgres = "JENKINDS_TEST_POSTGRES"

// DefaultPostgres is the URL used when EnvPostgres is unset.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Engine makes fresh databases on one engine.
type Engine struct {
	// Name is "sqlite" or "postgres", fit for t.Run.
	Name string
	// Open returns a handle on a fresh, empty database; it is closed and the
	// database removed when t ends.
	Open func(t testing.TB) *db.DB
	// URL returns the URL of a fresh, empty database, for tests that open
	// several handles on one database with db.Open. The database is removed
	// when t ends; close those handles in t.Cleanup.
	URL func(t testing.TB) string
}

// Engines returns every engine: SQLite, then PostgreSQL.
func Engines(t testing.TB) []Engine {
	t.Helper()
	testkit.HogFromEnv(t)
	return []Engine{
		{Name: string(db.SQLite), Open: openWith(sqliteURL), URL: sqliteURL},
		{Name: string(db.Postgres), Open: openWith(postgresURL), URL: postgresURL},
	}
}

func openWith(newURL func(testing.TB) string) func(testing.TB) *db.DB {
	return func(t testing.TB) *db.DB {
		t.Helper()
		u := newURL(t)
		d, err := db.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("open test database: %v", err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
}

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
}

// server is the PostgreSQL server the tests share: reached once per test
// binary; err tells why not.
var server struct {
	once  sync.Once
	url   *url.URL
	admin *db.DB
	err   error
}

func postgresURL(t testing.TB) string {
	t.Helper()
	server.once.Do(connectServer)
	if server.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required when CI is set: %v (start it, or set %s to its URL)", server.err, EnvPostgres)
		}
		t.Skipf("PostgreSQL not reachable, skipping (%v): start PostgreSQL or set %s to a reachable URL to run these tests", server.err, EnvPostgres)
	}

	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := server.admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := server.admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	// search_path as a URL parameter becomes a runtime parameter of every
	// connection in the pool, so each pooled connection sees only the schema.
	u := *server.url
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func connectServer() {
	raw := os.Getenv(EnvPostgres)
	if raw == "" {
		raw = DefaultPostgres
	}
	u, err := url.Parse(raw)
	if err != nil {
		server.err = fmt.Errorf("parse %s: %w", EnvPostgres, err)
		return
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, u.String())
	if err != nil {
		server.err = err
		return
	}
	if admin.Dialect != db.Postgres {
		admin.Close()
		server.err = fmt.Errorf("%s=%s is not a postgres:// URL", EnvPostgres, u.Redacted())
		return
	}
	// admin lives as long as the test binary: schemas are dropped through it
	// by every test's cleanup.
	server.url, server.admin = u, admin
}

// Tagged returns rawURL, a PostgreSQL URL, with a fresh application_name,
// and that name: every connection of a handle opened on the URL carries
// it, so a test finds that handle's backends in pg_stat_activity (to see
// one wait for a lock, or to terminate them) without touching those of
// other tests that share the server.
func Tagged(t testing.TB, rawURL string) (tagged, app string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse database URL: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	app = "jenkinds-test-" + hex.EncodeToString(b[:])
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String(), app
}
