// Package catalog is jenkinds' read model of its controllers: what it
// knows of each controller's jobs, and the answers its controllers gave to
// the reads the front door serves, kept in memory so that a client's read
// is answered without waiting on a controller.
//
// # Jobs
//
// Per controller, the jobs (in folders), whether each is buildable, its
// parameter definitions with their defaults, and its nextBuildNumber: one
// request with a nested tree= per controller (Refresh), made by the
// dispatcher's follower every InventoryInterval, by Job when a name is
// found nowhere, and again after jenkinds wrote jobs (JobsChanged); a
// read of a controller's jobs that was under way when jenkinds wrote there
// may predate the write, so it is not kept, and lookups after the write
// do not share it.
// Build numbers the follower sees between two reads raise a job's floor
// (SawNext, Floor). The dispatcher places builds by it; the front door
// answers whether a job exists, takes parameters and is buildable by it.
//
// # Plugins
//
// Per controller, its Jenkins version and plugins (PluginsOf): one read of
// the plugin manager, kept for MaxStaleness, one read at a time per
// controller, and read again at once when the controller answered jenkinds
// from a new X-Jenkins-Session (it restarted: plugins change only then).
// Package plugins compares them across a cluster.
//
// # Reads
//
// Get keeps each controller's answer to a GET (status, the few headers
// that matter, body) per path, query and scope — the caller's credentials,
// hashed, since Jenkins decides what each caller may see; or jenkinds' own
// token. An answer younger than MaxStaleness (1s by default) is served as
// it is; an older one is read again, once however many callers want it,
// and a caller waits for that at most HedgeAfter: past it, it is served
// what was read before, or nothing, and the controller is reported to the
// health authority as hung (Hung), which takes it out of the pool. Until
// that controller answers something again, no caller waits for it at all.
// So a controller that freezes costs one client the hedge deadline, the
// others nothing, and none a failed request while another controller can
// answer.
//
// Every write jenkinds makes through the front door marks what it makes
// stale: JobsChanged (createItem, config.xml, doDelete) marks every read
// of the cluster's controllers, so that the next read of each is made
// again before it is served — a client reads its own writes — and Changed
// (a trigger, a stop, a cancel; builds a follow round saw start, end or
// appear) bumps the cluster's Version, which keys what the front door
// rendered from builds: a client that saw a build start never reads an
// older job after. (On another replica than the leader, rendered answers
// still follow builds within MaxStaleness.)
//
// Reads kept are bounded (MaxReads); the ones used longest ago go first.
package catalog
