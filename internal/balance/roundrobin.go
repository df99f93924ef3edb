package balance

import "sync/atomic"

// RoundRobin hands out picks in turn over the eligible candidates of the best
// tier (Healthy, else Degraded/Unknown), in slice order. It remembers the
// position after its last pick and takes the first candidate of the best
// tier from there on, wrapping around, so each eligible candidate gets one
// turn per round: ineligible ones are passed over without giving their
// neighbour a double share. A pick usually looks at one or two candidates;
// it scans the whole slice only when no Healthy candidate is eligible.
//
// A slice that shrinks or grows between picks only shifts the rotation. The
// zero value is ready to use and safe for concurrent use: the position
// moves by compare-and-swap, so concurrent callers never share a turn.
type RoundRobin struct {
	next atomic.Uint64 // where the next pick starts looking, mod len(cands)
}

// Pick implements Policy.
func (p *RoundRobin) Pick(cands []Candidate) (int, bool) {
	n := len(cands)
	if n == 0 {
		return -1, false
	}
	for {
		from := p.next.Load()
		i := nextInTier(cands, int(from%uint64(n)))
		if i < 0 {
			return -1, false
		}
		if p.next.CompareAndSwap(from, uint64(i)+1) {
			return i, true
		}
		// Another pick took this turn; look again from where it left off.
	}
}

// nextInTier returns the first Healthy eligible candidate at or after from,
// wrapping around; failing that, the first Degraded/Unknown eligible one
// from the same place; failing that, -1.
func nextInTier(cands []Candidate, from int) int {
	degraded := -1
	for k := range cands {
		i := from + k
		if i >= len(cands) {
			i -= len(cands)
		}
		switch cands[i].tier() {
		case tierHealthy:
			return i
		case tierDegraded:
			if degraded < 0 {
				degraded = i
			}
		}
	}
	return degraded
}
