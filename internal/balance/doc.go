// Package balance chooses which Jenkins controller gets the next request or
// build. Policies are pure functions over a snapshot: the caller builds a
// []Candidate from the controllers' runtime records (health, load,
// draining), asks a Policy to Pick, and gets back an index into that slice.
// The package imports nothing of jenkinds, does no I/O, never keeps the
// slice and does not allocate on a pick (Weighted only when the set of
// candidate IDs or their order changed since its previous pick).
//
// # Eligibility
//
// A candidate may receive new work only when all of these hold (see
// Candidate.Eligible):
//
//	Active                      the operator has not switched it off
//	!Draining                   it is not being emptied for maintenance
//	Health < Unhealthy          its last health check did not fail
//	Load < MaxConnections       it is not full (MaxConnections <= 0: never)
//
// Eligible candidates fall into two tiers, and every policy, Failover
// included, looks at the second only when the first is empty:
//
//	                 ┌─ Healthy ─────────────────→ tier 1: preferred
//	eligible ────────┤
//	                 └─ Degraded or Unknown ─────→ tier 2: only when tier 1 is empty
//	not eligible ──────────────────────────────────→ never picked
//
// Unknown (never checked yet, the zero value) is treated like Degraded: a
// controller that was just added gets traffic only if nothing proven
// healthy is left, and the health checker promotes it within one interval.
// When nothing is eligible, Pick returns ok == false; the package-level Pick
// turns that into ErrNoneEligible with Explain's text ("3 controllers: 2
// unhealthy, 1 draining") for the 503.
//
// Load is the caller's figure. For a Jenkins controller it is CloudBees'
// measure — running builds + queued items (+ online agents where they count)
// — plus the requests this process has in flight to it. Policies compare
// Load/MaxConnections, so controllers of different sizes are comparable; the
// comparison is an exact cross-multiplication, never a division.
//
// # Policies
//
// ByName maps the configured strategy to a fresh Policy ("" is least-load).
// Within the chosen tier:
//
//   - least-load (LeastLoad, the default): the lowest Load/MaxConnections;
//     ties go to the higher Priority; candidates still tied take turns on
//     a counter so idle equal controllers share work although their load
//     figures lag.
//   - round-robin (RoundRobin): each eligible candidate in turn, in slice
//     order, from the position after the previous pick; ineligible ones are
//     passed over without giving their neighbour a double share.
//   - weighted (Weighted): nginx's smooth weighted round robin with weight =
//     Priority, state kept by ID. Priority 0 gets traffic only when no
//     eligible candidate of the tier has a positive Priority.
//   - primary-backup (PrimaryBackup): the primary while it is eligible, else
//     the backup with the highest Priority (then lower load ratio, then
//     lower ID); back to the primary as soon as it is eligible again. A
//     Healthy backup beats a Degraded primary.
//
// Failover(cands, currentID) is the least-load choice among all candidates
// but currentID, deterministic (lower ID wins a full tie), for moving work
// off a controller that failed mid-request.
//
// # Concurrency and state
//
// Every Policy is safe for concurrent use. LeastLoad holds an atomic
// counter of tie-breaks and RoundRobin an atomic position; Weighted holds
// current weights by ID behind a mutex, so one Weighted must serve one pool
// of controllers; PrimaryBackup and Failover hold nothing. Candidate IDs are
// expected to be unique within a slice; duplicates cause no panic but void
// Weighted's and Failover's guarantees for those IDs.
package balance
