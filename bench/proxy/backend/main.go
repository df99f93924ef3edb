// Command backend is a minimal, fast stand-in for a Jenkins controller, used
// by bench/proxy/run.sh behind nginx, HAProxy, a plain httputil.ReverseProxy
// and jenkinds. It answers the few read-only endpoints a front door and its
// health checks touch, with fixed bodies and Jenkins' identifying headers,
// over a small HTTP/1.1 server of its own (server.go says why not net/http),
// so that it is never the bottleneck of a proxy benchmark. It checks no
// credentials: any Authorization header, or none, is accepted.
//
// Every answer carries X-Backend: <name>, so a load generator can tell which
// backend served it.
//
// Faults, for the failure scenarios:
//
//	POST   /__sim/faults {"kind":"hang"}  accept connections, never answer (except /__sim/)
//	DELETE /__sim/faults                  answer again; hung requests are answered too
//	GET    /__sim/faults                  the fault, hung requests, last load request seen
//
// A request carrying the header X-Bench-Load is load traffic (not a health
// check): while hanging, the backend remembers when the last one arrived, so
// the harness learns when a proxy stopped sending it traffic. The kill
// scenario needs nothing here: the harness sends SIGKILL.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("backend stopped", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18801", "address to listen on")
	name := fs.String("name", "b1", "name sent in the X-Backend header of every answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	session, err := newSession()
	if err != nil {
		return fmt.Errorf("make session id: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("backend listening", "addr", ln.Addr().String(), "name", *name, "session", session)
	if err := newServer(*name, session, time.Now).Serve(ctx, ln); err != nil {
		return fmt.Errorf("serve on %s: %w", *addr, err)
	}
	return nil
}

// newSession returns 8 hex digits, the shape of Jenkins' X-Jenkins-Session.
// It is fixed for the life of the process, as Jenkins' is.
func newSession() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
