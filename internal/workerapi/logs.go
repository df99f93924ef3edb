package workerapi

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema (the job_logs table), for db.Migrate.
var Migrations = db.Migrations{Package: "workerapi", FS: migrationFS, Dir: "migrations"}

// LogStore keeps the logs workers upload, per job and attempt, in the
// job_logs table: one row per chunk, at the byte offset the worker says it
// starts at. The same chunk uploaded twice (a retry after a lost answer)
// is stored once.
type LogStore struct {
	db  *db.DB
	now func() time.Time
	max int64
}

// NewLogStore returns a LogStore over d, migrated with Migrations, that
// keeps at most maxBytes of each attempt's log (0: Config's default, 16
// MiB; negative: no limit).
func NewLogStore(d *db.DB, maxBytes int64, now func() time.Time) *LogStore {
	if maxBytes == 0 {
		maxBytes = Default().MaxLogBytes
	}
	return &LogStore{db: d, now: now, max: maxBytes}
}

// Append stores data as the part of the log of (jobID, attempt) that
// starts at offset. What lies past the limit is dropped: stored is how
// many bytes were kept, truncated whether some were not.
func (s *LogStore) Append(ctx context.Context, jobID int64, attempt int, offset int64, data string) (stored int, truncated bool, err error) {
	// PostgreSQL text holds no NUL; invalid UTF-8 cannot be shown anyway.
	data = strings.ToValidUTF8(strings.ReplaceAll(data, "\x00", ""), "\uFFFD")
	if s.max > 0 && offset+int64(len(data)) > s.max {
		keep := max(0, s.max-offset)
		cut := data[:keep]
		for !utf8.ValidString(cut) {
			cut = cut[:len(cut)-1]
		}
		data, truncated = cut, true
	}
	if data == "" {
		return 0, truncated, nil
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO job_logs (job_id, attempt, byte_offset, data, created_at)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt, byte_offset) DO NOTHING`),
		jobID, attempt, offset, data, s.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, false, fmt.Errorf("store log of job %d attempt %d: %w", jobID, attempt, err)
	}
	return len(data), truncated, nil
}

// Log returns the log of (jobID, attempt): its chunks in offset order,
// "" when none was uploaded.
func (s *LogStore) Log(ctx context.Context, jobID int64, attempt int) ([]byte, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT data FROM job_logs WHERE job_id = ? AND attempt = ? ORDER BY byte_offset`), jobID, attempt)
	if err != nil {
		return nil, fmt.Errorf("read log of job %d attempt %d: %w", jobID, attempt, err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var chunk string
		if err := rows.Scan(&chunk); err != nil {
			return nil, fmt.Errorf("read log of job %d attempt %d: %w", jobID, attempt, err)
		}
		out = append(out, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log of job %d attempt %d: %w", jobID, attempt, err)
	}
	return out, nil
}
