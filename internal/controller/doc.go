// Package controller is the registry of the Jenkins controllers ("instances")
// jenkinds fronts: their configuration, their sealed API tokens and the
// health state the monitor records. It owns the controllers table and its
// SQL (migrations/, applied with db.Migrate(ctx, controller.Migrations)).
//
// # Rules the store enforces
//
//   - name is unique across all clusters; a duplicate is a *ConflictError
//     on "name" (ErrConflict).
//   - a cluster has at most one primary (isPrimary). We chose to enforce it,
//     with a partial unique index, because "primary/backup" selection has no
//     answer when two controllers claim to be primary. Making a second
//     primary is a *ConflictError on "isPrimary" naming the existing one:
//     unset it first. A cluster may have no primary at all.
//   - every other rule is per field, checked by CreateInput.Validate and
//     Patch.Validate, reported as a *ValidationError.
//   - the API token is stored sealed (package secret) and never leaves the
//     package except through Store.Token and Store.ListWithTokens;
//     Instance.HasAPIToken tells whether there is one.
//   - every change of the registry (Create, Update, Delete, SetDraining)
//     is announced on PostgreSQL in its own transaction, on
//     RegistryChannel with the instance's id, so that other replicas
//     re-read the registry at once (db.Listen).
//
// # Health state
//
// The configuration says whether an instance should get work (isActive);
// the health columns say whether it could when last recorded. Health is
// one enum everywhere, balance.Health (unknown, healthy, degraded,
// unhealthy), encoded by name in JSON and SQL. The health authority
// (package health) owns every transition (its doc.go draws them) and
// writes them with Store.RecordHealth; this package only stores them.
// Nothing goes back to unknown.
//
//   - healthStatus: unknown until the first check, then what the health
//     authority last concluded. How many failures make "unhealthy" is its
//     policy, not a rule here.
//   - lastHealthCheck: when that check ran (store clock); null before.
//   - lastError: why the latest check failed or degraded; empty when it
//     passed.
//   - currentLoad: busy executors or open requests the monitor counted,
//     compared with maxConnections.
//   - version and jenkins_session: the X-Jenkins and X-Jenkins-Session
//     headers. A session that changes while known means Jenkins restarted:
//     restartCount goes up by one.
//
// Draining (finish running work, take no new) is stored beside the health
// columns (SetDraining) and holds on every replica; setting isActive to
// false takes an instance out of rotation altogether.
//
// # The live record
//
// A Pool holds one Runtime per registered controller: every live fact
// jenkinds knows of it — health with its reason and since, session,
// version, quieting down, executors, load, in-flight requests, last
// answer, evidence that its process is gone, unhealthy-since, cooldown
// after a refused trigger, the dispatcher's live attempts — and its
// client (package jenkins), built once per URL, user and token, whose
// transport counts every request in flight and notes every answer, new
// session and failure on the record (and reports restarts and failures
// to the health authority through the pool's Hooks). Policies read it:
// Available (new requests), Eligible(now) (a new build, and why not),
// Candidate and BuildCandidate (the balance snapshots). No other package
// keeps a copy of these facts.
package controller
