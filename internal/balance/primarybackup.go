package balance

// PrimaryBackup sends everything to the primary while it is eligible and
// falls back to the best backup otherwise. It keeps no state, so traffic
// returns to the primary on the first pick after it is eligible again.
//
// The order, best first: Healthy primary, Healthy backup, Degraded/Unknown
// primary, Degraded/Unknown backup — health comes first as for every policy,
// so a Healthy backup is preferred to a Degraded primary. Within each of
// these, higher Priority, then lower Load/MaxConnections, then lower ID. Two
// primaries in one pool are ranked the same way.
type PrimaryBackup struct{}

// Pick implements Policy in one pass.
func (PrimaryBackup) Pick(cands []Candidate) (int, bool) {
	best, bestTier := -1, tierNone
	bestPrimary, bestPrio := false, 0
	for i := 0; i < len(cands); i++ {
		if bestTier == tierHealthy {
			if i = skipBehind(cands, i, bestPrimary, bestPrio); i == len(cands) {
				break
			}
		}
		c := &cands[i]
		t := c.tier()
		if t == tierNone || t > bestTier || t == bestTier && !beforeBackup(c, &cands[best]) {
			continue
		}
		best, bestTier, bestPrimary, bestPrio = i, t, c.IsPrimary, c.Priority
	}
	return best, best >= 0
}

// beforeBackup orders two candidates of one tier for PrimaryBackup.
func beforeBackup(a, b *Candidate) bool {
	switch {
	case a.IsPrimary != b.IsPrimary:
		return a.IsPrimary
	case a.Priority != b.Priority:
		return a.Priority > b.Priority
	}
	if r := cmpRatio(a, b); r != 0 {
		return r < 0
	}
	return a.ID < b.ID
}

// skipBehind returns the first index from i on whose candidate could still
// beat a Healthy lead with the given primary flag and priority, or
// len(cands): one that is worse on primary, then priority, cannot win
// whatever its state. Kept out of line for the same reason as skipHigher.
//
//go:noinline
func skipBehind(cands []Candidate, i int, primary bool, prio int) int {
	if primary {
		for ; i < len(cands) && !cands[i].IsPrimary; i++ {
		}
		return i
	}
	for ; i < len(cands); i++ {
		if c := &cands[i]; c.IsPrimary || c.Priority >= prio {
			return i
		}
	}
	return i
}
