package queue

import (
	"context"
	"fmt"
	"time"
)

// Rescue ends every lease that expired before now: a job on its last
// attempt (attempt = maxAttempts) is failed, with the error "lease expired
// on attempt N of N (delivery limit reached)"; any other goes back to the
// queue on attempt+1. Both clear the lease token, so the worker that lost
// the lease is fenced out. It returns how many jobs it moved, and wakes
// the clusters that have work again. Run calls it periodically; it is safe
// to run on several replicas at once.
func (q *Queue) Rescue(ctx context.Context) (int, error) {
	now := q.clock()
	failed, err := q.expire(ctx, `state = 'failed', finished_at = ?,
		error = 'lease expired on attempt ' || CAST(attempt AS TEXT) || ' of ' || CAST(max_attempts AS TEXT) || ' (delivery limit reached)'`,
		[]any{now}, `attempt >= max_attempts`, now)
	if err != nil {
		return 0, fmt.Errorf("rescue expired leases: %w", err)
	}
	requeued, err := q.expire(ctx, `state = 'available', attempt = attempt + 1, leased_by = '',
		error = 'lease of ' || leased_by || ' expired on attempt ' || CAST(attempt AS TEXT)`,
		nil, `attempt < max_attempts`, now)
	if err != nil {
		return len(failed), fmt.Errorf("rescue expired leases: %w", err)
	}

	for _, j := range failed {
		q.log.ErrorContext(ctx, "job failed: lease expired at the delivery limit", "job", j.ID, "build", j.BuildID,
			"cluster", j.Cluster, "worker", j.LeasedBy, "attempt", j.Attempt)
		q.metrics.rescued.WithLabelValues(j.Cluster, "failed").Inc()
		q.metrics.finished.WithLabelValues(j.Cluster, string(StateFailed)).Inc()
		q.finished(ctx, j)
	}
	woken := map[string]bool{}
	for _, j := range requeued {
		q.log.WarnContext(ctx, "lease expired: job back in the queue", "job", j.ID, "build", j.BuildID,
			"cluster", j.Cluster, "attempt", j.Attempt, "err", j.Error)
		q.metrics.rescued.WithLabelValues(j.Cluster, "requeued").Inc()
		if !woken[j.Cluster] {
			woken[j.Cluster] = true
			q.notifier.Notify(j.Cluster)
		}
	}
	return len(failed) + len(requeued), nil
}

// expire applies set (its ? bound to setArgs) to the leases expired by
// now that also match cond, and returns the jobs after. SET reads the row
// as it was: the error texts quote the old attempt and worker.
func (q *Queue) expire(ctx context.Context, set string, setArgs []any, cond string, now time.Time) ([]Job, error) {
	var out []Job
	err := q.write(func() error {
		query := `UPDATE queue_jobs SET ` + set + `, lease_token = '', lease_expires_at = NULL, updated_at = ?
		WHERE state = 'leased' AND lease_expires_at <= ? AND ` + cond + ` RETURNING ` + columns
		rows, err := q.db.QueryContext(ctx, q.db.Rebind(query), append(setArgs, now, now)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	return out, err
}

// Run rescues expired leases at once and then every RescueInterval, until
// ctx ends; it returns nil then. An error of one round is logged and the
// next round tries again.
func (q *Queue) Run(ctx context.Context) error {
	t := time.NewTicker(q.rescueEvery)
	defer t.Stop()
	for {
		if _, err := q.Rescue(ctx); err != nil && ctx.Err() == nil {
			q.log.ErrorContext(ctx, "rescue expired leases", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
