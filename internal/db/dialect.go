package db

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Rebind rewrites the ? placeholders of a portable query into the engine's
// own: unchanged for SQLite, $1..$n for PostgreSQL. A ? inside a quoted string
// ('…'), a quoted identifier ("…") or a comment is left alone.
func (d *DB) Rebind(query string) string {
	if d.Dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			// A doubled quote inside a literal ends one run and starts the
			// next; copying run by run handles it without special cases.
			b.WriteString(query[i : i+end+2])
			i += end + 1
			continue
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
			continue
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+2+end+2])
			i += 2 + end + 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ForUpdate is the suffix that locks the rows a SELECT inside a transaction
// reads until the transaction ends: " FOR UPDATE" on PostgreSQL, nothing on
// SQLite, where every transaction already holds the database's one write lock
// (see Open).
func (d *DB) ForUpdate() string {
	if d.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// ForShare is the suffix that locks the rows a SELECT inside a transaction
// reads against writers, not against other readers, until the transaction
// ends: " FOR SHARE" on PostgreSQL, nothing on SQLite, where every
// transaction already holds the database's one write lock (see Open).
func (d *DB) ForShare() string {
	if d.Dialect == Postgres {
		return " FOR SHARE"
	}
	return ""
}

// IsUniqueViolation reports whether err is, or wraps, a UNIQUE or PRIMARY KEY
// constraint violation on either engine.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
