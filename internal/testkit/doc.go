// Package testkit is the one kit of test helpers every package shares,
// instead of a local variant in each (house style, rule 27):
//
//   - [Eventually] polls a condition until it holds, failing the test with
//     a description of what never happened; [Sayf] makes a fixed
//     description.
//   - [Clock] is a settable, concurrency-safe time source to inject where
//     code takes a `now func() time.Time`.
//   - [DeadAddr] is a loopback address nothing listens on: a dial to it is
//     refused at once (ECONNREFUSED), for failure paths.
//   - [Hog] and [HogFromEnv] keep the CPU busy from other processes while a
//     test runs.
//   - [Answer] checks an HTTP answer's status, headers and body in table
//     tests.
//
// # CPU hogs
//
// A hog is a child process (/bin/sh, looping) that burns a CPU core for as
// long as the test runs: the test then competes for the machine with
// something it does not control, as in CI when "the machine is busy". Hogs
// are killed when the test ends (the tests of one binary share them: see
// [Hog]), whether it passes, fails or panics
// (t.Cleanup kills their process group); should the test binary die
// without cleaning up (killed, or a -timeout panic), each hog sees its
// parent gone and exits within a fraction of a second.
//
// Set JENKINDS_TEST_HOG=N to run N hogs under every test that calls
// [HogFromEnv] (the shared fixtures servertest.Start, apitest.StartFleet
// and dbtest.Engines do), so that a whole suite can run on a saturated
// machine without changing a test:
//
//	JENKINDS_TEST_HOG=2 go test -race ./...
//
// bench/underload.sh runs any command under hogs of its own, N times in a
// row, stopping at the first failure.
//
// A hog makes a test slower, never wrong. It never makes a test fail that
// waits for what it needs ([Eventually], a channel) under deadlines set
// far above what a healthy run takes; a test that fails only under a hog
// had confused a slow machine with a broken one (a deadline too tight, a
// timing assertion, a sleep standing in for a signal). That is what hogs
// are for: to flush such tests out before a busy CI machine does.
package testkit
