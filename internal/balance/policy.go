package balance

import (
	"errors"
	"fmt"
	"strings"
)

// Policy chooses one candidate. Pick returns the index into cands of the
// chosen candidate, or -1 and ok == false when none is eligible. It must
// not keep cands and must be safe for concurrent use.
type Policy interface {
	Pick(cands []Candidate) (idx int, ok bool)
}

// The names of the strategies, as configuration spells them.
const (
	StrategyLeastLoad     = "least-load"
	StrategyRoundRobin    = "round-robin"
	StrategyWeighted      = "weighted"
	StrategyPrimaryBackup = "primary-backup"
)

var (
	// ErrNoneEligible means no candidate may receive work; callers answer
	// 503 with Explain's text.
	ErrNoneEligible = errors.New("no eligible controller")
	// ErrUnknownStrategy means ByName was given a name not in Strategies.
	ErrUnknownStrategy = errors.New("unknown balance strategy")
)

// Compile-time guards.
var (
	_ Policy = (*LeastLoad)(nil)
	_ Policy = (*RoundRobin)(nil)
	_ Policy = (*Weighted)(nil)
	_ Policy = PrimaryBackup{}
)

// Strategies returns the valid strategy names, the default first.
func Strategies() []string {
	return []string{StrategyLeastLoad, StrategyRoundRobin, StrategyWeighted, StrategyPrimaryBackup}
}

// ByName returns a new policy for strategy; "" means least-load. Stateful
// policies are fresh, so call it once per pool and keep the result.
func ByName(strategy string) (Policy, error) {
	switch strategy {
	case "", StrategyLeastLoad:
		return &LeastLoad{}, nil
	case StrategyRoundRobin:
		return &RoundRobin{}, nil
	case StrategyWeighted:
		return &Weighted{}, nil
	case StrategyPrimaryBackup:
		return PrimaryBackup{}, nil
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownStrategy, strategy, strings.Join(Strategies(), ", "))
}

// Pick asks p for a candidate and turns "none eligible" into an error that
// wraps ErrNoneEligible and carries Explain's text.
func Pick(p Policy, cands []Candidate) (int, error) {
	if i, ok := p.Pick(cands); ok {
		return i, nil
	}
	return -1, fmt.Errorf("%w: %s", ErrNoneEligible, Explain(cands))
}
