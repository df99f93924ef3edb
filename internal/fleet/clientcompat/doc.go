// Package clientcompat checks that real, unmodified Jenkins clients pointed
// at jenkinds' front door, in front of several simulated controllers, work
// as they do against one Jenkins: they trigger builds, follow queue items to
// build numbers, read build info and console output, stop and cancel, see
// the builds and nodes of every controller (package fleet), and read their
// own writes — a job created, reconfigured or deleted, a build triggered
// or cancelled — in the very next read, though the front door answers
// reads from memory (package catalog). Where the
// clients have known bugs against real Jenkins, the same bugs show here
// (see shared/research/jenkins-api.md §10, "Client call maps", and
// internal/jenkinssim/clientcompat, which checks the same clients against
// one simulated controller).
//
// It holds only tests. Each runs a whole jenkinds (package servertest) in
// front of three simulated controllers and, besides what the client saw,
// checks where the builds really ran: on the controllers themselves and
// through the admin API. The clients are:
//
//   - python-jenkins 1.4.0 (Debian's python3-jenkins, run with
//     /usr/bin/python3, whose urllib3 1.26 it works with), driven by
//     testdata/pyjenkins_fleet.py;
//   - the Go module github.com/bndr/gojenkins v1.1.0;
//   - jenkins-job-builder 3.11 (Debian's jenkins-job-builder), which
//     creates, reconfigures and deletes jobs and folders through the front
//     door with the simulator's own YAML files (jjb_test.go).
//
// Where a client tripped over the front door, frontdoor_test.go shows the
// same with the fewest plain HTTP requests, beside what one of the
// controllers answers to them.
//
// Without `apt-get install python3-jenkins jenkins-job-builder` the
// python-jenkins and jenkins-job-builder tests are skipped, or fail when
// the environment variable CI is set.
package clientcompat
