package balance

import "sync/atomic"

// LeastLoad picks the eligible candidate with the lowest Load/MaxConnections,
// Healthy before Degraded/Unknown. Ties go to the higher Priority; candidates
// still tied take turns, so a pool of idle equal controllers shares new work
// even when the caller's load figures lag behind (Jenkins' queue is polled,
// not pushed). The zero value is ready to use and safe for concurrent use.
type LeastLoad struct {
	// next numbers the picks that had to break a tie.
	next atomic.Uint64
}

// Pick implements Policy in one pass over cands. Only when more than
// tieBuf candidates tie for the lead may a second, partial pass be needed.
func (p *LeastLoad) Pick(cands []Candidate) (int, bool) {
	var tied [tieBuf]int
	best, ties := leastLoaded(cands, false, 0, false, &tied)
	switch {
	case best < 0:
		return -1, false
	case ties == 1:
		return best, true
	}
	turn := int((p.next.Add(1) - 1) % uint64(ties))
	if turn < tieBuf {
		return tied[turn], true
	}
	return nthTie(cands, tied[tieBuf-1], turn-(tieBuf-1)), true
}

// Failover returns the best candidate whose ID is not currentID, in
// LeastLoad's order (Healthy first, then lowest load ratio, then higher
// Priority), with the lower ID winning what is still tied so that the answer
// is deterministic. ok is false when no other candidate is eligible.
func Failover(cands []Candidate, currentID int64) (idx int, ok bool) {
	var tied [tieBuf]int
	best, _ := leastLoaded(cands, true, currentID, true, &tied)
	return best, best >= 0
}

// tieBuf is how many candidates tied for the lead leastLoaded remembers.
const tieBuf = 16

// leastLoaded returns the first candidate in least-load order — tier, then
// Load/MaxConnections, then higher Priority, then, if lowID, lower ID — and
// how many candidates tie with it (always 1 if lowID); the first tieBuf of
// them are in tied. With skip it passes over every candidate whose ID is
// skipID. best is -1 if none is eligible.
//
// This is the hot loop of the default policy. Once the lead is Healthy, a
// candidate with a higher load ratio cannot win whatever its state, so
// skipHigher dismisses most candidates before their eligibility is looked
// at; the rest take the exact path.
func leastLoaded(cands []Candidate, skip bool, skipID int64, lowID bool, tied *[tieBuf]int) (best, ties int) {
	best, bestTier := -1, tierNone
	var bestLoad, bestMax int64 // the lead's; meaningful only if quick
	quick := false              // the lead is Healthy and both its figures are small
	for i := 0; i < len(cands); i++ {
		if quick {
			if i = skipHigher(cands, i, bestLoad, bestMax); i == len(cands) {
				break
			}
		}
		c := &cands[i]
		t := c.tier()
		if t == tierNone || t > bestTier || skip && c.ID == skipID {
			continue
		}
		if t == bestTier {
			b := &cands[best]
			r := cmpRatio(c, b)
			if r == 0 {
				switch {
				case c.Priority < b.Priority:
					r = 1
				case c.Priority > b.Priority:
					r = -1
				case lowID && c.ID < b.ID:
					r = -1
				case lowID:
					r = 1
				}
			}
			if r > 0 {
				continue
			}
			if r == 0 {
				if ties < tieBuf {
					tied[ties] = i
				}
				ties++
				continue
			}
		}
		best, ties, bestTier, tied[0] = i, 1, t, i
		bestLoad, bestMax = int64(c.Load), int64(c.MaxConnections)
		quick = t == tierHealthy && small(c)
	}
	return best, ties
}

// skipHigher returns the first index from i on whose candidate the quick
// test cannot prove to have a load ratio above load/maxConns, or
// len(cands). It is the innermost loop of LeastLoad and Failover, kept out
// of line so that it compiles to a dozen instructions with everything in
// registers: inlined, it shares leastLoaded's registers and spills (measured:
// about 1.2 µs instead of 0.95 µs a pick over 1,000 candidates).
//
//go:noinline
func skipHigher(cands []Candidate, i int, load, maxConns int64) int {
	for ; i < len(cands); i++ {
		c := &cands[i]
		if !small(c) || int64(c.Load)*maxConns <= load*int64(c.MaxConnections) {
			return i
		}
	}
	return i
}

// small reports whether c's Load and MaxConnections are both in [0, 2³¹),
// so that products of two such figures cannot overflow an int64.
func small(c *Candidate) bool {
	return uint64(c.Load)|uint64(c.MaxConnections) < 1<<31
}

// nthTie returns the index of the n-th (n >= 1) candidate after cands[first]
// that ties with it in LeastLoad's order.
func nthTie(cands []Candidate, first, n int) int {
	head := &cands[first]
	tier, quick := head.tier(), small(head)
	hLoad, hMax := int64(head.Load), int64(head.MaxConnections)
	for i := first + 1; i < len(cands); i++ {
		c := &cands[i]
		if quick && small(c) && int64(c.Load)*hMax != hLoad*int64(c.MaxConnections) {
			continue // another ratio: the usual case, decided without the exact path
		}
		if c.Priority == head.Priority && c.tier() == tier && cmpRatio(c, head) == 0 {
			if n--; n == 0 {
				return i
			}
		}
	}
	return first
}
