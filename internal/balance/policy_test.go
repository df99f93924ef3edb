package balance_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestByName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wantType string
	}{
		{"", "*balance.LeastLoad"},
		{"least-load", "*balance.LeastLoad"},
		{"round-robin", "*balance.RoundRobin"},
		{"weighted", "*balance.Weighted"},
		{"primary-backup", "balance.PrimaryBackup"},
	}
	for _, tt := range tests {
		p, err := balance.ByName(tt.name)
		if err != nil {
			t.Errorf("ByName(%q): %v", tt.name, err)
			continue
		}
		if got := fmt.Sprintf("%T", p); got != tt.wantType {
			t.Errorf("ByName(%q) = %s, want %s", tt.name, got, tt.wantType)
		}
	}
}

func TestByNameUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"random", "Least-Load", " least-load"} {
		p, err := balance.ByName(name)
		if !errors.Is(err, balance.ErrUnknownStrategy) {
			t.Errorf("ByName(%q) error = %v, want ErrUnknownStrategy", name, err)
			continue
		}
		if p != nil {
			t.Errorf("ByName(%q) returned policy %T with an error", name, p)
		}
		for _, valid := range balance.Strategies() {
			if !strings.Contains(err.Error(), valid) {
				t.Errorf("ByName(%q) error %q does not list %q", name, err, valid)
			}
		}
	}
}

func TestStrategiesAllResolve(t *testing.T) {
	t.Parallel()
	names := balance.Strategies()
	if len(names) != 4 || names[0] != balance.StrategyLeastLoad {
		t.Errorf("Strategies() = %v, want 4 names, least-load first", names)
	}
	names[0] = "mutated"
	if got := balance.Strategies()[0]; got != balance.StrategyLeastLoad {
		t.Errorf("Strategies()[0] = %q after a caller changed its copy", got)
	}
	for _, name := range balance.Strategies() {
		if _, err := balance.ByName(name); err != nil {
			t.Errorf("ByName(%q): %v", name, err)
		}
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	none := []balance.Candidate{health(up(1, 0, 0), balance.Unhealthy), draining(up(2, 0, 0))}
	i, err := balance.Pick(&balance.LeastLoad{}, none)
	if !errors.Is(err, balance.ErrNoneEligible) {
		t.Fatalf("Pick over ineligible = %d, %v; want ErrNoneEligible", i, err)
	}
	if want := "no eligible controller: 2 controllers: 1 unhealthy, 1 draining"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if i != -1 {
		t.Errorf("index = %d with an error, want -1", i)
	}

	some := append(none, up(3, 0, 0))
	if i, err := balance.Pick(&balance.LeastLoad{}, some); err != nil || i != 2 {
		t.Errorf("Pick = %d, %v; want 2, nil", i, err)
	}
}

// policies returns a fresh instance of every policy by name.
func policies(t testing.TB) map[string]balance.Policy {
	t.Helper()
	m := make(map[string]balance.Policy)
	for _, name := range balance.Strategies() {
		p, err := balance.ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = p
	}
	return m
}

func TestEveryPolicyOnEmptyAndIneligible(t *testing.T) {
	t.Parallel()
	inputs := map[string][]balance.Candidate{
		"nil":   nil,
		"empty": {},
		"none eligible": {
			health(primary(up(1, 0, 10)), balance.Unhealthy), inactive(up(2, 0, 5)), draining(up(3, 0, 5)), up(4, 100, 5),
		},
	}
	for name, p := range policies(t) {
		for in, cands := range inputs {
			if i, ok := p.Pick(cands); ok || i != -1 {
				t.Errorf("%s over %s = %d, %v; want -1, false", name, in, i, ok)
			}
		}
	}
}

func TestNoAllocations(t *testing.T) {
	cands := mixed(1000)
	for name, p := range policies(t) {
		if n := testing.AllocsPerRun(100, func() { p.Pick(cands) }); n != 0 {
			t.Errorf("%s: %v allocations per pick, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { balance.Failover(cands, cands[0].ID) }); n != 0 {
		t.Errorf("failover: %v allocations per call, want 0", n)
	}
}

func TestConcurrentPick(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 7, 300
	// Weights 5,1,1 and equal loads: every policy has an exact answer for
	// 2,100 picks however the goroutines interleave.
	cands := []balance.Candidate{
		primary(up(1, 10, 5)), up(2, 10, 1), health(up(4, 0, 50), balance.Unhealthy), up(3, 10, 1),
	}
	tests := []struct {
		strategy string
		want     map[int64]int
	}{
		{"least-load", map[int64]int{1: 2100}}, // priority breaks the tie
		{"round-robin", map[int64]int{1: 700, 2: 700, 3: 700}},
		{"weighted", map[int64]int{1: 1500, 2: 300, 3: 300}},
		{"primary-backup", map[int64]int{1: 2100}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			t.Parallel()
			p, err := balance.ByName(tt.strategy)
			if err != nil {
				t.Fatal(err)
			}
			counts := make([]map[int64]int, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				counts[g] = make(map[int64]int)
				wg.Go(func() {
					for range perGoroutine {
						i, ok := p.Pick(cands)
						if !ok {
							counts[g][-1]++
							continue
						}
						counts[g][cands[i].ID]++
					}
				})
			}
			wg.Wait()
			total := make(map[int64]int)
			for _, c := range counts {
				for id, n := range c {
					total[id] += n
				}
			}
			sameCounts(t, total, tt.want)
		})
	}

	t.Run("least-load ties", func(t *testing.T) {
		t.Parallel()
		tied := []balance.Candidate{up(1, 10, 5), up(2, 10, 5), up(3, 10, 5)}
		p := &balance.LeastLoad{}
		var mu sync.Mutex
		total := make(map[int64]int)
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				local := make(map[int64]int)
				for range perGoroutine {
					i, _ := p.Pick(tied)
					local[tied[i].ID]++
				}
				mu.Lock()
				defer mu.Unlock()
				for id, n := range local {
					total[id] += n
				}
			})
		}
		wg.Wait()
		sameCounts(t, total, map[int64]int{1: 700, 2: 700, 3: 700})
	})
}
