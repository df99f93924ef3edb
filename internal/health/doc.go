// Package health watches every active controller: it probes each one on its
// own schedule, reads its load from the Jenkins API, concludes a health
// status with rise/fall thresholds, and records the result on the
// controller's Runtime (for the balancer and the front door), in the
// database (for the API) and in metrics.
//
// # Probe
//
// One probe is: the controller's healthCheckUrl if configured (must answer
// 2xx), then /api/json?tree=quietingDown,mode (X-Jenkins, X-Jenkins-Session),
// /computer/api/json?tree=… (busy and total executors, online agents) and
// /queue/api/json?tree=items[id] (queued items), all with the controller's
// API token and under one timeout. The load is CloudBees' measure: running
// builds + queued items + online agents.
//
// # State machine
//
//		            ok ×rise                       fail ×fall
//		unhealthy ───────────▶ healthy/degraded ─────────────▶ unhealthy
//		    ▲                        ▲    │
//		    │ first probe fails       └────┘ ok/degraded: immediately
//		 unknown ─── first probe answers ───▶ healthy/degraded
//
//	  - healthy: answered within the slow threshold, not quieting down, has
//	    online executors.
//	  - degraded: answered, but slowly, or quieting down, or with no online
//	    executor. Eligible for new work only when no healthy controller is.
//	  - unhealthy: error, timeout, 5xx, or 503 while restarting, Fall times in
//	    a row (once suffices from unknown). Out of the pool until Rise
//	    probes in a row answer. Unhealthy controllers are re-probed every
//	    UnhealthyInterval instead of Interval.
//
// A X-Jenkins-Session different from the last one seen means the
// controller restarted; it is logged, counted, recorded (restartCount) and
// reported to observers (the dispatcher re-places builds on it).
//
// Probes run concurrently, at most Concurrency at once, each under its own
// timeout, so one slow controller never delays the others.
package health
