package db

import (
	"fmt"
	"time"
)

// NullTime scans a timestamp column on either engine: a time.Time, or the
// text SQLite returns where it does not know the column's type (RETURNING,
// aggregates). Times come back in UTC.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// sqliteTime is the layout modernc.org/sqlite writes with _time_format=sqlite.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// Scan implements sql.Scanner.
func (t *NullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*t = NullTime{}
		return nil
	case time.Time:
		*t = NullTime{Time: v.UTC(), Valid: true}
		return nil
	case []byte:
		return t.Scan(string(v))
	case string:
		for _, layout := range []string{sqliteTime, time.RFC3339Nano} {
			if p, err := time.Parse(layout, v); err == nil {
				*t = NullTime{Time: p.UTC(), Valid: true}
				return nil
			}
		}
		return fmt.Errorf("parse timestamp %q", v)
	}
	return fmt.Errorf("scan timestamp from %T", v)
}

// Ptr is the time, or nil when NULL.
func (t NullTime) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}
