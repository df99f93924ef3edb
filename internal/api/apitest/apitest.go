// Package apitest runs the real admin API (package api) on a real socket
// over a fresh database, for the tests of the API and of its clients.
// Only what would talk to Jenkins is faked: Checker, Picker and Prober
// answer with functions the test sets before its first request.
//
//	s := apitest.Start(t, dbtest.Engines(t)[0])
//	s.Prober.Live = func(controller.Instance) (api.LiveStats, error) { … }
//	c, _ := apiclient.New(s.URL, apitest.Token, s.Client())
//
// StartFleet (fleet.go) adds a real build engine (package dispatch) over
// simulated Jenkins controllers (package jenkinssim) as Config.Builds.
package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/secret"
	"github.com/jenkinds/jenkinds/internal/testkit"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// Token is the admin token of every test server.
const Token = "jk_test-admin-token-0123456789"

// Now is the store's clock: every instance is created and updated then.
var Now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Metrics is what the test server's /metrics answers.
const Metrics = "# fake metrics\n"

// Server is a running API.
type Server struct {
	*httptest.Server
	DB    *db.DB
	Store *controller.Store
	// BuildClusters, Queue and JobLogs are the real build cluster registry,
	// job queue and log store behind the build cluster routes; the router
	// draws with math/rand.
	BuildClusters *buildcluster.Store
	Queue         *queue.Queue
	JobLogs       *workerapi.LogStore
	Handler       http.Handler
	Checker       *Checker
	Picker        *Picker
	Prober        *Prober
	// Logs holds the API's log, as text without times.
	Logs *Buffer
}

// Start runs the API over a fresh, migrated database of engine e until t
// ends; configure may change the config first.
func Start(t testing.TB, e dbtest.Engine, configure ...func(*api.Config)) *Server {
	t.Helper()
	s := &Server{DB: e.Open(t), Checker: &Checker{}, Picker: &Picker{}, Prober: &Prober{}, Logs: &Buffer{}}
	if err := s.DB.Migrate(context.Background(), controller.Migrations, buildcluster.Migrations, queue.Migrations, workerapi.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	sealer, err := secret.NewSealer(secret.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	s.Store = controller.NewStore(s.DB, sealer, func() time.Time { return Now })
	s.BuildClusters = buildcluster.NewStore(s.DB, func() time.Time { return Now })
	s.Queue = queue.New(s.DB, queue.Options{Now: func() time.Time { return Now }})
	s.JobLogs = workerapi.NewLogStore(s.DB, 0, func() time.Time { return Now })
	cfg := api.Config{
		Registry:   s.Store,
		Checker:    s.Checker,
		Picker:     s.Picker,
		Prober:     s.Prober,
		AdminToken: Token,
		Ready:      s.DB.Ready,
		Metrics:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, Metrics) }),
		Logger:     NewLogger(s.Logs),

		BuildClusters: s.BuildClusters,
		BuildRouter:   buildcluster.NewRouter(s.BuildClusters, rand.IntN),
		BuildQueue:    s.Queue,
		JobLogs:       s.JobLogs,
	}
	for _, c := range configure {
		c(&cfg)
	}
	if s.Handler, err = api.New(cfg); err != nil {
		t.Fatalf("api.New: %v", err)
	}
	s.Server = httptest.NewServer(s.Handler)
	t.Cleanup(s.Close)
	return s
}

// NewLogger logs everything, debug included, to w as text without times:
// "level=INFO msg=… key=value".
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// errUnset is what a fake answers when the test did not set it.
func errUnset(what string) error { return fmt.Errorf("apitest: %s is not set in this test", what) }

// Checker is an api.Checker answering with Check.
type Checker struct {
	Check func(clusterID string) ([]api.CheckResult, error)
}

func (c *Checker) CheckNow(_ context.Context, clusterID string) ([]api.CheckResult, error) {
	if c.Check == nil {
		return nil, errUnset("Checker.Check")
	}
	return c.Check(clusterID)
}

// Picker is an api.Picker answering with its functions.
type Picker struct {
	PickOptimal  func(clusterID, strategy string) (controller.Instance, error)
	PickFailover func(clusterID string, currentID int64) (controller.Instance, error)
	PickPrimary  func(clusterID string) (controller.Instance, error)
}

func (p *Picker) Optimal(_ context.Context, clusterID, strategy string) (controller.Instance, error) {
	if p.PickOptimal == nil {
		return controller.Instance{}, errUnset("Picker.PickOptimal")
	}
	return p.PickOptimal(clusterID, strategy)
}

func (p *Picker) Failover(_ context.Context, clusterID string, currentID int64) (controller.Instance, error) {
	if p.PickFailover == nil {
		return controller.Instance{}, errUnset("Picker.PickFailover")
	}
	return p.PickFailover(clusterID, currentID)
}

func (p *Picker) Primary(_ context.Context, clusterID string) (controller.Instance, error) {
	if p.PickPrimary == nil {
		return controller.Instance{}, errUnset("Picker.PickPrimary")
	}
	return p.PickPrimary(clusterID)
}

// Prober is an api.Prober answering with Test and Live.
type Prober struct {
	Test func(url, username, apiToken string) api.TestResult
	Live func(inst controller.Instance) (api.LiveStats, error)
}

func (p *Prober) TestConnection(_ context.Context, url, username, apiToken string) api.TestResult {
	if p.Test == nil {
		return api.TestResult{Message: errUnset("Prober.Test").Error()}
	}
	return p.Test(url, username, apiToken)
}

func (p *Prober) Stats(_ context.Context, inst controller.Instance) (api.LiveStats, error) {
	if p.Live == nil {
		return api.LiveStats{}, errUnset("Prober.Live")
	}
	return p.Live(inst)
}

var (
	_ api.Checker = (*Checker)(nil)
	_ api.Picker  = (*Picker)(nil)
	_ api.Prober  = (*Prober)(nil)
)

// OnePrimary scripts the Picker for one cluster of two instances and
// records every call in asked: Primary answers primary in its cluster and
// ErrNotFound elsewhere; Failover answers backup, except from backup
// itself, which has nothing eligible left.
func (p *Picker) OnePrimary(primary, backup controller.Instance, asked *Record) {
	p.PickPrimary = func(clusterID string) (controller.Instance, error) {
		asked.Add("primary %s", clusterID)
		if clusterID != primary.ClusterID {
			return controller.Instance{}, fmt.Errorf("cluster %q has no primary: %w", clusterID, controller.ErrNotFound)
		}
		return primary, nil
	}
	p.PickFailover = func(clusterID string, currentID int64) (controller.Instance, error) {
		asked.Add("failover %s %d", clusterID, currentID)
		if currentID == backup.ID {
			return controller.Instance{}, fmt.Errorf("%w: 1 controller: 1 unhealthy", balance.ErrNoneEligible)
		}
		return backup, nil
	}
}

// ErrDown is a Prober.Live error for a controller that does not answer.
var ErrDown = errors.New("dial tcp 10.0.0.1:8080: connect: connection refused")

// Record collects what fakes were asked, from the server's goroutines.
type Record struct {
	mu    sync.Mutex
	calls []string
}

// Add records one call.
func (r *Record) Add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// String returns the calls so far, joined by "|".
func (r *Record) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, "|")
}

// JSON renders v as the API does, for comparisons.
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// DeadAddr is testkit.DeadAddr, for the callers it had here.
//
// Deprecated: use testkit.DeadAddr.
func DeadAddr(t testing.TB) string {
	t.Helper()
	return testkit.DeadAddr(t)
}

// Buffer is a bytes buffer safe for the server's goroutines.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
