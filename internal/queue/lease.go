package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

// unblocked is true for a job none of whose blockers is live (available or
// leased). A blocker that no longer exists does not block. It is read in
// the statement that takes the lease; since a finished job never becomes
// live again, no later write can make the answer wrong.
const (
	unblockedSQLite = `(j.blocked_by = '[]' OR NOT EXISTS (
		SELECT 1 FROM json_each(j.blocked_by) AS e JOIN queue_jobs AS b ON b.id = e.value
		WHERE b.state IN ('available', 'leased')))`
	unblockedPostgres = `(j.blocked_by = '[]' OR NOT EXISTS (
		SELECT 1 FROM queue_jobs AS b
		WHERE b.id IN (SELECT CAST(e AS BIGINT) FROM jsonb_array_elements_text(CAST(j.blocked_by AS jsonb)) AS e)
		AND b.state IN ('available', 'leased')))`
)

// asyncCommit, in a PostgreSQL statement run on its own, makes its
// transaction commit without waiting for the WAL flush: SET LOCAL
// synchronous_commit = off, inside the statement so the lease stays one
// round trip. Only the lease commits so. A lease lost in a server crash
// leaves the job available and the worker that got it learns so at its
// next Extend (ErrLeaseLost): a second delivery, which at-least-once
// allows. The first synchronous commit after it (that worker's Extend or
// Complete) flushes it too. Enqueue, Extend, Complete, Fail, Cancel and
// Rescue wait for the flush as usual.
const asyncCommit = `(SELECT set_config('synchronous_commit', 'off', true)) = 'off'`

// leaseSQL is the one statement that takes the oldest leasable job of a
// cluster and leases it. The engines differ only here:
//
//   - PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent lessors pass over
//     each other's row instead of queueing on it; the outer state check
//     re-tests the row once it is locked; asyncCommit.
//   - SQLite: no lock clause. A writing statement takes the database's one
//     write lock before its first read and keeps it to its commit (its
//     OP_Transaction is what BEGIN IMMEDIATE runs), so the select and the
//     update cannot interleave with another writer: this statement is the
//     short BEGIN IMMEDIATE transaction, in one round trip.
func leaseSQL(d db.Dialect) string {
	unblocked, lock, commit := unblockedSQLite, "", ""
	if d == db.Postgres {
		unblocked, lock, commit = unblockedPostgres, " FOR UPDATE OF j SKIP LOCKED", " AND "+asyncCommit
	}
	return `UPDATE queue_jobs SET state = 'leased', lease_token = ?, leased_by = ?, lease_expires_at = ?, updated_at = ?
	WHERE state = 'available' AND id = (
		SELECT j.id FROM queue_jobs AS j
		WHERE j.cluster = ? AND j.state = 'available' AND ` + unblocked + `
		ORDER BY j.id LIMIT 1` + lock + `)` + commit + `
	RETURNING ` + columns
}

// Lease hands the oldest leasable job of cluster to workerID until
// now+ttl, with a fresh lease token that every later call about the job
// must bring. ErrEmpty when there is none: no available job, or only jobs
// whose blockers are not finished.
func (q *Queue) Lease(ctx context.Context, cluster, workerID string, ttl time.Duration) (Job, error) {
	if err := checkLease(workerID, ttl); err != nil {
		return Job{}, fmt.Errorf("lease from cluster %s: %w", cluster, err)
	}
	var j Job
	err := q.write(func() error {
		now := q.clock()
		var err error
		j, err = scanJob(q.queryRow(ctx, q.leaseSQL, q.token(), workerID, now.Add(ttl), now, cluster))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrEmpty
	}
	if err != nil {
		return Job{}, fmt.Errorf("lease from cluster %s: %w", cluster, err)
	}
	q.metrics.leased.WithLabelValues(cluster).Inc()
	return j, nil
}

// LeaseWait is Lease that waits up to wait for a job: it sleeps until the
// Notifier says the cluster may have work (an enqueue, a rescue, a blocker
// finishing), or PollInterval passes, and tries again. ErrEmpty when wait
// runs out; ctx's error when ctx ends first. This is the long poll behind
// the worker API: one query per wake-up, not per second per worker.
func (q *Queue) LeaseWait(ctx context.Context, cluster, workerID string, ttl, wait time.Duration) (Job, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// Take the channel before looking, so that a job enqueued between
		// the look and the wait still wakes us.
		woken := q.notifier.Wait(cluster)
		j, err := q.Lease(ctx, cluster, workerID, ttl)
		if !errors.Is(err, ErrEmpty) {
			return j, err
		}
		poll := time.NewTimer(q.poll)
		select {
		case <-woken:
		case <-poll.C:
		case <-deadline.C:
			poll.Stop()
			return Job{}, ErrEmpty
		case <-ctx.Done():
			poll.Stop()
			return Job{}, ctx.Err()
		}
		poll.Stop()
	}
}

// Extend moves the lease of job id to now+ttl, if leaseToken still holds
// it; *LeaseLostError (ErrLeaseLost) if not. A worker extends well before
// the lease runs out, every ttl/3 say, for as long as it works on the job.
func (q *Queue) Extend(ctx context.Context, id int64, leaseToken string, ttl time.Duration) (Job, error) {
	if err := checkTTL(ttl); err != nil {
		return Job{}, fmt.Errorf("extend lease of job %d: %w", id, err)
	}
	j, err := q.fenced(ctx, id, leaseToken, "", func(now time.Time) (string, []any) {
		return `lease_expires_at = ?, updated_at = ?`, []any{now.Add(ttl), now}
	})
	if err != nil {
		return Job{}, fmt.Errorf("extend lease of job %d: %w", id, err)
	}
	return j, nil
}

// Complete records that the worker holding leaseToken finished job id,
// with its result (SUCCESS, FAILURE…) and exit code: the job is completed
// whatever the build's outcome. Repeating the call with the same token
// returns the job as completed the first time, so a worker may retry a
// Complete whose answer it did not get. A token that no longer holds the
// job is a *LeaseLostError (ErrLeaseLost).
func (q *Queue) Complete(ctx context.Context, id int64, leaseToken, result string, exitCode int) (Job, error) {
	j, err := q.fenced(ctx, id, leaseToken, StateCompleted, func(now time.Time) (string, []any) {
		return `state = 'completed', result = ?, exit_code = ?, lease_expires_at = NULL, finished_at = ?, updated_at = ?`,
			[]any{clip(result), exitCode, now, now}
	})
	if err != nil {
		return Job{}, fmt.Errorf("complete job %d: %w", id, err)
	}
	return j, nil
}

// Fail records that the worker holding leaseToken could not run job id,
// and why. With retry, and attempts left, the job goes back to the queue
// on its next attempt; otherwise it is failed for good. Repeating a final
// Fail with the same token returns the job unchanged. A token that no
// longer holds the job is a *LeaseLostError (ErrLeaseLost).
func (q *Queue) Fail(ctx context.Context, id int64, leaseToken, reason string, retry bool) (Job, error) {
	j, err := q.fenced(ctx, id, leaseToken, StateFailed, func(now time.Time) (string, []any) {
		// again is true when the job goes back to the queue. SET reads the
		// row as it was, so every CASE sees the old attempt. (finished_at
		// is NULL while leased; "THEN finished_at" keeps it so and tells
		// PostgreSQL the type of the ? after ELSE.)
		const again = `CASE WHEN ? AND attempt < max_attempts THEN `
		return `state = ` + again + `'available' ELSE 'failed' END,
			attempt = ` + again + `attempt + 1 ELSE attempt END,
			lease_token = ` + again + `'' ELSE lease_token END,
			leased_by = ` + again + `'' ELSE leased_by END,
			finished_at = ` + again + `finished_at ELSE ? END,
			lease_expires_at = NULL, error = ?, updated_at = ?`,
			[]any{retry, retry, retry, retry, retry, now, clip(reason), now}
	})
	if err != nil {
		return Job{}, fmt.Errorf("fail job %d: %w", id, err)
	}
	return j, nil
}

// fenced applies the SET clause set makes to job id if leaseToken holds
// its lease, and returns the job after. When it does not, the job is read
// to say why: ErrNotFound, the job itself if it is already in state
// repeat under the same token (a retried call), else a *LeaseLostError.
func (q *Queue) fenced(ctx context.Context, id int64, leaseToken string, repeat State, set func(now time.Time) (string, []any)) (Job, error) {
	var j Job
	err := q.write(func() error {
		clause, args := set(q.clock())
		var err error
		j, err = scanJob(q.queryRow(ctx, `UPDATE queue_jobs SET `+clause+`
		WHERE id = ? AND state = 'leased' AND lease_token = ? RETURNING `+columns,
			append(args, id, leaseToken)...))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := q.get(ctx, id)
		switch {
		case err != nil:
			return Job{}, err
		case repeat != "" && leaseToken != "" && cur.State == repeat && cur.LeaseToken == leaseToken:
			return cur, nil
		}
		return Job{}, &LeaseLostError{ID: id, State: cur.State, Attempt: cur.Attempt}
	}
	if err != nil {
		return Job{}, err
	}
	switch j.State {
	case StateAvailable: // failed with retry
		q.metrics.retried.WithLabelValues(j.Cluster).Inc()
		q.notifier.Notify(j.Cluster)
	case StateCompleted, StateFailed:
		q.metrics.finished.WithLabelValues(j.Cluster, string(j.State)).Inc()
		q.finished(ctx, j)
	}
	return j, nil
}
