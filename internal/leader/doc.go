// Package leader elects the one jenkinds replica that runs the loops that
// must run on exactly one at a time (the durable build dispatcher, the
// job-sync retry loop), with a lease kept in the shared database, on SQLite
// and PostgreSQL alike. It owns the table leader_leases, one row per lease
// name, and its SQL (migrations/, applied with db.Migrate(ctx,
// leader.Migrations)).
//
// # Lease state machine (one replica's view)
//
//	follower ──TryAcquire: no row, or it expired──▶ leader, new term (epoch+1)
//	leader ───TryAcquire before the deadline──────▶ leader, same term (expiry moved on)
//	leader ───renewal finds another holder,
//	          fails, or comes after the deadline ─▶ follower
//	leader ───Release (Run: ctx ended) ───────────▶ follower; the row expires at once
//
// Taking and renewing are one statement, INSERT … ON CONFLICT (name) DO
// UPDATE … WHERE holder = me OR expires_at <= now, so the database, not
// the replicas, decides who wins: whatever the interleaving, one holder per
// row. A term runs from taking the lease to losing or releasing it. Each
// term gets an epoch greater than every earlier term's (the same holder
// taking the lease again after it lapsed or was released starts a new
// term): the fencing token.
//
// # Takeover
//
// A replica that fails to take the lease reads when it expires and, under
// Run, tries again at that moment (plus 5ms), as well as every Renew. So a
// leader that dies without releasing the lease is replaced at most the TTL
// (plus those milliseconds and the statement's round trip) after its last
// renewal, by the standby's clock; one that releases it (Run's ctx ended)
// is replaced at the standbys' next try, within Renew.
//
// # Guarantee and its limits
//
// A holder reads its clock (Clock.Now, injected) before it sends the
// statement; with that reading t the lease expires at t+TTL, and the
// holder counts itself leader only until its deadline, t+TTL−margin, with
// margin = Renew/2 (2.5s by default). Held turns false then, and Run
// cancels the work's context then even when the renewal is stuck. Another
// replica can take the lease only once its own clock passes t+TTL. So the
// old leader's work is told to stop before a new leader can start,
// provided that
//
//   - the replicas' clocks agree to within the margin, less the time the
//     work takes to return once cancelled (NTP keeps them within
//     milliseconds);
//   - the work returns promptly when its context is cancelled; and
//   - the process is not paused. A process stopped for longer than the
//     margin (a long GC pause, SIGSTOP, a frozen VM) cannot fire its
//     timers: its work may run past the expiry, beside the next leader's,
//     for as long as the pause lasted beyond the margin.
//
// # Fencing
//
// Where that overlap would do harm, fence the write on the epoch: Run
// hands the work its Term, and Term.Check, run inside the write's
// transaction before the write, fails with ErrStale (which wraps ErrLost)
// unless the term is still live by its Lease's clock and the lease's row
// still names this holder and epoch. On PostgreSQL Check locks that row
// FOR SHARE until the transaction ends, and on SQLite the transaction
// holds the one write lock from its BEGIN IMMEDIATE, so a takeover waits
// for the write to commit: a stale leader's write either commits before
// the next term begins or is refused, never after. Code that must accept
// a fence but runs without a lease uses NoFence.
package leader
