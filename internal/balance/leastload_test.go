package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestLeastLoadPick(t *testing.T) {
	t.Parallel()
	const big = 1 << 62
	tests := []struct {
		name  string
		cands []balance.Candidate
		want  int64 // -1: none eligible
	}{
		{"nil", nil, -1},
		{"empty", []balance.Candidate{}, -1},
		{
			"none eligible",
			[]balance.Candidate{inactive(up(1, 0, 0)), draining(up(2, 0, 0)), health(up(3, 0, 0), balance.Unhealthy), up(4, 100, 0)},
			-1,
		},
		{
			"lowest ratio, not lowest load",
			[]balance.Candidate{up(1, 30, 0), size(up(2, 20, 0), 50), size(up(3, 50, 0), 200)},
			3, // 0.25 against 0.3 and 0.4
		},
		{
			"ineligible idle candidates are skipped",
			[]balance.Candidate{inactive(up(1, 0, 0)), draining(up(2, 0, 0)), health(up(3, 0, 0), balance.Unhealthy), up(4, 50, 0)},
			4,
		},
		{
			"healthy busy before degraded idle",
			[]balance.Candidate{health(up(1, 0, 0), balance.Degraded), up(2, 90, 0), health(up(3, 0, 0), balance.Unknown)},
			2,
		},
		{
			"degraded and unknown when no healthy is eligible",
			[]balance.Candidate{health(up(1, 40, 0), balance.Degraded), draining(up(2, 0, 0)), health(up(3, 20, 0), balance.Unknown)},
			3,
		},
		{
			"equal ratio across sizes goes to higher priority",
			[]balance.Candidate{up(1, 10, 5), size(up(2, 1, 10), 10), up(3, 11, 100)},
			2,
		},
		{
			"exact for huge values",
			[]balance.Candidate{size(up(1, big-1, 0), big), size(up(2, big/2-1, 0), big/2)},
			2, // (2^61-1)/2^61 < (2^62-1)/2^62; int64 products would overflow
		},
		{
			"exact when only the high halves differ",
			[]balance.Candidate{size(up(1, 3, 0), 4), size(up(2, 1<<62, 0), 1<<62+1)},
			1, // 2⁶² × 4 = 2⁶⁴ against 3 × (2⁶²+1): the low halves compare the other way
		},
		{
			"negative load counts as zero",
			[]balance.Candidate{up(1, -5, 0), up(2, 0, 10)},
			2,
		},
		{
			"negative load counts as zero when compared second",
			[]balance.Candidate{up(2, 0, 0), up(1, -5, 10)},
			1,
		},
	}
	for _, tt := range tests {
		if got := pickID(t, &balance.LeastLoad{}, tt.cands); got != tt.want {
			t.Errorf("%s: picked %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestLeastLoadRotatesAmongTies(t *testing.T) {
	t.Parallel()
	cands := []balance.Candidate{
		up(1, 10, 5),
		up(2, 10, 1), // same ratio, lower priority
		up(3, 10, 5),
		up(4, 20, 9),          // busier
		size(up(5, 1, 5), 10), // same ratio and priority, smaller controller
		health(up(6, 0, 9), balance.Degraded),
		up(7, 10, 5),
	}
	ids := pickIDs(t, &balance.LeastLoad{}, cands, 400)
	sameCounts(t, count(ids), map[int64]int{1: 100, 3: 100, 5: 100, 7: 100})
	for k := 0; k+4 <= len(ids); k += 4 {
		if c := count(ids[k : k+4]); len(c) != 4 {
			t.Fatalf("picks %d..%d = %v, want each of the 4 tied candidates once", k, k+3, ids[k:k+4])
		}
	}
}

func TestLeastLoadRotatesAmongManyTies(t *testing.T) {
	t.Parallel()
	// More ties than LeastLoad keeps track of in its first pass, spread
	// between candidates as loaded but of lower priority and ineligible
	// ones.
	var cands []balance.Candidate
	want := make(map[int64]int)
	for id := int64(1); id <= 120; id++ {
		switch id % 3 {
		case 0:
			cands = append(cands, up(id, 5, 5))
			want[id] = 10
		case 1:
			cands = append(cands, up(id, 5, 4))
		case 2:
			cands = append(cands, draining(up(id, 0, 5)))
		}
	}
	sameCounts(t, count(pickIDs(t, &balance.LeastLoad{}, cands, 400)), want)
}

func TestFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cands   []balance.Candidate
		current int64
		want    int64 // -1: none
	}{
		{"nil", nil, 1, -1},
		{"only the current one", []balance.Candidate{up(1, 0, 0)}, 1, -1},
		{"current is the only eligible one", []balance.Candidate{up(1, 0, 0), health(up(2, 0, 0), balance.Unhealthy), draining(up(3, 0, 0))}, 1, -1},
		{"never the current one even when best", []balance.Candidate{up(1, 0, 0), up(2, 50, 0)}, 1, 2},
		{"every entry of the current ID is excluded", []balance.Candidate{up(1, 0, 0), up(2, 50, 0), up(1, 0, 0)}, 1, 2},
		{"least loaded of the rest", []balance.Candidate{up(1, 0, 0), up(2, 50, 0), up(3, 20, 0)}, 1, 3},
		{"current not in the list", []balance.Candidate{up(2, 50, 0), up(3, 20, 0)}, 9, 3},
		{"healthy before degraded", []balance.Candidate{up(1, 0, 0), health(up(2, 0, 0), balance.Degraded), up(3, 80, 0)}, 1, 3},
		{"degraded when no other healthy", []balance.Candidate{up(1, 0, 0), health(up(2, 60, 0), balance.Degraded), health(up(3, 50, 0), balance.Unknown)}, 1, 3},
		{"ratio tie goes to priority", []balance.Candidate{up(1, 0, 0), up(2, 20, 1), up(3, 20, 7)}, 1, 3},
		{"full tie goes to lower ID, not slice order", []balance.Candidate{up(1, 0, 0), up(5, 20, 3), up(4, 20, 3)}, 1, 4},
	}
	for _, tt := range tests {
		i, ok := balance.Failover(tt.cands, tt.current)
		got := int64(-1)
		if ok {
			got = tt.cands[i].ID
		} else if i != -1 {
			t.Errorf("%s: Failover = %d, false; want -1", tt.name, i)
		}
		if got != tt.want {
			t.Errorf("%s: Failover(current %d) picked %d, want %d", tt.name, tt.current, got, tt.want)
		}
	}
}

func TestFailoverNeverReturnsCurrent(t *testing.T) {
	t.Parallel()
	cands := mixed(200)
	for _, c := range cands {
		i, ok := balance.Failover(cands, c.ID)
		if !ok {
			t.Fatalf("Failover(current %d) found nothing in a pool of 200", c.ID)
		}
		if cands[i].ID == c.ID {
			t.Errorf("Failover(current %d) returned the current controller", c.ID)
		}
	}
}
