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
//     package except through Store.Token; Instance.HasAPIToken tells whether
//     there is one.
//
// # Health state
//
// The configuration says whether an instance should get work (isActive);
// the health columns say whether it can. The health monitor (a later
// package) owns the transitions and writes them with Store.RecordHealth;
// this package only stores them, so there is one record every policy reads.
//
//	from        to                               when
//	unknown     healthy | degraded | unhealthy    the first check (registered, never checked before)
//	healthy     degraded | unhealthy              a check is slow or partly fails / fails
//	degraded    healthy | unhealthy               a check passes / fails
//	unhealthy   healthy | degraded                it recovers
//
// Nothing goes back to unknown.
//
//   - healthStatus: unknown until the first check, then what the latest
//     check concluded. How many failures make "unhealthy" is the monitor's
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
// Draining (finish running work, take no new) is not stored yet; setting
// isActive to false takes an instance out of rotation.
package controller
