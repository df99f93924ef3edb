package testkit

import (
	"fmt"
	"testing"
	"time"
)

// maxPoll caps the pause between two evaluations of a condition: the first
// ones come a millisecond apart, so that a condition about to hold is seen
// at once, and the pause doubles up to maxPoll, so that a long wait does
// not load the machine with the very checks that wait on it.
const maxPoll = 50 * time.Millisecond

// Eventually evaluates cond until it holds, polling every few milliseconds.
// If within passes first, it fails t with what(), which may describe the
// last state cond saw; cond is evaluated once more at the deadline. Like
// t.Fatal, call it from the test's goroutine.
func Eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("not within %s: %s", within, what())
			return
		}
		<-time.After(min(pause, left))
		pause = min(2*pause, maxPoll)
	}
}

// Sayf is a what for [Eventually] when the description does not depend on
// the state: Sayf("build %d to end", n).
func Sayf(format string, args ...any) func() string {
	return func() string { return fmt.Sprintf(format, args...) }
}
