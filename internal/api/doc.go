// Package api is jenkinds' admin REST API: registering Jenkins controllers
// ("instances"), asking which one should get work, and running health
// checks, plus the probes an orchestrator needs. New builds it as one
// http.Handler from small interfaces (Registry, Checker, Picker, Prober,
// and the optional ones of deps.go and the build routes) that the server
// wires to the real services.
//
// # Routes
//
// Everything under /api/v1 needs "Authorization: Bearer <admin token>"
// (package auth), unknown paths there included; the probes do not.
// openapi.json, embedded and served at /api/v1/openapi.json, describes
// every route, body and error; a test keeps it and the routes in step.
//
//	POST   /api/v1/instances                        register → 201, Location, the instance
//	GET    /api/v1/instances[?clusterId=]           list (a JSON array, [] when empty)
//	GET    /api/v1/instances/{id}                   one instance
//	PATCH  /api/v1/instances/{id}                   change the fields given → the instance
//	DELETE /api/v1/instances/{id}                   remove → 204
//	GET    /api/v1/instances/{id}/stats             stored and live figures (200 with "error" when Jenkins is down)
//	POST   /api/v1/instances/test-connection        try a URL and credentials → {success, version, message}
//	GET    /api/v1/optimal-instance?clusterId=&strategy=   the instance to use (Picker.Optimal)
//	GET    /api/v1/clusters                         instances grouped by cluster, with totals
//	GET    /api/v1/clusters/{clusterId}/primary     the cluster's primary (Picker.Primary)
//	POST   /api/v1/clusters/{clusterId}/failover    {"currentInstanceId": N} → the instance to use instead
//	POST   /api/v1/health-checks[?clusterId=]       check now → the results
//	POST   /api/v1/buildClusters                    register a build cluster → 201, Location …/buildClusters/{name}?scmContext=
//	GET    /api/v1/buildClusters[?name=&scmContext=&active=true]   list the records
//	GET|PUT|DELETE /api/v1/buildClusters/{name}[?scmContext=]      one record; change (fields given); remove → 204
//	POST   /api/v1/buildClusters/{name}/keys        add a worker public key (rotation) → the record
//	DELETE /api/v1/buildClusters/{name}/keys/{kid}  retire a worker key → the record
//	POST   /api/v1/builds                           pipeline build: route to a build cluster and queue → 201 PipelineBuild
//	GET    /api/v1/queue/jobs/{id}[/log?attempt=]   a pipeline build's queue job; what its workers uploaded of its log
//	POST   /api/v1/builds                           with clusterId: a build on a Jenkins controller → 201, Location, Build
//	GET    /api/v1/builds[?cluster=&job=&state=&after=&limit=]   controller builds by id → {builds, next}
//	GET    /api/v1/builds/{id}                      a controller build with its attempts, controllers named
//	POST   /api/v1/builds/{id}/cancel               cancel a waiting build, stop a running one → the build
//	GET    /api/v1/builds/{id}/log[?start=]         its console from byte start: text, X-Text-Size, X-More-Data
//	GET    /api/v1/events[?cluster=&limit=&before=] the health authority's events, newest first → {events, next, frozen}
//	GET    /api/v1/instances/{id}/events[?limit=&before=]   one controller's, with its cluster's and jenkinds' freezes and thaws
//	GET    /api/v1/clusters/{clusterId}/redispatch-policy[?job=]   the re-dispatch policy that applies, and its source
//	PUT    /api/v1/clusters/{clusterId}/redispatch-policy[?job=]   {"policy": "queued-only"} → the policy that applies
//	DELETE /api/v1/clusters/{clusterId}/redispatch-policy[?job=]   clear the rule → 204 (404 when none was set)
//	GET    /api/v1/redispatch-policies[?cluster=]   the stored rules (a JSON array)
//	GET    /api/v1/openapi.json                     the OpenAPI 3.0 document
//	GET    /healthz                                 200 {"status":"ok"} while the process serves
//	GET    /readyz                                  200 {"status":"ready"}, or 503 not_ready with the reason
//	GET    /metrics                                 Config.Metrics, when set
//
// Bodies and answers are JSON with camelCase fields. An instance renders
// as controller.Instance does: never its API token, only hasApiToken.
//
// # Errors
//
// Every error is {"error":{"code":"…","message":"…","field":"…"}}, field
// only when one field, query or path parameter is at fault. classify is
// the one place that maps an error to a status:
//
//	*controller.ValidationError         400 invalid_field, with its field
//	*buildcluster.ValidationError       400 invalid_field (422 external_without_organizations for an external cluster without)
//	*buildcluster.YAMLError             400 invalid_yaml, field yaml
//	wrong JSON type of a field          400 invalid_field, "priority must be an integer, not a string"
//	unknown JSON field                  400 unknown_field, listing the fields the endpoint takes
//	empty, malformed or non-object body 400 invalid_json
//	bad id, unknown query parameter     400 invalid_parameter ("id must be a positive integer")
//	balance.ErrUnknownStrategy          400 unknown_strategy, naming the valid ones
//	no or wrong admin token             401 unauthorized, WWW-Authenticate: Bearer realm="jenkinds"
//	buildcluster.ErrUnauthorized        403 build_cluster_forbidden: the organization may not use the named cluster
//	controller.ErrNotFound, no route    404 not_found (and buildcluster.ErrNotFound, ErrKeyNotFound, queue.ErrNotFound)
//	a route's other method              405 method_not_allowed, Allow
//	*controller.ConflictError           409 conflict, with its field (and *buildcluster.ConflictError)
//	*buildcluster.AmbiguousError        409 ambiguous_cluster, field scmContext
//	body over Config.MaxBodyBytes       413 body_too_large
//	Content-Type other than JSON        415 unsupported_media_type
//	buildcluster.ErrUnknownCluster      422 unknown_build_cluster, field annotations
//	dispatch.ErrUnknownJob              404 not_found, field job (ErrNotFound: 404 too)
//	dispatch.ErrNotBuildable            409 conflict, field job
//	dispatch.ErrNotParameterized        400 invalid_field, field parameters (*dispatch.ValidationError: 400 too)
//	dispatch.ErrFinished                409 build_ended: cancel of a build that ended
//	*dispatch.BackendError              503 controller_unavailable when Unavailable(), else 502 controller_error
//	no build cluster service configured 501 not_enabled (and no Config.Builds, Events, Policies)
//	balance.ErrNoneEligible             503 no_eligible_instance, Retry-After: 5
//	buildcluster.ErrNoCandidate         503 no_build_cluster, Retry-After: 60
//	context canceled / deadline         503 canceled / 504 timeout
//	anything else                       500 internal: a generic message; the error goes to the log
//
// No request, however malformed, gets a 500: those are the server's own
// faults.
//
// # Secrets
//
// An instance's API token goes in (create, update, test-connection) and
// never comes out: not in an answer, an error message or a log line. Error
// messages about a body name fields, never their values; instances and
// patches are logged through their LogValue methods, which redact tokens.
package api
