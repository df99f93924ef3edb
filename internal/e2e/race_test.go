//go:build race

package e2e_test

// The race detector slows jenkinds down several times over: the chaos
// test then runs fewer builds, so that it still ends well within its
// deadlines on a loaded CI machine.
func init() { raceEnabled = true }
