package controller

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// maxLastError is how much of a check's error RecordHealth keeps.
const maxLastError = 1000

// RecordHealth stores the outcome of a health check of the instance with
// id, stamped with the store's clock. It leaves the configuration and
// updatedAt alone. A JenkinsSession other than the known one counts as a
// restart of the controller.
func (s *Store) RecordHealth(ctx context.Context, id int64, r HealthRecord) error {
	switch {
	case r.Status > balance.Unhealthy:
		return fmt.Errorf("record health of instance %d: unknown status %s: want unknown, healthy, degraded or unhealthy", id, r.Status)
	case r.CurrentLoad < 0:
		return fmt.Errorf("record health of instance %d: current load %d is negative", id, r.CurrentLoad)
	}
	lastError := r.Error
	if len(lastError) > maxLastError {
		lastError = strings.ToValidUTF8(lastError[:maxLastError], "")
	}
	// Every right-hand side reads the row as it was before this UPDATE, on
	// both engines.
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE controllers SET
	health_status = ?, last_health_check = ?, last_error = ?, current_load = ?,
	version = CASE WHEN CAST(? AS TEXT) = '' THEN version ELSE ? END,
	restart_count = restart_count + CASE WHEN jenkins_session <> '' AND CAST(? AS TEXT) <> '' AND jenkins_session <> ? THEN 1 ELSE 0 END,
	jenkins_session = CASE WHEN CAST(? AS TEXT) = '' THEN jenkins_session ELSE ? END
	WHERE id = ?`),
		r.Status, s.clock(), lastError, r.CurrentLoad,
		r.Version, r.Version,
		r.JenkinsSession, r.JenkinsSession,
		r.JenkinsSession, r.JenkinsSession,
		id)
	if err != nil {
		return fmt.Errorf("record health of instance %d: %w", id, err)
	}
	return mustAffect(res, "record health of instance %d: %w", id)
}

// SetDraining starts or ends draining of the instance with id. It leaves
// updatedAt alone: draining is operation, not configuration.
func (s *Store) SetDraining(ctx context.Context, id int64, draining bool) error {
	err := s.change(ctx, func(tx *sql.Tx) (int64, error) {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE controllers SET draining = ? WHERE id = ?`), draining, id)
		if err != nil {
			return 0, err
		}
		return id, affected(res)
	})
	if err != nil {
		return fmt.Errorf("set draining of instance %d: %w", id, err)
	}
	return nil
}
