package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsTransient reports whether err is, or wraps, a failure of the
// connection or of the server's availability rather than of the statement:
// the same work may succeed if it is tried again on a new connection.
//
//   - PostgreSQL: the server ended the session (57P01 admin_shutdown, as
//     from pg_terminate_backend or a fast shutdown; 57P02
//     crash_shutdown) or cannot take it yet (57P03 cannot_connect_now,
//     while it starts or stops), or any class 08 connection exception;
//   - the connection was closed or reset under the driver:
//     driver.ErrBadConn, io.ErrUnexpectedEOF, pgx's "conn closed",
//     net.ErrClosed, ECONNRESET, ECONNREFUSED (a restarting server),
//     ECONNABORTED, EPIPE;
//   - SQLite: SQLITE_BUSY (any extended code), the write lock not
//     obtained within busy_timeout.
//
// It does not say whether the work took effect: a COMMIT whose answer
// was lost may have committed. The caller that retries a transaction
// must resolve that itself (see dispatch's group commit). Context
// cancellation and deadlines are not transient: they are the caller's
// budget running out.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return true
		case strings.HasPrefix(pgErr.Code, "08"):
			return true
		}
		return false
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	for _, target := range []error{driver.ErrBadConn, io.ErrUnexpectedEOF, pgconn.ErrConnClosed, net.ErrClosed,
		syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Lost records that a statement failed with a transient error: the server
// closed a connection (a restart, pg_terminate_backend), and the other
// connections idle in the pool were most likely closed with it. They are
// closed here, so that the next statements open live ones. Left in the
// pool, dead ones fail the statements given to them in turn: with every
// backend of a handle killed 30 times in 0.6 s (dispatch's
// TestSubmitSurvivesKilledBackends), the pool still held a dozen dead idle
// connections seconds later, and a transaction's retries met them one
// after another until it ran out of tries. At most once per 100ms; a
// no-op on SQLite.
func (d *DB) Lost() {
	if d.Dialect != Postgres {
		return
	}
	now, last := time.Now().UnixNano(), d.lost.Load()
	if now-last < int64(100*time.Millisecond) || !d.lost.CompareAndSwap(last, now) {
		return
	}
	d.DB.SetMaxIdleConns(0) // closes every idle connection
	d.DB.SetMaxIdleConns(pgMaxConns)
}
