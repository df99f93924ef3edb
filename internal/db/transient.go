package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

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
