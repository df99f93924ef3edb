// Package worker is jenkinds worker: the queue worker a build cluster's
// admin runs inside the cluster. It speaks the worker API (package
// workerapi) with a Client that signs a fresh short-lived JWT with the
// cluster's private key for every request, and runs what it claims with an
// Executor: Shell (the job's steps with /bin/sh, in a clean directory and
// environment) or Jenkins (a build on a controller inside the cluster,
// through package jenkins).
//
// # The loop
//
// Each of Config.Parallel slots:
//
//	claim (long poll, Config.Wait) ──204──► claim again
//	   │ 200: job + lease token
//	   ▼
//	run the executor ─── extend every leaseTTL/3 ──409 lease_lost──► stop the job; report nothing
//	   │              └── upload the log every second (or 256 KiB), by byte offset
//	   ├─ it ran (any result) ───────────► complete {result, exitCode}
//	   ├─ it could not run ──────────────► fail {retry: true}   (ErrPermanent: retry false)
//	   └─ SIGTERM, still running after
//	      Config.DrainTimeout ───────────► stop it; fail {retry: true}: released to the queue
//
// On SIGTERM (Run's context ending) a slot stops claiming at once (an
// in-flight claim is abandoned; if the server had just leased it a job, its
// lease expires and the job is delivered again), and a running job gets
// DrainTimeout to finish before it is stopped and released. Complete and
// fail are retried for about a minute while the server cannot be reached
// (both are safe to repeat); after that the lease expires and the job is
// delivered again, which the queue's at-least-once contract allows: a job
// must tolerate running twice, and only one result is ever recorded.
//
// A worker whose first claim is refused for its setup (401, or 403 for a
// token of another cluster: a wrong key, kid or cluster) exits with the
// server's reason rather than retrying quietly. An inactive cluster, and
// any refusal after the first claim, is logged and retried with back-off.
package worker
