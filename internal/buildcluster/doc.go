// Package buildcluster is the registry of build clusters (where builds run:
// the platform's shared clusters and the ones teams bring) and the router
// that chooses a build's cluster. It owns the build_clusters table and its
// SQL (migrations/, applied with db.Migrate(ctx, buildcluster.Migrations)),
// and parses screwdriver.yaml for what routing and a build need of it.
//
// It follows Screwdriver's multiple-build-cluster design and fixes what
// Screwdriver's shipped version got wrong (the issue numbers are
// Screwdriver's):
//
//   - a record is addressed by (name, scmContext), not by name alone
//     (#2335); a name registered for several scmContexts must be asked for
//     with one (*AmbiguousError lists them);
//   - isActive false is honoured on create;
//   - weight 0 means "only for builds that name the cluster" (#2258);
//   - an empty candidate list is an error that says what was considered,
//     never a crash, a silent drop or an endless re-enqueue;
//   - a build never falls back to a cluster its organization is not
//     allowed on;
//   - worker keys are public keys, several per cluster so they rotate
//     without downtime, and a private key is refused, never stored.
//
// # Records
//
// (name, scmContext) has at most one active record, enforced by a partial
// unique index; inactive records with the same pair may sit beside it, as
// in the design's sample table (identity active and inactive). An external
// cluster must list at least one organization. Name and scmContext never
// change: pipelines and the per-cluster queue know a cluster by name, so to
// rename, register anew and deactivate the old record.
//
// Worker keys: the design draft's authKey (the name of an environment
// variable holding the cluster's public key) and signOption (algorithm and
// expiry) become PublicKeys, kept in the record: each key is the PEM itself,
// its kid, and the one algorithm it verifies (RS256, ES256 or EdDSA),
// pinned so a token cannot choose another. Token expiry is the verifier's
// rule for every cluster (short-lived tokens), not a per-key option. Keys
// are added and retired one at a time (AddKey, RemoveKey), so a rotation
// never leaves a moment with no valid key.
//
// # Routing (Router.Route)
//
// The build's organization is the owner part of its repository (org of
// org/repo); a cluster allows it when it lists it (case-insensitively), or
// lists none and is screwdriver-managed. The cluster a build names is the
// value of the screwdriver.cd/buildCluster annotation: the job's, else the
// pipeline's (see Pipeline.Job).
//
//  1. Named, and the name has a record for the pipeline's scmContext:
//     a. the organization is not allowed on it: refused (ErrUnauthorized),
//     whether the cluster is active or not;
//     b. active: that cluster, whatever its weight;
//     c. inactive: a stand-in drawn by weight among the active clusters of
//     the same kind (managedBy) that allow the organization, weight above
//  0. A team's external cluster is therefore replaced only by another
//     cluster that lists the team's organization, never by the shared
//     pool (which may lack what the team brought its cluster for) and
//     never by another team's. None: ErrNoCandidate.
//  2. Named, but no record for the pipeline's scmContext: ErrUnknownCluster,
//     saying which scmContexts do have that name.
//  3. Not named: drawn by weight among the active screwdriver-managed
//     clusters of the scmContext that allow the organization, weight above
//  0. None: ErrNoCandidate, listing each record and why it was ruled out.
//
// A draw takes cluster c with probability weight(c)/Σweight, through the
// injected intn over the candidates sorted by name, so tests are
// deterministic. The choice is per build; the caller records
// Decision.Cluster.Name on the build (and on its queue job) and may log
// Decision.Reason. Making the choice sticky per pipeline is the caller's
// (write the decision into the pipeline's annotation).
//
// # Errors and the HTTP status the API answers them with
//
//	error                                        status  code (suggested)
//	*ValidationError wrapping
//	  ErrExternalWithoutOrganizations            422     external_without_organizations
//	*ValidationError (any other)                 400     invalid_field (Field names the field)
//	*YAMLError                                   400     invalid_yaml (field "yaml")
//	ErrNotFound, ErrKeyNotFound                  404     not_found
//	ErrConflict (*ConflictError)                 409     conflict (second active record, taken kid)
//	ErrAmbiguous (*AmbiguousError)               409     ambiguous_cluster (field "scmContext")
//	ErrUnauthorized (*UnauthorizedError)         403     build_cluster_forbidden
//	ErrUnknownCluster (*UnknownClusterError)     422     unknown_build_cluster (field "annotations")
//	ErrNoCandidate (*NoCandidateError)           503     no_build_cluster, with Retry-After
//
// Test ErrExternalWithoutOrganizations before *ValidationError: the one
// wraps in the other. ErrUnknownCluster is a 422 and not a 404 because the
// request (POST /builds) found its resource; what it carries names a
// cluster that does not exist, which the user fixes in the annotation.
// ErrNoCandidate is a 503: the request is right and the platform cannot
// serve it now (a cluster is paused or not yet registered); an admin
// activating a cluster makes the same request succeed. A 403 message names
// the organization, the cluster and the organizations it allows, never
// another cluster the build could have gone to.
//
// Keys, PEMs and tokens never appear in an error message.
//
// For the HTTP layer: POST answers 201 with Location
// /api/v1/buildClusters/{name}?scmContext={scmContext} (the address the
// other routes take, not an id); GET/PUT/DELETE pass the scmContext query
// parameter ("" when absent) to Get, Update and Delete.
package buildcluster
