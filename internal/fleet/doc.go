// Package fleet presents the controllers of a cluster to Jenkins clients
// as one Jenkins, on the front door. It answers the part of the Jenkins
// remote API that has to span controllers itself, and hands everything
// else to the proxy:
//
//   - Triggers. POST /job/…/build and /job/…/buildWithParameters become
//     durable builds (package dispatch): 201 with Location
//     <front door>/queue/item/<global id>/, 303 when an identical build
//     waits already (buildWithParameters), 400/404/405/409 as Jenkins
//     answers them, delay= honoured.
//   - The queue, in the global id space: GET /queue/item/N/api/json,
//     GET /queue/api/json (the builds that wait in jenkinds: accepted, or
//     placed and not yet running), POST /queue/cancelItem?id=N (204, 404, 422) and the
//     deprecated /queue/item/N/cancelQueue (204).
//   - Builds by global number: /job/X/N/api/json, consoleText,
//     logText/progressiveText, stop and the permalinks (lastBuild,
//     lastSuccessfulBuild, …) map to the controller and backend number of
//     the build's counted attempt; url, number, id, displayName and
//     queueId are rewritten to the front door's. Anything else under a
//     build (artifacts, test reports, the HTML page) is proxied to that
//     controller with the number rewritten.
//   - Aggregated reads, as CloudBees CI's replicas give them:
//     /job/X/api/json (builds, allBuilds, the permalinks, nextBuildNumber,
//     inQueue, queueItem, color from jenkinds' history of the job across
//     controllers; the rest from a controller that has the job),
//     /api/json (jobs merged across controllers), /computer/api/json
//     (every controller's nodes), /queue/api/json. tree= and depth= apply
//     as on Jenkins; unlike CloudBees, tree= is not mandatory.
//   - Job definitions, when a JobWriter is given: POST /createItem,
//     /job/X/config.xml and /job/X/doDelete (and DELETE /job/X/) write to
//     every controller of the cluster (package jobsync).
//
// Paths are read as Jenkins' Stapler reads them (docs/stapler-dispatch.md):
// empty and dot segments do not count, each segment is decoded on its own,
// an action (build, cancelItem, consoleText, api/json, …) is matched on its
// name whatever follows it, and a ';' in the path is 400. So no spelling of
// a path that Jenkins would send to one of these answers reaches a single
// controller, which would answer in its own numbering or start a direct
// build.
//
// # Who is served here
//
// Requests that carry an Authorization header (API clients: python-jenkins,
// gojenkins, jenkins-job-builder, curl -u user:token) are answered here.
// The caller is authenticated against a controller of the cluster with its
// own credentials (GET /me/api/json, and GET /job/X/api/json?tree=name for
// a job's resources, so Jenkins' read permission applies), and the verdict
// is cached for AuthTTL per credentials, cluster and job. Reads of a
// controller's data (a build's JSON, a job's, the nodes, config.xml) are
// made with the caller's credentials; /queue/api/json lists only the
// items of jobs the caller may read. Job writes (createItem, config.xml,
// doDelete) are first made with the caller's credentials, so Jenkins
// decides whether the caller may create, configure or delete; only then
// does jenkinds copy them to the other controllers with their API tokens.
// Triggers, stops, cancels and console reads are made by jenkinds with the
// controller's API token once the caller is authenticated and may read
// the job: Jenkins' Item/Build and Item/Cancel permissions are not
// checked.
//
// Without an Authorization header, only a trigger with ?token= is answered
// here: the token is checked against the job's "Trigger builds remotely"
// token, which jenkinds reads from the job's config.xml (403 "Invalid
// token provided." otherwise), and the build gets a remote cause. Every
// other request without credentials — browser sessions above all — is
// proxied to one controller, which decides: a build started that way is a
// direct build, which jenkinds records and numbers when its follower sees
// it.
//
// # Numbers
//
// A build's queue id on the front door is its jenkinds build id; its
// number is its global number in the job, given when it first runs and
// kept across re-dispatch (see package dispatch). Builds started on a
// controller directly get the next global number when jenkinds first sees
// them, so global numbers follow the order in which jenkinds saw builds
// start, not the controllers' own numbers.
package fleet
