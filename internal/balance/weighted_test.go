package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestWeightedSmoothOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cands []balance.Candidate
		want  []int64
	}{
		{
			"nginx 5,1,1 interleaved",
			[]balance.Candidate{up(1, 0, 5), up(2, 0, 1), up(3, 0, 1)},
			[]int64{1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1},
		},
		{
			"seed priorities 10,5,5",
			[]balance.Candidate{up(1, 0, 10), up(2, 0, 5), up(3, 0, 5)},
			[]int64{1, 2, 3, 1, 1, 2, 3, 1},
		},
		{
			"ties go to lower ID whatever the slice order",
			[]balance.Candidate{up(3, 0, 1), up(2, 0, 1), up(1, 0, 5)},
			[]int64{1, 1, 2, 1, 3, 1, 1},
		},
		{
			"load does not matter",
			[]balance.Candidate{up(1, 99, 2), up(2, 0, 1)},
			[]int64{1, 2, 1, 1, 2, 1},
		},
	}
	for _, tt := range tests {
		if got := pickIDs(t, &balance.Weighted{}, tt.cands, len(tt.want)); !equalIDs(got, tt.want) {
			t.Errorf("%s: picked %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWeightedProportional(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cands []balance.Candidate
		picks int
		want  map[int64]int
	}{
		{"10,5,5 over 20", []balance.Candidate{up(1, 0, 10), up(2, 0, 5), up(3, 0, 5)}, 20, map[int64]int{1: 10, 2: 5, 3: 5}},
		{"5,1,1 over 70", []balance.Candidate{up(1, 0, 5), up(2, 0, 1), up(3, 0, 1)}, 70, map[int64]int{1: 50, 2: 10, 3: 10}},
		{"100,37,1 over 138", []balance.Candidate{up(1, 0, 100), up(2, 0, 37), up(3, 0, 1)}, 138, map[int64]int{1: 100, 2: 37, 3: 1}},
		{
			"zero priority gets nothing while a positive one is eligible",
			[]balance.Candidate{up(1, 0, 0), up(2, 0, 3), up(3, 0, -4), health(up(4, 0, 9), balance.Unhealthy), up(5, 0, 1)},
			40, map[int64]int{2: 30, 5: 10},
		},
		{
			"zero and negative priorities share equally when nothing else is eligible",
			[]balance.Candidate{up(1, 0, 0), draining(up(2, 0, 3)), up(3, 0, -4)},
			30, map[int64]int{1: 15, 3: 15},
		},
		{
			"healthy priority 1 beats degraded priority 100",
			[]balance.Candidate{health(up(1, 0, 100), balance.Degraded), up(2, 0, 1), health(up(3, 0, 50), balance.Unknown)},
			30, map[int64]int{2: 30},
		},
		{
			"degraded and unknown by weight when no healthy",
			[]balance.Candidate{health(up(1, 0, 2), balance.Degraded), up(2, 100, 1), health(up(3, 0, 1), balance.Unknown)},
			30, map[int64]int{1: 20, 3: 10},
		},
		{
			"healthy priority 0 beats degraded priority 100",
			[]balance.Candidate{health(up(1, 0, 100), balance.Degraded), up(2, 0, 0)},
			5, map[int64]int{2: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameCounts(t, count(pickIDs(t, &balance.Weighted{}, tt.cands, tt.picks)), tt.want)
		})
	}
}

func TestWeightedSurvivesReordering(t *testing.T) {
	t.Parallel()
	a, b, c := up(1, 0, 5), up(2, 0, 1), up(3, 0, 1)
	orders := [][]balance.Candidate{{a, b, c}, {c, a, b}, {b, c, a}, {c, b, a}}
	p := &balance.Weighted{}
	var got []int64
	for k := range 14 {
		got = append(got, pickID(t, p, orders[k%len(orders)]))
	}
	if want := []int64{1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1}; !equalIDs(got, want) {
		t.Errorf("picked %v, want %v", got, want)
	}
}

func TestWeightedSetChanges(t *testing.T) {
	t.Parallel()
	p := &balance.Weighted{}
	a, b, c := up(1, 0, 1), up(2, 0, 1), up(3, 0, 2)
	steps := []struct {
		cands []balance.Candidate
		picks int
		want  map[int64]int
	}{
		{[]balance.Candidate{a, b}, 4, map[int64]int{1: 2, 2: 2}},
		{[]balance.Candidate{a, b, c}, 8, map[int64]int{1: 2, 2: 2, 3: 4}},
		{[]balance.Candidate{c}, 3, map[int64]int{3: 3}},
		{nil, 2, map[int64]int{-1: 2}},
		{[]balance.Candidate{b, health(c, balance.Unhealthy)}, 3, map[int64]int{2: 3}},
		{[]balance.Candidate{c, a, b}, 8, map[int64]int{1: 2, 2: 2, 3: 4}},
	}
	for k, s := range steps {
		got := count(pickIDs(t, p, s.cands, s.picks))
		for id, n := range s.want {
			if got[id] != n {
				t.Errorf("step %d: picks %v, want %v", k, got, s.want)
				break
			}
		}
	}
}
