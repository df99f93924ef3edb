package controller

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/db"
)

// RegistryChannel is the PostgreSQL notification channel on which the
// Store announces every change of the registry it makes (Create, Update,
// Delete, SetDraining) with the instance's id, in the change's own
// transaction: the notification goes out if and only if the change
// commits. Other replicas follow the registry with db.Listen on it.
// Health records are not announced: every replica checks health itself.
const RegistryChannel = "jenkinds_registry"

// change runs fn, which changes the instance whose id it returns, in one
// transaction with the announcement of the change on RegistryChannel
// (PostgreSQL only: SQLite serves a single replica).
func (s *Store) change(ctx context.Context, fn func(tx *sql.Tx) (int64, error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := fn(tx)
	if err != nil {
		return err
	}
	if s.db.Dialect == db.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, RegistryChannel, strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("announce the change of instance %d: %w", id, err)
		}
	}
	return tx.Commit()
}
