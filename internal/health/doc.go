// Package health is the one authority on the health of jenkinds'
// controllers. It decides every transition of a controller's health, from
// two kinds of evidence, as Caddy's healthchecks.go does:
//
//   - active: it probes every active controller on its own schedule;
//   - passive: the front door and jenkinds' own clients report what they
//     see between probes — failed requests (Failure), requests that got no
//     answer in time (Hung), answers (Answered, and every answer of a
//     runtime's client) and new X-Jenkins-Session values (the runtimes'
//     Restarted hook).
//
// It writes the verdict on the controller's controller.Runtime (the one
// record every policy reads), on its database row (for the API), in
// metrics, and as an Event in its log (table health_events, readable
// through the admin API and `jenkinds instances events NAME`). No other
// package changes a controller's health.
//
// # Probe
//
// One probe is: the controller's healthCheckUrl if configured (must answer
// 2xx), then /api/json?tree=quietingDown,mode (X-Jenkins, X-Jenkins-Session),
// /computer/api/json?tree=… (busy and total executors, online agents) and
// /queue/api/json?tree=items[id] (queued items), all with the controller's
// API token and under one timeout. The load is CloudBees' measure: running
// builds + queued items + online agents. Probes run concurrently, at most
// Concurrency at once, each under its own timeout, so one slow controller
// never delays the others.
//
// # State machine
//
// Every edge, with what takes it (each is one Event of kind transition,
// with its source):
//
//	from        to          when                                                    source
//	unknown     healthy     the first probe passes                                  probe
//	unknown     degraded    the first probe answers slowly, quieting down, or no    probe
//	                        online executor
//	unknown     unhealthy   the first probe fails (error, timeout, 5xx, 503)        probe
//	healthy     degraded    a probe answers slowly, quieting down, no executor      probe
//	degraded    healthy     a probe passes                                          probe
//	healthy,    unhealthy   Fall probes fail in a row                               probe
//	degraded
//	healthy,    unhealthy   PassiveFailures failed requests within PassiveWindow,   passive
//	degraded,               or a request waiting on it while it answered nothing
//	unknown                 for two hedge deadlines (Hung)
//	unhealthy   healthy,    Rise probes in a row answer                             probe
//	            degraded
//
// A probe that timed out or answered slowly while jenkinds itself was
// starved is inconclusive: it takes no edge and counts toward no
// threshold (the observer's slowness is not the observed's). Unhealthy
// controllers are probed every UnhealthyInterval instead of Interval, and
// a passive ejection has the controller probed at once: its way back is
// always decided by probes. A new X-Jenkins-Session, seen by anyone, is a
// restart: an Event of kind restart, counted once.
//
// # Dead or slow (Verdict)
//
// The dispatcher places the running builds of a controller elsewhere only
// on evidence that the controller lost them. Its follower sees for itself
// a restart (a new session) and a build or queue item that vanished; for a
// controller it cannot read because it is unhealthy, it asks Verdict:
//
//   - its process is gone: a connection was refused or reset and nothing
//     answered since (Hard): lost now;
//   - it answered nothing at all — no probe, no proxied request, no request
//     of jenkinds' own — for the dispatcher's RedispatchAfter, counting
//     only time during which jenkinds itself was not starved: lost. A
//     probe that timed out still waits for its answer in the background
//     for Patience (one at a time per controller): a late answer is an
//     answer, so a controller slower than the probe's timeout is slow,
//     not silent;
//   - otherwise not lost: a controller that answers, however slowly, keeps
//     its builds.
//
// Two freezes hold silence-based re-dispatch of builds that already
// started (builds still waiting in the controller's queue may move; Hard
// evidence is never frozen):
//
//   - mass failure: at least half of a cluster's active controllers (and
//     at least two, unless it has one) turned unhealthy within one probe
//     Interval. As Kubernetes' node lifecycle controller stops evicting
//     when most of a zone goes NotReady at once, jenkinds then suspects
//     itself or the network between before it suspects every controller.
//     It thaws when fewer than that many are unhealthy.
//   - starvation: a timer of jenkinds' own fired StarvedLag late (Lag). It
//     thaws after max(2s, UnhealthyInterval) on time; silence counts from
//     the end of it either way.
//
// Every freeze and thaw is an Event (kind freeze or thaw; Cluster "" for
// starvation) and the gauge jenkinds_redispatch_frozen{cluster}. To move
// the running builds of a frozen cluster by hand, deregister (or
// deactivate) the controllers that hold them.
//
// # Replicas
//
// Every jenkinds replica probes and decides for itself (the front door of
// each needs a current verdict); each writes its events marked with its
// name, and the controllers table holds whichever replica recorded last.
package health
