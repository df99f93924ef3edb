// Package jobsync defines jobs once for a whole cluster: the front door
// hands it Jenkins' job writes — POST createItem, POST config.xml,
// doDelete and DELETE — and it applies each to every active controller of
// the cluster, remembers the controllers that missed it and retries them
// until they hold it, and compares the definitions the controllers hold
// (drift), so that active/active controllers work without shared storage.
// It owns the table job_sync_pending and its SQL (migrations/, applied
// with db.Migrate(ctx, jobsync.Migrations)).
//
// # What a write does
//
// The front door authenticates the user, picks the cluster, routes the
// path as Stapler does (package fleet) and calls ServeCreateItem,
// ServeConfigXML or ServeDelete. The
// request is first checked as Jenkins checks it, with Jenkins' answers
// (../shared/research/jenkins-api.md §6.2): createItem needs POST (405),
// a name (400 "Query parameter 'name' is required"), a good name (400
// "‘?’ is an unsafe character"), a Content-Type of application/xml or
// text/xml (400); a config.xml must be one well-formed XML document (500
// "Unable to read config.xml", as Jenkins answers) of at most
// MaxConfigBytes (400). mode=copy&from=J copies J's config.xml, read from
// one controller ("No such job: J", 400).
//
// Then, holding the job's lock in this process, the write is sent with the
// client's own credentials (its Authorization header) to the controllers
// one after the other until one applies it: Jenkins decides whether the
// caller may create, configure or delete the job, and its 401, 403 or
// refusal is the answer, with nothing written elsewhere. Once one applied
// it, the write goes to every remaining active controller of the cluster
// in parallel (an unhealthy one is not asked: it is behind at once), each
// with that controller's API token and RequestTimeout. Reads of config.xml
// (GET, mode=copy) are made with the client's credentials too. A controller's answer is one of (backend.go, classify):
// applied (2xx, 302 for doDelete); exists (createItem: 400 "A job already
// exists"); not found (404); refused (any other 4xx, and 500 — Jenkins'
// answer to a config.xml it cannot load); unavailable (no answer, timeout,
// 502/503/504, or 401/403, which is jenkinds' token failing there, not the
// client's fault).
//
// The write is accepted when at least one controller applied it. Then:
//
//   - create: controllers that already had the job get this config.xml
//     (POST config.xml): a create that is accepted makes this the job's
//     definition everywhere, so a createItem repeated after a partial
//     failure converges;
//   - update: controllers that lack the job get it created (createItem in
//     its folder) with this config.xml;
//   - delete: controllers that did not have the job count as done.
//
// Every controller that still does not hold the write gets it as its
// pending write of the job — in the same transaction that clears the
// pending writes of the job on the controllers that did apply it — before
// the client is answered. The answer is Jenkins' success (createItem and
// config.xml 200 with an empty body; mode=copy and doDelete 302 to the
// new job or to the parent folder on the front door's origin; DELETE 204)
// with the header
//
//	X-Jenkinds-Sync: 2/3 controllers; retrying on jenkins-2
//
// and a warning in the log per controller left behind. If those pending
// writes cannot be stored the answer is 500 (the client must send it
// again), never a 2xx.
//
// A write no controller applied is not accepted and leaves nothing
// pending: a create that some controller answered "already exists" gets
// that answer (400 with X-Error); otherwise the answer most controllers
// that judged the write gave (their status, X-Error and page: 404 when
// none has the job, the lowest controller id on a tie); when none could
// judge it, 503 with Retry-After (as the front door's own "no controller"
// answer). We chose not to record a write we answered 503 to: the client
// was told it failed and will send it again or not, and applying it later
// behind its back could undo a later decision. Every answer of a write
// that was sent to the controllers carries X-Jenkinds-Sync ("0/3
// controllers" when none applied it).
//
// Reads of config.xml (GET, HEAD) go to one controller, preferring the
// ones with no pending write of the job (they hold its latest accepted
// definition), healthy before degraded, then the least loaded; the next
// one when a controller does not answer.
//
// # Pending writes (the retry queue)
//
// One row per (controller, job): the op (create, update, delete), the
// config.xml, attempts, the last error and the next attempt time. A later
// accepted write of the same job replaces the row of each controller it
// missed (version+1), and clears it on each controller it reached; a
// delete also drops the pending writes of the jobs inside the deleted one
// (a folder) on those controllers.
//
//	accepted write missed controller C ──▶ pending(C, job, op, v)
//	pending ──Retry: C active and not unhealthy, due, claimed (lease)──▶ sent under the job's lock
//	sent ──C holds it──▶ row removed
//	sent ──C does not──▶ attempts+1, next = now + RetryBase·2^(attempts-1) (at most RetryMax)
//	pending ──a newer accepted write of the job──▶ replaced (C missed it too) or removed (C got it)
//	pending ──C unregistered for ForgetAfter──▶ dropped
//
// Run calls Retry every PollInterval. A retry is sent so that it
// converges whatever C holds: a create that finds the job updates its
// config.xml, an update that finds none creates it, a delete that finds
// none is done — so a retry of a send whose answer was lost (and which
// may have been applied) is harmless. Rows of an unhealthy or inactive
// controller wait without counting attempts; when the health monitor
// marks a controller healthy again after unhealthy, its rows become due
// at once. Concurrency bounds the sends of a round; BatchSize the rows it
// takes.
//
// # Convergence guarantee and its limits
//
// A write answered 2xx is applied on every controller that was active in
// the cluster when it was accepted, eventually, as long as the
// controller comes back and accepts it (at least once: repeats are
// harmless, see above), unless a later accepted write of the same job
// supersedes it, which then converges in its place. Within one process a
// front-door write and a retry of the same job never interleave (a
// per-job lock, and the retry re-reads its row under that lock), so an
// older definition never lands after a newer one. The limits:
//
//   - Two replicas writing the same job at the same moment are not
//     serialised: each controller keeps the last one it received, which
//     may differ between controllers. The drift check shows it; the next
//     write of the job repairs it.
//   - A controller that keeps refusing a write (say, a plugin the config
//     needs is missing there) keeps its pending row, retried at RetryMax,
//     visible in jenkinds_job_sync_pending and GET …/drift with its last
//     error, until it accepts or a later write of the job replaces it.
//   - A controller that was inactive, added later, or changed outside
//     jenkinds (the Jenkins UI, direct API calls) is not repaired: only
//     writes through the front door are replayed. Drift finds it.
//   - A write refused or unanswered everywhere (4xx, 503) changes nothing
//     and is not retried; a crash between the controllers' answers and the
//     commit of the pending rows leaves the client without an answer and
//     the cluster partly written, until the client repeats the write.
//   - Retries of jobs inside folders may fail until the folder's own
//     pending create has been applied (rows are independent); they are
//     retried with back-off and converge once it is.
//
// Run may run on several replicas at once: a row is claimed with a
// conditional UPDATE and a lease before it is sent, so two rounds do not
// send the same row at the same time, but a round of one replica is not
// serialised with a front-door write of another (see above). The server
// runs it on the leader only.
//
// # Drift
//
// Drift(ctx, cluster) lists the jobs and folders of every active
// controller (one tree= request each, ten folder levels deep), reads each
// one's config.xml from every controller that has it (Concurrency at
// once), and compares the SHA-256 of each normalised config.xml (no
// declaration or byte order mark, \n line ends, no trailing blanks; the XML
// is not re-formatted). Each job is in_sync, differs (every controller has
// it, not every one the same), missing (some controller lacks it), or
// unknown (a config.xml could not be read). A controller that cannot be
// listed is reported with its error; its jobs count as unknown there, not
// missing. The report also lists the pending writes, and marks the jobs
// that have one (their difference is expected to go away). Each check
// sets jenkinds_job_drift{cluster} = differs + missing; Run checks every
// cluster every DriftInterval.
//
// # Metrics
//
// jenkinds_job_drift{cluster}, jenkinds_job_sync_pending{cluster} (rows,
// refreshed after each retry round and each write that left rows) and
// jenkinds_job_sync_failures_total{cluster} (sends of accepted writes a
// controller did not apply, first sends and retries), registered by
// Register.
package jobsync
