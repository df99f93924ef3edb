package db_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// forEachEngine runs test in parallel on every engine.
func forEachEngine(t *testing.T, test func(t *testing.T, e dbtest.Engine)) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

// replicas opens n handles on one fresh database of e, as n replicas
// starting at once would.
func replicas(t *testing.T, e dbtest.Engine, n int) []*db.DB {
	t.Helper()
	url := e.URL(t)
	var handles []*db.DB
	for range n {
		d, err := db.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { d.Close() })
		handles = append(handles, d)
	}
	return handles
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		url  string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"empty", "sqlite:///", "postgres://"}},
		{"blank", "  ", []string{"empty"}},
		{"unsupported scheme", "mysql://root@localhost/jenkinds", []string{`unsupported scheme "mysql"`, "sqlite:///", "postgres://"}},
		{"missing directory", "sqlite://" + filepath.Join(dir, "nope", "j.db"), []string{"does not exist", "create it"}},
		{"plain path in missing directory", filepath.Join(dir, "nope", "j.db"), []string{"does not exist"}},
		{"sqlite query", "sqlite://" + filepath.Join(dir, "j.db") + "?cache=shared", []string{"not a plain file path"}},
		{"sqlite without path", "sqlite://", []string{"not a plain file path"}},
		{"bad postgres url", "postgres://a:b@host:notaport/db", []string{"parse postgres URL"}},
		{"postgres unreachable", "postgres://u:hunter2@" + testkit.DeadAddr(t) + "/db?sslmode=disable&connect_timeout=5", []string{"connect to postgres at 127.0.0.1:", "check that the server is running"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := db.Open(context.Background(), tt.url)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%q): got no error, want one", tt.url)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q) error: got %q, want it to contain %q", tt.url, err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) error leaks the password: %q", tt.url, err)
			}
		})
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, u := range []string{
		"sqlite://" + filepath.Join(dir, "a.db"),
		filepath.Join(dir, "b.db"),
		"sqlite:" + filepath.Join(dir, "c.db"),
		filepath.Join(dir, "with space.db"),
	} {
		d, err := db.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if d.Dialect != db.SQLite {
			t.Errorf("Open(%q) dialect: got %q, want %q", u, d.Dialect, db.SQLite)
		}
		d.Close()
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer d.Close()
	// Hold one connection so every pragma is read on the same one, and make
	// sure a second, fresh connection is configured too.
	ctx := context.Background()
	held, err := d.Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer held.Close()
	fresh, err := d.Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer fresh.Close()

	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := fresh.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s: got %q, want %q", tt.pragma, got, tt.want)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"INSERT INTO t (a, b, c) VALUES (?,?,?)", "INSERT INTO t (a, b, c) VALUES ($1,$2,$3)"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "odd?col" FROM t WHERE x = ?`, `SELECT "odd?col" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\nFROM t WHERE a = ?", "SELECT $1 -- why?\nFROM t WHERE a = $2"},
		{"SELECT ? /* maybe? */, ?", "SELECT $1 /* maybe? */, $2"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
		{"SELECT ? -- trailing?", "SELECT $1 -- trailing?"},
		{"SELECT ? /* open?", "SELECT $1 /* open?"},
		{strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	}
	pg := &db.DB{Dialect: db.Postgres}
	lite := &db.DB{Dialect: db.SQLite}
	for _, tt := range tests {
		if got := pg.Rebind(tt.in); got != tt.want {
			t.Errorf("postgres Rebind(%q): got %q, want %q", tt.in, got, tt.want)
		}
		if got := lite.Rebind(tt.in); got != tt.in {
			t.Errorf("sqlite Rebind(%q): got %q, want it unchanged", tt.in, got)
		}
	}
}

func TestLockSuffixes(t *testing.T) {
	t.Parallel()
	pg, lite := &db.DB{Dialect: db.Postgres}, &db.DB{Dialect: db.SQLite}
	for _, tt := range []struct{ name, got, want string }{
		{"postgres ForUpdate", pg.ForUpdate(), " FOR UPDATE"},
		{"sqlite ForUpdate", lite.ForUpdate(), ""},
		{"postgres ForShare", pg.ForShare(), " FOR SHARE"},
		{"sqlite ForShare", lite.ForShare(), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestEngines(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		d := e.Open(t)
		if got, want := string(d.Dialect), e.Name; got != want {
			t.Errorf("dialect: got %q, want %q", got, want)
		}

		t.Run("ready", func(t *testing.T) {
			if err := d.Ready(ctx); err != nil {
				t.Errorf("Ready: %v", err)
			}
			closed := e.Open(t)
			closed.Close()
			if err := closed.Ready(ctx); err == nil {
				t.Errorf("Ready on a closed DB: got no error, want one")
			}
		})

		t.Run("unique violation", func(t *testing.T) {
			if _, err := d.ExecContext(ctx, `CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`); err != nil {
				t.Fatalf("create: %v", err)
			}
			insert := d.Rebind(`INSERT INTO u (id, name) VALUES (?, ?)`)
			if _, err := d.ExecContext(ctx, insert, 1, "a"); err != nil {
				t.Fatalf("insert: %v", err)
			}
			_, err := d.ExecContext(ctx, insert, 2, "a")
			if got := db.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)); !got {
				t.Errorf("IsUniqueViolation(duplicate name %v): got false, want true", err)
			}
			_, err = d.ExecContext(ctx, insert, 1, "b")
			if got := db.IsUniqueViolation(err); !got {
				t.Errorf("IsUniqueViolation(duplicate primary key %v): got false, want true", err)
			}
			_, err = d.ExecContext(ctx, insert, 3, nil)
			if err == nil || db.IsUniqueViolation(err) {
				t.Errorf("IsUniqueViolation(not null violation %v): got true or no error, want false", err)
			}
			for _, err := range []error{nil, errors.New("UNIQUE constraint failed")} {
				if db.IsUniqueViolation(err) {
					t.Errorf("IsUniqueViolation(%v): got true, want false", err)
				}
			}
		})

		t.Run("schemas are isolated", func(t *testing.T) {
			other := e.Open(t)
			if _, err := other.ExecContext(ctx, `CREATE TABLE u (x INTEGER)`); err != nil {
				t.Errorf("create table u in a second fresh database: %v", err)
			}
		})
	})
}

// TestConcurrentWriters checks that writers racing for the database wait for
// each other instead of failing with SQLITE_BUSY (or a serialization error).
func TestConcurrentWriters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		handles := replicas(t, e, 2)
		d := handles[0]
		if _, err := d.ExecContext(ctx, `CREATE TABLE counter (n INTEGER NOT NULL)`); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := d.ExecContext(ctx, `INSERT INTO counter (n) VALUES (0)`); err != nil {
			t.Fatalf("insert: %v", err)
		}

		const writers, increments = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*increments)
		for w := range writers {
			h := handles[w%len(handles)]
			wg.Go(func() {
				for range increments {
					errs <- increment(ctx, h)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("increment: %v", err)
			}
		}
		var n int
		if err := d.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
			t.Fatalf("read counter: %v", err)
		}
		if want := writers * increments; n != want {
			t.Errorf("counter: got %d, want %d", n, want)
		}
	})
}

// increment is a read-modify-write: the pattern that fails with SQLITE_BUSY
// when a deferred transaction upgrades its read lock.
func increment(ctx context.Context, d *db.DB) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT n FROM counter`+d.ForUpdate()).Scan(&n); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`UPDATE counter SET n = ?`), n+1); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return tx.Commit()
}
