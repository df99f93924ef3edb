// Package e2e holds end-to-end tests: a whole jenkinds (admin API, health
// monitor, durable builds, front door; see internal/server/servertest) in
// front of simulated Jenkins controllers, driven over HTTP the way Jenkins
// clients drive it, while the controllers and jenkinds itself fail.
//
// The package has no code of its own; its tests are in *_test.go.
package e2e
