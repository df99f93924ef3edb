// Package dispatch owns the life of a build that jenkinds accepted, so
// that none is lost: it stores the build before the client gets its
// answer, places it on a controller of its cluster, follows it there to
// its result, and places it again when that controller dies, hangs,
// restarts or loses it. It owns the tables builds, build_attempts,
// build_numbers and build_scan_marks and their SQL (migrations/, applied
// with db.Migrate(ctx, dispatch.Migrations)).
//
// The front door presents the fleet as one Jenkins on top of Service:
// Submit (POST …/build, …/buildWithParameters), Get (the queue item: the
// build id is the global queue id), GetByNumber (…/job/X/N/), List,
// Cancel (queue/cancelItem), Stop (…/N/stop), Log (…/N/logText/
// progressiveText) and Job (whether a job exists, is buildable, takes
// parameters). Run runs the placer and the follower; it must be active on
// one jenkinds replica at a time (the server runs it under the leader
// lease, and gives it the lease's term as its Fence), every other method
// works on any replica. Wire the health authority in as Options.Health
// (its Verdict) and with monitor.Observe(svc.Observe) (its events wake
// the loops).
//
// # Parts
//
// Service (service.go) is the durable model and the public calls. Run
// starts, for each leader term, a placer (placer.go: placement and
// triggers) and a follower (follower.go, round.go, resolve.go, scan.go:
// rounds, re-dispatch, fencing, direct builds). The one thing they share
// is the gate (gate.go): the triggers in flight per controller. A
// controller's live facts (health, session, quieting down, executors,
// cooldown, live attempts) are its controller.Runtime's; dispatch keeps
// none of them. Every write of the placer and the follower runs in a
// transaction that first checks the term (Fence): a stale leader's late
// write is refused (ErrStaleLeader, jenkinds_dispatch_stale_writes_total).
//
// # Build state machine
//
//	Submit ─▶ accepted ──placer triggers attempt n+1──▶ placed ──its item became a build──▶ running ──its build ended──▶ finished
//	            ▲  ▲                                      │  │                                │
//	            │  └──── trigger refused or merged ───────┘  │                                │
//	            └─────── current attempt lost, attempts left ┴────────────────────────────────┘
//
//	accepted, placed ── Cancel ──────────────────────────────▶ cancelled
//	placed ──────────── its item cancelled on the controller ─▶ cancelled
//	placed, running ─── current attempt lost after a Stop ────▶ cancelled
//	placed, running ─── current attempt lost, none left ──────▶ failed
//	accepted ────────── the job is on no controller ──────────▶ failed
//
// finished, failed and cancelled are terminal. A build's global number is
// given the first time one of its attempts runs and kept across
// re-dispatch. Delay (not_before) holds an accepted build back; so does
// the back-off after a refused trigger; a build that no controller can
// take now (all draining, unhealthy, quieting down, at capacity, or
// without the job) waits, accepted, and is looked at again every
// PlaceInterval.
//
// # Attempt state machine
//
//	triggering ──201 Location──▶ queued ──build──▶ running ──ended──▶ finished   (the one counted result)
//	   │   │                       │                 │
//	   │   └─ refused / merged ─▶ refused            │
//	   │                           ▼                 ▼
//	   └─ answer lost and not ─▶ superseded ◀── controller lost (health's Verdict) or
//	      found by content         │            unregistered; restarted and lost it; item or
//	      within AmbiguousGrace    │            build vanished; build cancelled
//	                               ▼  fencing, as soon as a round reaches the controller
//	                            fenced: stopped | cancelled | ended | gone
//
// An attempt row is written (triggering) before its trigger is sent, with
// the controller's X-Jenkins-Session and the job's nextBuildNumber there
// (the floor: its build cannot have a lower number). When the trigger's
// answer is lost — a timeout, a connection cut after sending, jenkinds
// stopped mid-request — the attempt stays triggering and the follower
// looks for it by content: a queue item or a build of that job, numbered
// at or above the floor, with the build's parameters, that no other
// attempt holds. Found, it is adopted; not found within AmbiguousGrace on
// a controller that answers, the build is placed again.
//
// # The guarantee
//
// At-least-once start. A build is a committed row before Submit returns,
// and leaves the unfinished states only through a recorded transition; the
// placer places every accepted build until one of its attempts runs, so
// every accepted build starts on some controller at least once — unless it
// is cancelled, its job exists on no controller of its cluster, or
// MaxAttempts of its attempts were lost (then it fails with the reason).
// It may start more than once. One Submit that succeeds is one row: a
// commit that failed on a lost connection is retried (for up to 16s) only
// once the server says it did not commit (see commitBatch).
//
// Exactly one counted result. Only the build's current attempt
// (builds.current_attempt) counts. Every write is a conditional UPDATE on
// the state it expects and, for a build, on current_attempt, so the result
// of a superseded attempt — late, repeated, or from a controller that came
// back — changes nothing; a finished build has exactly one attempt in
// state finished, and the result is that attempt's backend result.
//
// The overlap window. Two attempts of one build run at once only when
// jenkinds supersedes an attempt that is in fact alive: its controller was
// declared unhealthy (hung, cut off) or unregistered while the build went
// on, or a trigger's answer was lost and its queue item turned up after
// the build was placed again. The old attempt then runs from its
// supersession until the first follow round that reaches its controller
// again — at most FollowInterval after that controller is healthy again
// (the health monitor's Rise probes) — which stops its build (POST
// …/stop) or cancels its queue item and records so on the attempt
// (fenced: stopped, cancelled). If the controller never comes back, the
// old attempt may run to its end there, unseen and never counted. Builds
// lost in a restart do not overlap: Jenkins reloads a running build as
// ended, so it is dead before the next attempt starts; a queue item that
// survives the restart (Jenkins persists its queue) is kept, not placed
// again. An attempt whose answer was lost and whose item is never
// recognised within FenceWindow is closed as gone; should it run later it
// is seen as a direct build.
//
// # Placement
//
// The placer takes due accepted builds, oldest first, in batches of
// BatchSize, and picks for each, with its cluster's balance policy
// (Config.Strategy; least-load by default), among the controllers of the
// cluster whose job inventory has the job buildable and that may take a
// build now (controller.Runtime.Eligible: active, not draining, not
// unhealthy, not quieting down, not cooling down after a refused trigger,
// and below its build capacity: twice its online executors, as the health
// authority's probe read them, so that a build is ready whenever an
// executor frees; the proxy's maxConnections plays no part). A
// controller's load is the attempts jenkinds has live there (counted
// down as soon as a follow round sees one end), plus the builds that are
// not jenkinds' as the last probe counted them, plus those placed in the
// batch. A cluster with no controller that can take a build is not read:
// its builds wait, costing nothing, until a build ends (the follower wakes
// the placer), a build arrives, or health changes — a deep backlog on a
// full cluster does not make the placer spin. When a batch fills the
// cluster, the builds left in it are not postponed: they are first in
// line for the room the next build to end leaves. Only a build that
// cannot go where there is room (its job is only on full controllers)
// is postponed by PlaceInterval, so that it does not hold up the builds
// behind it. While builds of a cluster wait, its controllers running
// jenkinds' builds are followed every BusyFollowInterval (100ms) instead
// of FollowInterval: a backlog of short builds drains at the rate the
// executors allow (bench/builds, PHASES=backlog). A batch is claimed in one
// transaction (placed, attempt written with the job's re-dispatch policy),
// then triggered with the controller's API token (no crumbs): POST
// job/X/buildWithParameters for a parameterized job, job/X/build
// otherwise, always with delay=0sec. A refused trigger (an HTTP error, a
// refused connection) puts the build back with a back-off; 303, or a
// queue id another live attempt holds, means Jenkins merged it into an
// identical waiting item: back too.
//
// The job inventory is kept in memory per controller (see inventory.go
// for why), read with one nested tree= request per controller every
// InventoryInterval, and at once when a Submit names a job no controller
// is known to have.
//
// # Following
//
// Each controller gets a follow round every FollowInterval (back-off while
// it fails; BusyFollowInterval while builds of its cluster wait and it
// runs some of jenkinds'), at most Rounds at once. A round makes a few requests,
// however many builds are in flight: the running builds of all executors
// (one computer/api/json tree= request, when it has attempts with a
// build number), the queue (queue/api/json?tree=items[id], with jobs and
// parameters only when something must be recognised by content), and for
// each job that has attempts whose queue item left, whose build ended, or
// new builds to scan: allBuilds[…]{a,b} pages from the newest build down
// to the oldest one it needs (parameters are read in a second request
// only for builds no attempt holds). For the direct-build scan a round
// reads back to the job's scan mark however many builds ended since, up
// to 100 pages of Window: no direct build is skipped; if even that does
// not reach the mark, the job is not scanned this round and the mark
// stays. An attempt's build older than what was read is read one by one
// (at most 50 a round), and a queue item that left without
// its build in the page is asked for at queue/item/N (Jenkins keeps left
// items five minutes). What a round decides is stored in one transaction.
//
// Between reading a controller and reading its attempts, a round waits
// for the triggers to that controller in flight to store their outcome
// (gate.Quiesce): so every build it read that a trigger of ours caused is
// already recorded as ours when it is classified.
//
// # Re-dispatch
//
// A build's current attempt is superseded and the build goes back to
// accepted (attempt + 1 follows) only on evidence that its controller lost
// it — never because jenkinds was slow to see it:
//
//   - its controller is unhealthy and the health authority's Verdict says
//     it is lost: a refused or reset connection with no answer since (its
//     process is gone), or no answer at all — probes, proxied requests,
//     rounds, late answers to timed-out probes — for RedispatchAfter,
//     counted only while jenkinds itself ran on time. While the cluster is
//     frozen by a mass failure (at least half its controllers turned
//     unhealthy within one probe interval), silence moves only attempts
//     that have not started; running ones stay (and
//     jenkinds_dispatch_redispatch_withheld_total counts it). A controller
//     unregistered for RedispatchAfter is lost too;
//   - its controller restarted (new X-Jenkins-Session, seen by a round) and
//     the build had been running: Jenkins reloads it FAILURE without the
//     console's "Finished:" line; a FAILURE with that line is a real
//     failure and counts;
//   - its queue item vanished without a build, in the same session, or did
//     not survive a restart; or its build is gone (job deleted);
//   - its trigger's answer was lost and nothing of it turned up within
//     AmbiguousGrace.
//
// What happens to a build whose attempt is lost after its build started
// depends on the re-dispatch policy the attempt was placed under
// (policy.go: per cluster, overridden per job; recorded on the attempt):
// PolicyAlways places it again; PolicyQueuedOnly fails it with the reason
// (deploys: never run twice). An attempt lost before its build started is
// placed again under either.
//
// Attempts that reached a controller count toward MaxAttempts (refused and
// merged triggers do not); the build fails when the last one is lost. A
// build whose Stop was asked is cancelled instead of placed again.
//
// # Global ids and direct builds
//
// The global queue id of a build is its row id. The global build number of
// a (cluster, job) comes from build_numbers, taken in the transaction that
// records the build's first running attempt, so numbers never collide and
// are dense. Builds started on a controller directly (cron, SCM
// polling, a user there) are recorded too: the follower keeps, per
// controller and job, the highest backend build number it has classified
// (build_scan_marks; it starts just below the job's nextBuildNumber when
// jenkinds first sees the job, so older history is not imported). Each
// newer build that no attempt holds, and that cannot be one of our
// attempts still being looked for (same queue id, or fitting parameters),
// becomes a build with cause direct, one finished or running attempt on
// that controller, and the next global number of its (cluster, job) at the
// moment jenkinds first sees it. Global numbers are therefore ordered by
// when jenkinds saw each build start, which across controllers is not
// always the order in which they started. A direct build is followed to
// its end but never placed again: jenkinds did not ask for it.
//
// # Errors and the status the front door answers
//
//	error                         Jenkins status
//	ErrUnknownJob                 404
//	ErrNotBuildable               409 "… is not buildable"
//	ErrNotParameterized           400 "… is not parameterized"
//	ErrNotFound                   404 (queue item, build)
//	ErrFinished                   422 (cancelItem on an item that left the queue)
//	ErrInvalid (*ValidationError) 400
//	*BackendError                 503 when Unavailable(), else 502
package dispatch
