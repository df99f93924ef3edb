// Package workerapi is the worker API of build clusters: the HTTP surface
// through which a cluster's queue workers (jenkinds worker, or anything
// that speaks it) claim the cluster's jobs from the queue (package queue),
// keep their leases, upload logs and report results. It authenticates
// every request with a short-lived JWT the worker signs with the cluster's
// private key, verified against the public keys registered with the
// cluster (package buildcluster); the admin token plays no part. The
// server serves it on the admin listener, under Prefix.
//
// # Routes
//
//	GET  /api/v1/jobs/{buildCluster}?wait=SECONDS     claim one job: 200 Claim {job, leaseToken, leaseTtlSeconds},
//	                                                  or 204 when none came within wait (0..MaxWait, default 0)
//	POST /api/v1/jobs/{buildCluster}/{jobId}/extend   {leaseToken} → 200 the job (lease now+LeaseTTL)
//	POST /api/v1/jobs/{buildCluster}/{jobId}/complete {leaseToken, result, exitCode} → 200 the job
//	POST /api/v1/jobs/{buildCluster}/{jobId}/fail     {leaseToken, reason, retry} → 200 the job
//	POST /api/v1/jobs/{buildCluster}/{jobId}/log      {leaseToken, offset, data} → 200 {attempt, stored, truncated}
//
// A claim is the design's "jobs/:buildCluster" call: the queue's LeaseWait,
// so a worker long-polls and is woken by an enqueue instead of polling. The
// job's payload is the build's spec (api.BuildSpec); the lease token is the
// worker's capability over the job and is never logged. The worker must
// extend every LeaseTTL/3 while it works, and end with one complete (it
// ran, whatever the outcome) or fail (it could not; retry puts it back).
// Complete and fail are safe to repeat with the same token. A job of
// another cluster answers 404 as if it did not exist.
//
// # The fence
//
// Extend, complete, fail and log carry the lease token; the queue refuses
// a token that no longer holds the job (the lease expired and the job was
// rescued and re-leased, it was cancelled, it is finished): 409 lease_lost,
// counted in jenkinds_workerapi_lease_lost_total. A worker that gets it
// stops the job and reports nothing. So a worker cut off past its lease can
// never record a result beside the one of the worker that replaced it, and
// a dead worker's job goes back to the queue LeaseTTL (plus the rescue
// interval) after its last extend: seconds to a minute, not Screwdriver's
// 91 minutes.
//
// # Tokens
//
// A worker token is a JWS (compact) whose payload is the design's
// {"buildCluster": name} plus registered claims, e.g.
//
//	header  {"alg": "EdDSA", "kid": "eddsa-3q2ZfPx0e1Tw9bAx", "typ": "JWT"}
//	payload {"buildCluster": "bf1", "aud": "jenkinds", "iat": 1767225600,
//	         "exp": 1767225660, "jti": "5f0c…", "sub": "worker-7"}
//
// Checks, in this order; the first that fails decides the answer:
//
//	check                                                    status reason
//	Authorization: Bearer <token> present                     401   missing_token
//	three base64url JSON segments, claims of the right type   401   malformed
//	alg is RS256, ES256 or EdDSA (never none, never HS*)      401   algorithm_not_allowed
//	buildCluster claim present (a cluster name)               401   missing_claim (malformed)
//	kid header present                                        401   missing_kid
//	buildCluster names a registered cluster                   401   unknown_cluster
//	that cluster has a key with the kid                       401   unknown_kid
//	alg is the one that key is pinned to                      401   algorithm_mismatch
//	the signature verifies with the key                       401   bad_signature
//	aud, exp, iat and jti present                             401   missing_claim
//	aud includes "jenkinds"                                   401   wrong_audience
//	iat no later than now + leeway                            401   issued_in_future
//	exp - iat at most MaxTokenLifetime (10 minutes)           401   lifetime_too_long
//	exp + leeway after now                                    401   expired
//	nbf, when present, no later than now + leeway             401   not_yet_valid
//	buildCluster claim equals the path's {buildCluster}       403   cluster_mismatch
//	the cluster is active                                     403   cluster_inactive
//	jti not accepted before within its token's lifetime       401   replayed
//	(no room left to remember the jti)                        503   replay_cache_full
//
// The key is chosen by the token's claimed cluster and kid, and pinned to
// its registered algorithm, so a token can neither pick a weaker algorithm
// nor present one cluster's key as another's. 401 means the token proves
// nothing; 403 means it proves which cluster's worker sent it, and that
// cluster may not do this (a token of cluster A can never read B's queue).
// Every rejection answers {"error":{"code","message","reason"}} with a
// message that says what to fix and never quotes the token, increments
// jenkinds_workerapi_rejections_total{cluster,reason} (cluster is
// "(unknown)" for a name that is not registered, so callers cannot mint
// label values), and is logged at warn level with the cluster, reason and
// remote address, never the token.
//
// Keys and cluster state are cached for KeyCacheTTL (5 s): a removed key
// or a deactivated cluster stops working within it. When a name has an
// active record, only active records' keys verify; a retired record's old
// key never does.
//
// The replay cache keeps sha256(cluster, jti) until the token's exp plus
// the leeway, in memory: its size is bounded by the token lifetime (at
// most 10 minutes of tokens) and by MaxReplayEntries. It is per process:
// with several jenkinds replicas a token could be replayed once on each
// other replica within its lifetime; the worker signs one-minute tokens,
// one per request, which bounds that window (a shared cache would cost a
// database write per request).
//
// Why github.com/golang-jwt/jwt/v5: it is the maintained successor of the
// most used Go JWT library, has no dependencies, and does the parts that
// are easy to get wrong by hand: strict JWS compact parsing, ES256's fixed
// r||s signature encoding, RSA PKCS#1 v1.5 and Ed25519 verification,
// NumericDate and aud (string or list) decoding, and an algorithm
// allow-list checked before any key is used. The claim rules are checked
// here against the injected clock, each with its own reason.
//
// # Logs
//
// Uploaded logs live in the job_logs table, owned by this package
// (Migrations), one row per part, keyed by (job, attempt, byte offset): a
// part uploaded again after a lost answer is stored once, and each attempt
// has its own log, so a worker that lost its lease never writes into its
// successor's. Only the lease holder may upload. An attempt keeps at most
// MaxLogBytes (16 MiB); the rest is dropped and the answer says truncated.
// The table, not files under the data directory, because several replicas
// share one database and not one disk. The admin API reads the logs
// (GET /api/v1/queue/jobs/{id}/log).
//
// # Metrics
//
// jenkinds_workerapi_rejections_total{cluster,reason},
// jenkinds_workerapi_deliveries_total{cluster,redelivery} (jobs handed out
// by claims; redelivery yes from the second attempt on) and
// jenkinds_workerapi_lease_lost_total{cluster,call}. Leases that expired
// are counted where they expire, by the queue:
// jenkinds_queue_rescued_total{cluster,outcome}, beside
// jenkinds_queue_depth and jenkinds_queue_oldest_available_seconds.
package workerapi
