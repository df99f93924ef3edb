// Package servertest runs a whole jenkinds — admin API, health monitor,
// durable builds and the front door — in a test, in front of simulated
// Jenkins controllers, and can restart it on the same database.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// AdminToken is the admin token of every test server.
const AdminToken = "servertest-admin-token-0123456789"

// User and Token are the credentials of the simulated controllers, which
// clients use on the front door.
const (
	User  = "admin"
	Token = "11servertest-user-token"
)

// Options shape the test server.
type Options struct {
	// Engine is the database engine; zero is SQLite.
	Engine *dbtest.Engine
	// Controllers is how many simulated controllers to start and register
	// (cluster "default"). Default: 0.
	Controllers int
	// Sim is the template of the simulated controllers (Token and User are
	// set by this package). Jobs default to the simulator's demo jobs.
	Sim jenkinssim.Config
	// Health and Dispatch tune the server; zero fields get fast test
	// defaults (probes every 500ms with a 500ms timeout, 3 failures to go
	// out, which stays calm under -race on 2 cores; follow rounds every
	// 20ms).
	Health   health.Config
	Dispatch dispatch.Config
	// FleetMaxStaleness is --fleet-max-staleness; 0: the server's default.
	FleetMaxStaleness time.Duration
	// Log receives the server's logs; nil discards them.
	Log *slog.Logger
}

// Server is a running jenkinds with its controllers.
type Server struct {
	t       testing.TB
	cfg     server.Config
	log     *slog.Logger
	Sims    []*jenkinssim.Controller
	Admin   string // http://host:port of the admin API
	Front   string // http://host:port of the front door
	mu      sync.Mutex
	srv     *server.Server
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// Start starts the controllers and jenkinds, registers the controllers and
// waits until each is healthy. When JENKINDS_TEST_HOG is set, CPU hogs run
// until t ends (see testkit.HogFromEnv).
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	testkit.HogFromEnv(t)
	dbURL := ""
	if o.Engine != nil {
		dbURL = o.Engine.URL(t)
	}
	h, d := o.Health, o.Dispatch
	orDefault(&h.Interval, 500*time.Millisecond)
	orDefault(&h.Timeout, 500*time.Millisecond)
	orDefault(&h.UnhealthyInterval, 100*time.Millisecond)
	orDefault(&h.Rise, 1)
	orDefault(&h.Fall, 3)
	orDefault(&d.FollowInterval, 20*time.Millisecond)
	orDefault(&d.PlaceInterval, 20*time.Millisecond)
	orDefault(&d.InventoryInterval, 500*time.Millisecond)
	orDefault(&d.RetryBase, 20*time.Millisecond)
	orDefault(&d.RetryMax, 200*time.Millisecond)
	orDefault(&d.Cooldown, 100*time.Millisecond)
	orDefault(&d.RedispatchAfter, 300*time.Millisecond)
	orDefault(&d.AmbiguousGrace, time.Second)
	orDefault(&d.RequestTimeout, 2*time.Second)
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{t: t, log: log, cfg: server.Config{
		Listen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0", DataDir: t.TempDir(), Database: dbURL,
		Health: h, Dispatch: d, SyncInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		FleetMaxStaleness: o.FleetMaxStaleness,
	}}
	if o.Controllers > 0 {
		tmpl := o.Sim
		tmpl.User, tmpl.Token = User, Token
		cs, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: o.Controllers, Template: tmpl})
		if err != nil {
			t.Fatalf("start simulated controllers: %v", err)
		}
		s.Sims = cs
		t.Cleanup(func() {
			for _, c := range cs {
				_ = c.Close()
			}
		})
	}
	s.start()
	t.Cleanup(s.Stop)
	for _, c := range s.Sims {
		s.API("POST", "/api/v1/instances", map[string]any{
			"name": c.Name(), "url": strings.TrimSuffix(c.URL(), "/"), "username": User, "apiToken": Token,
		}, http.StatusCreated)
	}
	if len(s.Sims) > 0 {
		if err := s.srv.Resync(context.Background()); err != nil {
			t.Fatalf("resync: %v", err)
		}
		s.API("POST", "/api/v1/health-checks", map[string]any{}, http.StatusOK)
	}
	return s
}

func (s *Server) start() {
	s.t.Helper()
	getenv := func(k string) string {
		if k == "JENKINDS_ADMIN_TOKEN" {
			return AdminToken
		}
		return ""
	}
	cfg := s.cfg
	srv, err := server.New(context.Background(), cfg, getenv, s.log)
	if err != nil {
		s.t.Fatalf("start jenkinds: %v", err)
	}
	addr, err := srv.Listen()
	if err != nil {
		s.t.Fatalf("start jenkinds: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.srv, s.cancel, s.done, s.stopped = srv, cancel, make(chan error, 1), false
	s.Admin, s.Front = "http://"+addr, "http://"+srv.ProxyAddr()
	s.mu.Unlock()
	go func() { s.done <- srv.Run(ctx) }()
}

// orDefault sets *v to def when it is zero.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Jenkinds is the running server.
func (s *Server) Jenkinds() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Stop shuts jenkinds down (gracefully); the controllers keep running.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("jenkinds stopped with an error: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("jenkinds did not stop within 30s")
	}
}

// Restart stops jenkinds and starts it again on the same database and
// data directory, on the same front door and admin addresses when they
// are free.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.cfg.Listen = strings.TrimPrefix(s.Admin, "http://")
	s.cfg.ProxyListen = strings.TrimPrefix(s.Front, "http://")
	s.start()
}

// API calls the admin API and checks the status; it returns the body.
func (s *Server) API(method, path string, body any, want int) []byte {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Admin+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	return data
}

// Jenkins sends a request to the front door with the controllers'
// credentials, as a Jenkins client does.
func (s *Server) Jenkins(method, path string, body io.Reader, contentType string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.Front+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth(User, Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return res, data
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// String describes the server for failure messages.
func (s *Server) String() string {
	return fmt.Sprintf("jenkinds admin %s front %s with %d controllers", s.Admin, s.Front, len(s.Sims))
}
