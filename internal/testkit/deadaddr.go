package testkit

import (
	"net"
	"testing"
)

// DeadAddr returns a loopback address ("127.0.0.1:port") nothing listens
// on: it binds a port and closes it, so a dial is refused at once
// (ECONNREFUSED) instead of hanging, for tests of failure paths.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dead address: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("dead address: %v", err)
	}
	return addr
}
