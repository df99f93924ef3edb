package db_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

func TestIsTransient(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("insert build: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"57P01 admin_shutdown", pg("57P01"), true},
		{"57P02 crash_shutdown", pg("57P02"), true},
		{"57P03 cannot_connect_now", pg("57P03"), true},
		{"08006 connection_failure", pg("08006"), true},
		{"08001 sqlclient_unable_to_establish_sqlconnection", pg("08001"), true},
		{"08P01 protocol_violation", pg("08P01"), true},
		{"23505 unique_violation", pg("23505"), false},
		{"40001 serialization_failure", pg("40001"), false},
		{"57014 query_canceled", pg("57014"), false},
		{"driver.ErrBadConn", fmt.Errorf("begin: %w", driver.ErrBadConn), true},
		{"io.ErrUnexpectedEOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"pgx conn closed", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{"net.ErrClosed", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}, true},
		{"ECONNRESET", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"ECONNREFUSED", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"EPIPE", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"ECONNABORTED", fmt.Errorf("x: %w", syscall.ECONNABORTED), true},
		{"sql.ErrNoRows", sql.ErrNoRows, false},
		{"sql.ErrTxDone", sql.ErrTxDone, false},
		{"io.EOF", io.EOF, false},
		{"context.Canceled", fmt.Errorf("query: %w", context.Canceled), false},
		{"context.DeadlineExceeded", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"a plain error", errors.New("boom"), false},
		{"sqlite SQLITE_BUSY", sqliteBusy(t), true},
		{"sqlite constraint", sqliteConstraint(t), false},
		{"refused connect", refusedConnect(t), true},
	}
	for _, tt := range tests {
		if got := db.IsTransient(tt.err); got != tt.want {
			t.Errorf("%s: IsTransient(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// rawSQLite opens a SQLite database with the driver's defaults and no
// busy timeout: a second writer fails at once.
func rawSQLite(t *testing.T) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "raw.db")+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// sqliteBusy is the error of a writer that finds the write lock taken.
func sqliteBusy(t *testing.T) error {
	t.Helper()
	ctx := context.Background()
	d := rawSQLite(t)
	c1, err := d.Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer c1.Close()
	c2, err := d.Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer c2.Close()
	if _, err := c1.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer c1.ExecContext(ctx, `ROLLBACK`)
	_, err = c2.ExecContext(ctx, `BEGIN IMMEDIATE`)
	if err == nil {
		t.Fatalf("a second BEGIN IMMEDIATE succeeded")
	}
	return fmt.Errorf("begin: %w", err)
}

func sqliteConstraint(t *testing.T) error {
	t.Helper()
	d := rawSQLite(t)
	_, err := d.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)`)
	if err == nil {
		t.Fatalf("a duplicate key was inserted")
	}
	return err
}

// refusedConnect is what opening PostgreSQL where nothing listens gives.
func refusedConnect(t *testing.T) error {
	t.Helper()
	_, err := db.Open(context.Background(), "postgres://jenkinds@"+testkit.DeadAddr(t)+"/jenkinds?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatalf("open a dead address: no error")
	}
	return err
}

// TestIsTransientTerminatedBackend: the errors pgx really returns on a
// connection whose backend was terminated (pg_terminate_backend: 57P01,
// then "bad connection") are transient; a statement's own error is not.
func TestIsTransientTerminatedBackend(t *testing.T) {
	t.Parallel()
	e := dbtest.Engines(t)[1]
	d, admin := e.Open(t), e.Open(t)
	ctx := context.Background()
	for _, use := range []string{"idle connection", "transaction"} {
		conn, err := d.Conn(ctx)
		if err != nil {
			t.Fatalf("conn: %v", err)
		}
		var pid int
		if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatalf("read backend pid: %v", err)
		}
		var tx *sql.Tx
		if use == "transaction" {
			if tx, err = conn.BeginTx(ctx, nil); err != nil {
				t.Fatalf("begin: %v", err)
			}
		}
		if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatalf("terminate backend: %v", err)
		}
		if tx != nil {
			err = tx.Commit()
		} else {
			_, err = conn.ExecContext(ctx, `SELECT 1`)
		}
		if !db.IsTransient(err) {
			t.Errorf("%s after pg_terminate_backend: IsTransient(%v) = false, want true", use, err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT 1`); !db.IsTransient(err) {
			t.Errorf("%s, used again: IsTransient(%v) = false, want true", use, err)
		}
		conn.Close()
	}
	if _, err := d.ExecContext(ctx, `SELECT 1/0`); err == nil || db.IsTransient(err) {
		t.Errorf("division by zero: IsTransient(%v) = true, want false", err)
	}
}
