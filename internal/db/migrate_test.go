package db_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// set builds a migration set from file name → SQL.
func set(pkg string, files map[string]string) db.Migrations {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return db.Migrations{Package: pkg, FS: fsys, Dir: "migrations"}
}

// widgets is a set whose every migration fails if applied twice: CREATE
// TABLE without IF NOT EXISTS, and inserts whose count the tests check.
var widgets = map[string]string{
	"0001_create_widgets.sql": `CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE widget_log (note TEXT NOT NULL);`,
	"0002_seed.sql": `INSERT INTO widgets (id, name) VALUES (1, 'first');
INSERT INTO widget_log (note) VALUES ('seeded');`,
	"0003_more.sql": `INSERT INTO widget_log (note) VALUES ('more');`,
}

func count(t *testing.T, d *db.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), d.Rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		handles := replicas(t, e, 2)
		sets := []db.Migrations{
			set("widgets", widgets),
			set("other", map[string]string{"0001_other.sql": `CREATE TABLE other (x INTEGER)`}),
		}

		const migrators = 8
		start := make(chan struct{})
		errs := make(chan error, migrators)
		var wg sync.WaitGroup
		for i := range migrators {
			h := handles[i%len(handles)]
			wg.Go(func() {
				<-start
				errs <- h.Migrate(ctx, sets...)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
		}

		d := handles[0]
		if got, want := count(t, d, `SELECT COUNT(*) FROM schema_migrations`), 4; got != want {
			t.Errorf("schema_migrations rows: got %d, want %d", got, want)
		}
		if got, want := count(t, d, `SELECT COUNT(*) FROM widget_log`), 2; got != want {
			t.Errorf("widget_log rows (one per data migration): got %d, want %d", got, want)
		}
	})
}

func TestMigrateRecordsAndResumes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		d := e.Open(t)
		before := time.Now().Add(-time.Hour)

		first := map[string]string{"0001_create_widgets.sql": widgets["0001_create_widgets.sql"]}
		if err := d.Migrate(ctx, set("widgets", first)); err != nil {
			t.Fatalf("Migrate version 1: %v", err)
		}
		if err := d.Migrate(ctx, set("widgets", widgets)); err != nil {
			t.Fatalf("Migrate versions 1-3: %v", err)
		}
		if err := d.Migrate(ctx, set("widgets", widgets)); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		if got, want := count(t, d, `SELECT COUNT(*) FROM widget_log`), 2; got != want {
			t.Errorf("widget_log rows: got %d, want %d", got, want)
		}

		rows, err := d.QueryContext(ctx, `SELECT package, version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var pkg, name string
			var version int
			var at time.Time
			if err := rows.Scan(&pkg, &version, &name, &at); err != nil {
				t.Fatalf("scan: %v", err)
			}
			if at.Before(before) {
				t.Errorf("applied_at of %s %d: got %v, want about now", pkg, version, at)
			}
			got = append(got, pkg+"/"+name)
			_ = version
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		want := "widgets/create_widgets widgets/seed widgets/more"
		if strings.Join(got, " ") != want {
			t.Errorf("schema_migrations: got %q, want %q", strings.Join(got, " "), want)
		}
	})
}

func TestMigrateDialectFiles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		d := e.Open(t)
		err := d.Migrate(ctx, set("split", map[string]string{
			"0001_init.sqlite.sql":   `CREATE TABLE made_by_sqlite (x INTEGER)`,
			"0001_init.postgres.sql": `CREATE TABLE made_by_postgres (x INTEGER)`,
			"0002_after.sql":         `CREATE TABLE after (x INTEGER)`,
			"README.md":              `not a migration`,
		}))
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		count(t, d, `SELECT COUNT(*) FROM made_by_`+e.Name)
		count(t, d, `SELECT COUNT(*) FROM after`)
		if got, want := count(t, d, `SELECT COUNT(*) FROM schema_migrations WHERE package = ? AND name = ?`, "split", "init"), 1; got != want {
			t.Errorf("recorded init: got %d rows, want %d", got, want)
		}
	})
}

func TestMigrateFailureRollsBack(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e dbtest.Engine) {
		ctx := context.Background()
		d := e.Open(t)
		bad := set("broken", map[string]string{
			"0001_ok.sql":   `CREATE TABLE ok (x INTEGER)`,
			"0002_bad.sql":  `CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);`,
			"0003_next.sql": `CREATE TABLE next (x INTEGER)`,
		})
		err := d.Migrate(ctx, bad)
		if err == nil {
			t.Fatalf("Migrate: got no error, want one")
		}
		if !strings.Contains(err.Error(), "apply broken migration 0002_bad.sql") {
			t.Errorf("Migrate error: got %q, want it to name the package and file", err)
		}
		if got, want := count(t, d, `SELECT COUNT(*) FROM schema_migrations`), 1; got != want {
			t.Errorf("schema_migrations rows: got %d, want %d (only 0001)", got, want)
		}
		for _, table := range []string{"half", "next"} {
			if _, err := d.ExecContext(ctx, `SELECT COUNT(*) FROM `+table); err == nil {
				t.Errorf("table %s exists after the failed migration, want it rolled back or never created", table)
			}
		}
	})
}

func TestMigrateRejectsBadSets(t *testing.T) {
	t.Parallel()
	d := dbtest.Engines(t)[0].Open(t)
	tests := []struct {
		name string
		set  db.Migrations
		want string
	}{
		{"bad file name", set("p", map[string]string{"init.sql": "SELECT 1"}), "name it 0001_name.sql"},
		{"version zero", set("p", map[string]string{"0000_zero.sql": "SELECT 1"}), "positive"},
		{"neutral and dialect", set("p", map[string]string{"0001_a.sql": "SELECT 1", "0001_a.sqlite.sql": "SELECT 1"}), "both a dialect-neutral and a dialect-specific"},
		{"other dialect only", set("p", map[string]string{"0001_a.postgres.sql": "SELECT 1"}), "no file for sqlite: add 0001_a.sqlite.sql"},
		{"names differ", set("p", map[string]string{"0001_a.sqlite.sql": "SELECT 1", "0001_b.postgres.sql": "SELECT 1"}), "same name"},
		{"no package", db.Migrations{FS: fstest.MapFS{}}, "Package"},
		{"missing dir", db.Migrations{Package: "p", FS: fstest.MapFS{}, Dir: "nope"}, "read migrations of p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Migrate(context.Background(), tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Migrate: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
