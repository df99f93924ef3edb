package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestRoundRobinSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cands []balance.Candidate
		want  []int64 // -1: none eligible
	}{
		{"nil", nil, []int64{-1, -1}},
		{"three healthy", []balance.Candidate{up(1, 0, 0), up(2, 90, 0), up(3, 0, 0)}, []int64{1, 2, 3, 1, 2, 3}},
		{
			"ineligible ones skipped",
			[]balance.Candidate{up(1, 0, 0), health(up(2, 0, 0), balance.Unhealthy), draining(up(3, 0, 0)), up(4, 0, 0), up(5, 100, 0), inactive(up(6, 0, 0))},
			[]int64{1, 4, 1, 4},
		},
		{
			"degraded only when no healthy",
			[]balance.Candidate{health(up(1, 0, 0), balance.Degraded), up(2, 0, 0), health(up(3, 0, 0), balance.Unknown)},
			[]int64{2, 2, 2},
		},
		{
			"degraded and unknown rotate when no healthy",
			[]balance.Candidate{health(up(1, 0, 0), balance.Degraded), health(up(2, 0, 0), balance.Unhealthy), health(up(3, 0, 0), balance.Unknown)},
			[]int64{1, 3, 1, 3},
		},
	}
	for _, tt := range tests {
		if got := pickIDs(t, &balance.RoundRobin{}, tt.cands, len(tt.want)); !equalIDs(got, tt.want) {
			t.Errorf("%s: picked %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRoundRobinEven(t *testing.T) {
	t.Parallel()
	// Gaps of ineligible candidates must not give the next one a double share.
	cands := []balance.Candidate{
		up(1, 0, 0), health(up(2, 0, 0), balance.Unhealthy), health(up(3, 0, 0), balance.Unhealthy),
		up(4, 0, 0), up(5, 0, 0), draining(up(6, 0, 0)), up(7, 50, 0), up(8, 0, 0), up(9, 0, 0), up(10, 99, 0),
	}
	got := count(pickIDs(t, &balance.RoundRobin{}, cands, 7000))
	sameCounts(t, got, map[int64]int{1: 1000, 4: 1000, 5: 1000, 7: 1000, 8: 1000, 9: 1000, 10: 1000})
}

func TestRoundRobinSetChanges(t *testing.T) {
	t.Parallel()
	p := &balance.RoundRobin{}
	all := []balance.Candidate{up(1, 0, 0), up(2, 0, 0), up(3, 0, 0), up(4, 0, 0), up(5, 0, 0)}
	for _, n := range []int{5, 2, 1, 0, 3, 5, 1} {
		for range 7 {
			id := pickID(t, p, all[:n])
			if n == 0 && id != -1 || n > 0 && (id < 1 || id > int64(n)) {
				t.Fatalf("with %d candidates picked %d", n, id)
			}
		}
	}
}
