package dispatch

import "sync"

// gate is what the placer and the follower must share, and all they
// share: the triggers in flight, per controller.
//
//   - The placer marks a build's next attempt in flight before it claims
//     it (so a round that reads the new attempt row leaves it alone), holds
//     the controller's barrier shared from before the trigger is sent until
//     its outcome is stored, and then clears the mark.
//   - A follow round, between reading a controller and reading its
//     attempts, passes the barrier (Quiesce): every trigger that began
//     before has stored its outcome, so every build the round read that a
//     trigger of ours caused is already recorded as ours when the round
//     classifies it. It leaves alone any attempt still marked in flight.
type gate struct {
	mu       sync.Mutex
	barriers map[int64]*sync.RWMutex
	inflight map[attemptKey]bool
}

// attemptKey names one attempt of a build.
type attemptKey struct {
	build   int64
	attempt int
}

func newGate() *gate {
	return &gate{barriers: map[int64]*sync.RWMutex{}, inflight: map[attemptKey]bool{}}
}

func (g *gate) barrier(ctl int64) *sync.RWMutex {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.barriers[ctl]
	if !ok {
		b = &sync.RWMutex{}
		g.barriers[ctl] = b
	}
	return b
}

// Mark marks attempts in flight (or no longer, with on false).
func (g *gate) Mark(on bool, keys ...attemptKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if on {
			g.inflight[k] = true
		} else {
			delete(g.inflight, k)
		}
	}
}

// InFlight reports whether attempt k's trigger is in flight.
func (g *gate) InFlight(k attemptKey) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight[k]
}

// Enter holds controller ctl's barrier for a group of triggers; the
// returned func releases it.
func (g *gate) Enter(ctl int64) (leave func()) {
	b := g.barrier(ctl)
	b.RLock()
	return b.RUnlock
}

// Quiesce waits until every trigger group that entered ctl's barrier
// before it has left.
func (g *gate) Quiesce(ctl int64) {
	b := g.barrier(ctl)
	b.Lock()
	b.Unlock() //lint:ignore SA2001 an empty critical section is the barrier
}
