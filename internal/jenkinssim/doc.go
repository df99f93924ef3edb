// Package jenkinssim simulates Jenkins controllers faithfully enough that
// real Jenkins clients (python-jenkins, jenkins-job-builder, gojenkins)
// work against it unmodified. It stands in for Jenkins in every test,
// benchmark and demo of jenkinds, so every behaviour here follows
// ../shared/research/jenkins-api.md (paths, statuses, headers, JSON field
// names and order, _class values, tree=/depth= rules).
//
// # One controller
//
// A Controller is one simulated Jenkins process on a loopback port. It has
// jobs (freestyle, pipeline, folders), a queue with a quiet period, nodes
// with executors (the built-in node plus agents), builds whose duration and
// result are scripted, users with an API token and a password, sessions and
// CSRF crumbs.
//
// Simulated process life cycle:
//
//	running ──restart/safeRestart──▶ restarting (503 on every URL) ──▶ running (new X-Jenkins-Session)
//	running ──Down()──▶ down (listener closed, connections reset) ──Up()──▶ running (new X-Jenkins-Session)
//
// What survives a restart or a crash is what real Jenkins keeps on disk:
// job definitions, finished builds, and queue items that had not started
// (queue.xml). What does not: running builds (they are reloaded as finished
// with result FAILURE, as Run.reload's defensive default does for a build.xml
// without a result), LeftItems (an in-memory cache), sessions and crumbs (a
// new JSESSIONID.<8hex> cookie name), and the queue id counter, which
// restarts after the highest persisted item id (so ids of items that had
// already left are reused, as on a real controller).
//
// # Scripted builds
//
// A build's duration and result come from, in order: the build's own
// parameters SIM_DURATION_MS ("250", or a range "100-900") and SIM_RESULT
// (SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED); the job's JobSpec; the
// controller's defaults. Jobs created from config.xml get their parameter
// definitions from it, so a job whose config defines SIM_* parameters can be
// scripted through the Jenkins API alone.
//
// # Faults
//
// Faults are injected from Go (Down, Up, Hang, Slow, FailWith, Restart,
// SetAgentOffline, SetExecutors, Schedule) or over HTTP under /__sim/, a
// prefix real Jenkins does not use: POST /__sim/faults {"kind":…,"after":…,
// "for":…}, DELETE /__sim/faults, GET /__sim/state. /__sim/ needs no
// credentials and is exempt from hang, slow and error faults (not from down).
package jenkinssim
