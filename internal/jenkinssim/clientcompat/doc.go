// Package clientcompat checks that real, unmodified Jenkins clients work
// against the simulator in package jenkinssim, and that the clients' known
// bugs against real Jenkins show up against it too (see
// shared/research/jenkins-api.md §10, "Client call maps").
//
// It holds only tests. The clients are:
//
//   - python-jenkins 1.4.0 (Debian's python3-jenkins, run with
//     /usr/bin/python3, whose urllib3 1.26 it works with), driven by
//     testdata/pyjenkins_scenarios.py;
//   - jenkins-job-builder 3.11 (Debian's /usr/bin/jenkins-jobs);
//   - the Go module github.com/bndr/gojenkins v1.1.0.
//
// The Debian packages are installed with
// `apt-get install python3-jenkins jenkins-job-builder`. Without them the
// tests that need them are skipped, or fail when the environment variable
// CI is set.
package clientcompat
