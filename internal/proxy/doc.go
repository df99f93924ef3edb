// Package proxy is jenkinds' front door: one reverse proxy
// (net/http/httputil.ReverseProxy) in front of every controller cluster.
//
// # Which controller
//
// A request's cluster comes from its Host (a cluster whose controllers'
// loadBalancerUrl has that host), else the default cluster. Within it:
//
//   - /wsagents/ WebSocket agents go to the controller that owns the agent
//     named in Node-Name (learned from each controller's /computer/api/json).
//   - Browser sessions are sticky: to the controller that issued their
//     JSESSIONID.<hex> cookie (learned from Set-Cookie), else to the one in
//     jenkinds' own affinity cookie. If that controller is no longer
//     available the session moves; the new controller's own login page
//     tells the user to sign in again.
//   - Everything else (API calls with a token) goes where the cluster's
//     policy (least-load by default, counting jenkinds' in-flight requests)
//     points.
//
// # Failover
//
// Every answer, every failed attempt (a dial error, reset, timeout or
// 502/503/504) and every request left unanswered past the hedge deadline
// is reported to the health authority (package health, passive health),
// which decides whether the controller leaves the pool — the front door
// never writes a controller's health itself. A request that failed before
// anything was sent, and an idempotent request without a body (GET, HEAD,
// OPTIONS), is retried on another controller, up to TryBudget attempts.
// Short idempotent API requests are hedged: if no response has come after
// HedgeAfter, the same request goes to another controller and the first
// answer wins (a hung controller costs no failed request, and the slow
// attempt is reported to health as Hung). Long-lived routes (progressive
// logs, console text, artifacts, workspaces, WebSockets, CLI) are never
// hedged or replayed. A request whose bytes may have reached a controller
// is never replayed unless it is idempotent. With no eligible controller
// the answer is 503 with Retry-After and the reason.
//
// # Rewriting
//
// X-Forwarded-For/Proto/Host/Port are set so Jenkins builds its absolute
// URLs for the front door; Location headers of redirects and 201s that
// point at a controller are rewritten to the front door, trailing slash
// kept. /tcpSlaveAgentListener/ answers advertise a per-controller TCP
// pass-through port that the proxy opens, so inbound TCP agents reach
// their own controller.
package proxy
