package balance_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// mixed returns n candidates resembling a real fleet: most healthy, some
// degraded, unknown, unhealthy, draining, inactive or full; three sizes;
// priorities in steps of 5; one primary in the middle. Same n, same fleet.
func mixed(n int) []balance.Candidate {
	rng := rand.New(rand.NewPCG(uint64(n), 0x6a656e6b))
	sizes := [...]int{50, 100, 200}
	cands := make([]balance.Candidate, n)
	for i := range cands {
		c := balance.Candidate{
			ID:             int64(i + 1),
			Priority:       5 * rng.IntN(21),
			IsPrimary:      i == n/2,
			Active:         rng.IntN(100) >= 2,
			Draining:       rng.IntN(100) < 2,
			MaxConnections: sizes[rng.IntN(len(sizes))],
		}
		c.Load = rng.IntN(c.MaxConnections + c.MaxConnections/10) // ~9% full
		switch r := rng.IntN(100); {
		case r < 80:
			c.Health = balance.Healthy
		case r < 90:
			c.Health = balance.Degraded
		case r < 93:
			c.Health = balance.Unknown
		default:
			c.Health = balance.Unhealthy
		}
		cands[i] = c
	}
	return cands
}

func BenchmarkPick(b *testing.B) {
	type picker struct {
		name string
		pick func([]balance.Candidate) (int, bool)
	}
	var pickers []picker
	for _, name := range balance.Strategies() {
		p, err := balance.ByName(name)
		if err != nil {
			b.Fatal(err)
		}
		pickers = append(pickers, picker{name, p.Pick})
	}
	pickers = append(pickers, picker{"failover", func(c []balance.Candidate) (int, bool) {
		return balance.Failover(c, int64(len(c)/3))
	}})
	for _, pk := range pickers {
		for _, n := range []int{10, 1000, 10000} {
			cands := mixed(n)
			b.Run(fmt.Sprintf("%s/n=%d", pk.name, n), func(b *testing.B) {
				pk.pick(cands) // Weighted lines its state up with a new slice once
				b.ReportAllocs()
				for b.Loop() {
					if _, ok := pk.pick(cands); !ok {
						b.Fatal("nothing eligible")
					}
				}
			})
		}
	}
}
