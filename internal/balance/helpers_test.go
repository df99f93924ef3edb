package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// up returns an eligible Healthy candidate with the given load out of 100.
func up(id int64, load, priority int) balance.Candidate {
	return balance.Candidate{ID: id, Priority: priority, Active: true, Health: balance.Healthy, Load: load, MaxConnections: 100}
}

// health returns c with its health set to h.
func health(c balance.Candidate, h balance.Health) balance.Candidate {
	c.Health = h
	return c
}

// size returns c with MaxConnections set to maxConns.
func size(c balance.Candidate, maxConns int) balance.Candidate {
	c.MaxConnections = maxConns
	return c
}

func primary(c balance.Candidate) balance.Candidate {
	c.IsPrimary = true
	return c
}

func draining(c balance.Candidate) balance.Candidate {
	c.Draining = true
	return c
}

func inactive(c balance.Candidate) balance.Candidate {
	c.Active = false
	return c
}

// pickID picks once and returns the ID picked, or -1 when none was.
func pickID(t *testing.T, p balance.Policy, cands []balance.Candidate) int64 {
	t.Helper()
	i, ok := p.Pick(cands)
	if !ok {
		if i != -1 {
			t.Errorf("Pick = %d, false; want -1 with ok == false", i)
		}
		return -1
	}
	if i < 0 || i >= len(cands) {
		t.Fatalf("Pick = %d, true; out of range for %d candidates", i, len(cands))
	}
	if !cands[i].Eligible() {
		t.Errorf("Pick chose ineligible candidate %+v", cands[i])
	}
	return cands[i].ID
}

// pickIDs picks n times from the same slice and returns the IDs in order.
func pickIDs(t *testing.T, p balance.Policy, cands []balance.Candidate, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for k := range ids {
		ids[k] = pickID(t, p, cands)
	}
	return ids
}

// count tallies IDs.
func count(ids []int64) map[int64]int {
	m := make(map[int64]int)
	for _, id := range ids {
		m[id]++
	}
	return m
}

// sameCounts reports got and want as an error when they differ; IDs with a
// want of 0 must not appear in got at all.
func sameCounts(t *testing.T, got, want map[int64]int) {
	t.Helper()
	for id, n := range want {
		if got[id] != n {
			t.Errorf("candidate %d picked %d times, want %d (all: %v)", id, got[id], n, got)
		}
	}
	for id, n := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("candidate %d picked %d times, want 0 (all: %v)", id, n, got)
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
