package health

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema (the event log), for db.Migrate.
var Migrations = db.Migrations{Package: "health", FS: migrationFS, Dir: "migrations"}

// Kind says what an Event records.
type Kind string

const (
	// KindTransition: a controller's health changed (From → To).
	KindTransition Kind = "transition"
	// KindRestart: a controller answered with a new X-Jenkins-Session.
	KindRestart Kind = "restart"
	// KindFreeze: re-dispatch of running builds is held back: in Cluster
	// (a mass failure), or everywhere (Cluster "": jenkinds is starved).
	KindFreeze Kind = "freeze"
	// KindThaw: a freeze ended.
	KindThaw Kind = "thaw"
)

// Where a transition's evidence came from (Event.Source).
const (
	SourceProbe    = "probe"    // an active probe
	SourcePassive  = "passive"  // failed requests of the front door or of jenkinds' own
	SourceJenkinds = "jenkinds" // jenkinds' view of itself or of a cluster
)

// Event is one entry of the health authority's log.
type Event struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	Kind         Kind      `json:"kind"`
	ControllerID int64     `json:"controllerId,omitempty"`
	Controller   string    `json:"controller,omitempty"`
	Cluster      string    `json:"cluster,omitempty"`
	From         string    `json:"from,omitempty"`
	To           string    `json:"to,omitempty"`
	Source       string    `json:"source,omitempty"`
	Reason       string    `json:"reason"`
	Replica      string    `json:"replica,omitempty"`
}

// EventFilter selects events for Monitor.Events.
type EventFilter struct {
	// ControllerID selects one controller's events together with the
	// freezes and thaws of its cluster and of jenkinds itself; 0 selects
	// all.
	ControllerID int64
	// Cluster selects the events of one cluster (with jenkinds' own); ""
	// selects all.
	Cluster string
	// Before pages back: only events with a smaller id.
	Before int64
	// Limit is at most 1000. Default: 100.
	Limit int
}

// eventLog keeps the events: in the database when there is one (every
// replica writes its own, marked with its name), and the newest in memory.
type eventLog struct {
	db      *db.DB // nil: memory only
	replica string

	mu     sync.Mutex
	ring   []Event // newest last
	nextID int64   // memory ids when there is no database
}

const ringSize = 1000

// add stores e and returns it with its id.
func (l *eventLog) add(ctx context.Context, e Event) (Event, error) {
	e.Replica = l.replica
	var err error
	if l.db != nil {
		var cid any
		if e.ControllerID != 0 {
			cid = e.ControllerID
		}
		err = l.db.QueryRowContext(ctx, l.db.Rebind(`INSERT INTO health_events (at, kind, controller_id, controller, cluster,
		from_health, to_health, source, reason, replica) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			e.At.UTC(), string(e.Kind), cid, e.Controller, e.Cluster, e.From, e.To, e.Source, e.Reason, e.Replica).Scan(&e.ID)
		if err != nil {
			err = fmt.Errorf("record health event: %w", err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil || err != nil {
		l.nextID++
		e.ID = l.nextID
	}
	if len(l.ring) == ringSize {
		copy(l.ring, l.ring[1:])
		l.ring = l.ring[:ringSize-1]
	}
	l.ring = append(l.ring, e)
	return e, err
}

// list returns the events f selects, newest first.
func (l *eventLog) list(ctx context.Context, f EventFilter, clusterOf string) ([]Event, error) {
	switch {
	case f.Limit < 0 || f.Limit > 1000:
		return nil, fmt.Errorf("limit %d: must be between 1 and 1000", f.Limit)
	case f.Limit == 0:
		f.Limit = 100
	}
	if l.db == nil {
		return l.listMemory(f, clusterOf), nil
	}
	var where []string
	var args []any
	switch {
	case f.ControllerID != 0:
		where = append(where, `(controller_id = ? OR controller_id IS NULL AND cluster IN (?, ''))`)
		args = append(args, f.ControllerID, clusterOf)
	case f.Cluster != "":
		where = append(where, `cluster IN (?, '')`)
		args = append(args, f.Cluster)
	}
	if f.Before > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.Before)
	}
	q := `SELECT id, at, kind, controller_id, controller, cluster, from_health, to_health, source, reason, replica FROM health_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(q+` ORDER BY id DESC LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("read health events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var cid sql.NullInt64
		var at db.NullTime
		var kind string
		if err := rows.Scan(&e.ID, &at, &kind, &cid, &e.Controller, &e.Cluster, &e.From, &e.To, &e.Source, &e.Reason, &e.Replica); err != nil {
			return nil, fmt.Errorf("read health events: %w", err)
		}
		e.At, e.Kind, e.ControllerID = at.Time, Kind(kind), cid.Int64
		out = append(out, e)
	}
	return out, rows.Err()
}

func (l *eventLog) listMemory(f EventFilter, clusterOf string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Event{}
	for i := len(l.ring) - 1; i >= 0 && len(out) < f.Limit; i-- {
		e := l.ring[i]
		switch {
		case f.Before > 0 && e.ID >= f.Before:
		case f.ControllerID != 0 && e.ControllerID != f.ControllerID && (e.ControllerID != 0 || e.Cluster != clusterOf && e.Cluster != ""):
		case f.Cluster != "" && e.Cluster != f.Cluster && e.Cluster != "":
		default:
			out = append(out, e)
		}
	}
	return out
}

// prune drops events older than keep.
func (l *eventLog) prune(ctx context.Context, before time.Time) error {
	if l.db == nil {
		return nil
	}
	if _, err := l.db.ExecContext(ctx, l.db.Rebind(`DELETE FROM health_events WHERE at < ?`), before.UTC()); err != nil {
		return fmt.Errorf("prune health events: %w", err)
	}
	return nil
}
