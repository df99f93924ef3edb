package balance

import (
	"math"
	"sync"
)

// Weighted is smooth weighted round robin, nginx's algorithm: on each pick
// every participant's current weight grows by its weight, the largest
// current weight wins (the lower ID on a tie, so slice order never matters)
// and the winner's current weight drops by the total. Weights 5, 1, 1 give
// a a b a c a a: interleaved, no bursts, and exactly proportional over every
// full cycle.
//
// The weight is Priority. The participants are the eligible candidates of
// the best tier (Healthy, else Degraded/Unknown) with Priority > 0; Priority
// 0 means "only when nothing with a positive priority in the tier is
// eligible", and then those candidates share equally (weight 1 each).
// Negative priorities count as 0.
//
// Current weights are kept by candidate ID, so reordering the slice between
// picks changes nothing. A candidate that is ineligible keeps its current
// weight; one that leaves the slice loses it and starts again from 0 when it
// comes back. State is per pool: one Weighted must serve one set of
// controllers, or the sets will keep resetting each other's state.
//
// The zero value is ready to use; a mutex makes it safe for concurrent use.
// After the first pick over a given set of IDs in a given order, Pick does
// not allocate.
type Weighted struct {
	mu sync.Mutex
	// cur[i] is the current weight of the candidate at index i of the slice
	// last picked from; Pick checks that the IDs still line up as it goes.
	cur []current
	// byID is scratch for realign, kept to reuse its buckets.
	byID map[int64]int64
}

type current struct {
	id int64
	w  int64
}

// Pick implements Policy: a scan that stops at the first Healthy candidate
// with a positive Priority to learn who takes part, then one pass over all.
func (p *Weighted) Pick(cands []Candidate) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()

	// Who takes part: the best tier, and within it positive weights if any.
	tier, positive := tierNone, false
	for i := range cands {
		c := &cands[i]
		t := c.tier()
		if t == tierNone || t > tier {
			continue
		}
		if t < tier {
			tier, positive = t, false
		}
		if c.Priority > 0 {
			positive = true
			if t == tierHealthy {
				break // nothing changes the answer any more
			}
		}
	}
	if tier == tierNone {
		return -1, false
	}

	if len(p.cur) != len(cands) {
		p.realign(cands)
	}
	cur := p.cur[:len(cands)]
	best, bestW, bestID, total := -1, int64(math.MinInt64), int64(0), int64(0)
	for i := range cands {
		c := &cands[i]
		if cur[i].id != c.ID {
			// The slice was reordered or changed. Entries before i are
			// aligned, so their updates of this round carry over by ID.
			p.realign(cands)
			cur = p.cur[:len(cands)]
		}
		if c.tier() != tier {
			continue
		}
		w := int64(1)
		if positive {
			if c.Priority <= 0 {
				continue
			}
			w = int64(c.Priority)
		}
		total += w
		cw := cur[i].w + w
		cur[i].w = cw
		if cw > bestW || cw == bestW && c.ID < bestID {
			best, bestW, bestID = i, cw, c.ID
		}
	}
	cur[best].w -= total
	return best, true
}

// realign rebuilds p.cur in the order of cands, carrying current weights
// over by ID; IDs that are new start at 0 and IDs that left are forgotten.
// It is the cold path of Pick, kept out of line so that it does not take
// registers from Pick's loop (measured: about 10% a pick).
//
//go:noinline
func (p *Weighted) realign(cands []Candidate) {
	if p.byID == nil {
		p.byID = make(map[int64]int64, len(cands))
	}
	clear(p.byID)
	for _, c := range p.cur {
		p.byID[c.id] = c.w
	}
	p.cur = p.cur[:0]
	for i := range cands {
		id := cands[i].ID
		p.cur = append(p.cur, current{id: id, w: p.byID[id]})
	}
}
