// Package queue is the per-build-cluster job queue. The database row is
// the job (as in River): one table, queue_jobs, on SQLite or PostgreSQL,
// holds every job from enqueue to its end, and a job is never deleted when
// it is handed out, only moved on. It owns queue_jobs and its SQL
// (migrations/, applied with db.Migrate(ctx, queue.Migrations)).
//
// # Job state machine
//
//	Enqueue
//	   │
//	   ▼        Lease: oldest first, blockers finished
//	available ─────────────────────────────────────────► leased ◄──┐ Extend (same token):
//	 ▲  │                                                  │ │  └───┘ expiry = now+ttl
//	 │  │ Cancel                                           │ │
//	 │  ▼                                                  │ ├─ Complete (same token) ─────────► completed
//	 │ cancelled ◄─────────────── Cancel ──────────────────┘ │
//	 │                                                       ├─ Fail, no retry or last attempt ─► failed
//	 │                                                       ├─ Rescue: lease expired on the
//	 │                                                       │  last attempt (delivery limit) ──► failed
//	 └── attempt+1, token cleared ◄── Rescue: lease expired ─┤
//	                              ◄── Fail(retry) ───────────┘  (both with attempts left)
//
// The failed-by-rescue job's error reads "lease expired on attempt N of N
// (delivery limit reached)".
//
// completed, failed and cancelled are final: nothing moves a job out of
// them. Attempt starts at 1 and counts deliveries; MaxAttempts (the
// delivery limit, 3 by default) bounds them, so a job that keeps killing
// its workers fails, visibly, instead of cycling forever.
//
// # The guarantee
//
// Delivery is at least once. A leased job belongs to the holder of its
// lease token until the lease is rescued; rescue happens only after
// lease_expires_at has passed, so a job is never leased to two workers
// while a lease on it is in force. After a rescue the job may be leased
// again while the first worker, cut off or just slow, still runs it: that
// is the "at least". What keeps the two apart is the fence: Extend,
// Complete and Fail take the lease token, and a token that no longer holds
// the job (rescued, cancelled, already finished, or simply wrong) gets a
// *LeaseLostError (ErrLeaseLost) and changes nothing. A stale worker can
// therefore never extend, complete or fail a job it lost, and only one
// result is ever recorded. Each call is one UPDATE … WHERE id = ? AND
// state = 'leased' AND lease_token = ?, atomic on both engines.
//
// A worker must:
//
//  1. Lease (or LeaseWait) with a TTL, and keep the token it gets.
//  2. Extend well before the TTL runs out (every TTL/3) for as long as it
//     works; if Extend answers ErrLeaseLost, stop the build at once: it was
//     cancelled (State cancelled) or someone else has it.
//  3. Finish with exactly one Complete (the build ran, whatever its exit
//     code) or Fail (it could not run; retry if another worker might
//     succeed). Both are safe to repeat with the same token after a network
//     error: the repeat answers with the job as first finished.
//  4. Treat the build as side-effecting at least once: a second delivery
//     can happen after a lost lease, so starting a build must tolerate a
//     previous attempt (the build's own state, fenced by attempt, decides).
//
// # blockedBy
//
// A job may name jobs it must wait for (Job.BlockedBy). It is leasable
// only when each of them is finished (completed, failed or cancelled) or
// no longer exists, and that is decided inside the same statement that
// takes the lease: a finished job never becomes live again, so no
// concurrent write can make the answer wrong. A blocker that failed or was
// cancelled releases its dependents too: blockedBy orders builds (it is
// Screwdriver's "do not run while that one runs"), it is not a success
// dependency, and holding dependents forever on a failed blocker is how
// Screwdriver's builds got stuck "Blocked by" finished builds. Finishing a
// job that others name wakes the clusters that wait on it.
//
// # Claiming, per engine
//
// PostgreSQL: one statement, UPDATE … WHERE id = (SELECT … ORDER BY id
// LIMIT 1 FOR UPDATE OF j SKIP LOCKED) RETURNING …, so concurrent lessors
// pass over each other's row. SQLite: the same statement without the lock
// clause; a writing statement holds SQLite's single write lock from its
// first read to its commit, and the Queue serialises its own writes with a
// mutex rather than let them spin in SQLite's busy handler.
//
// # Waking workers
//
// LeaseWait long-polls: it waits on the Notifier (in-process by default),
// which Enqueue, Rescue, Fail(retry) and the end of a blocker signal, and
// polls every PollInterval as a fallback for what no notification reached
// (another replica's enqueue).
//
// Errors and the HTTP status the worker API should answer with: ErrEmpty
// 204 (nothing to do; poll again), ErrLeaseLost 409 (stop working on the
// job), ErrNotFound 404, ErrFinished 409, ErrDuplicate 409,
// *ValidationError 400. Lease tokens never appear in logs, errors or Job's
// JSON.
package queue
