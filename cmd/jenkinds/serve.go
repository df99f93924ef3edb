package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/proxy"
	"github.com/jenkinds/jenkinds/internal/server"
)

func init() {
	register(command{name: "serve", summary: "run jenkinds: admin API, health monitor, metrics", run: runServe})
}

const serveHelp = `
Runs jenkinds: the controller registry and its admin API (/api/v1, behind
the admin token), the health monitor, /metrics, /healthz and /readyz, and —
with --proxy-listen — the front door that serves the controllers' UI, API
and agents with sticky sessions and sub-second failover, and answers the
Jenkins API across the controllers itself: builds triggered there are
stored before the answer, placed on the least-loaded controller that has
the job, followed, and placed again if that controller dies. On SIGTERM it stops
accepting, finishes in-flight requests and closes WebSockets cleanly.

Every flag can also be set by an environment variable (flags win):
  --listen           JENKINDS_LISTEN
  --data-dir         JENKINDS_DATA_DIR
  --database         JENKINDS_DATABASE
  --health-interval  HEALTH_CHECK_INTERVAL   (milliseconds, as in the seed)
  --health-timeout   HEALTH_CHECK_TIMEOUT    (milliseconds)
  --proxy-listen     JENKINDS_PROXY_LISTEN
  --tls-cert/--tls-key  JENKINDS_TLS_CERT / JENKINDS_TLS_KEY
  --build-max-attempts JENKINDS_BUILD_MAX_ATTEMPTS
  --build-strategy   JENKINDS_BUILD_STRATEGY
  --log-format       JENKINDS_LOG_FORMAT
  --log-level        JENKINDS_LOG_LEVEL
Secrets: JENKINDS_SECRET_KEY (else <data-dir>/secret.key is created, 0600)
and JENKINDS_ADMIN_TOKEN (else <data-dir>/admin.token is created, 0600, and
printed once).

Examples:
  jenkinds serve
  jenkinds serve --database postgres://jenkinds@db/jenkinds --listen :7070
  jenkinds serve --proxy-listen :8080 --tls-cert cert.pem --tls-key key.pem`

// serveFlags are the flags serve and demo share.
type serveFlags struct {
	listen, dataDir, database string
	intervalMs, timeoutMs     int
	unhealthyMs               int
	rise, fall                int
	logFormat, logLevel       string
	envErr                    error

	proxyListen, defaultCluster string
	hedgeAfter, passiveWindow   time.Duration
	headerTimeout, starvedLag   time.Duration
	fleetStaleness              time.Duration
	fleetMaxFormBytes           int64
	tryBudget, passiveFailures  int
	tlsCert, tlsKey, agentHost  string
	accessLog                   bool
	pprof                       bool

	buildAttempts                  int
	buildStrategy                  string
	buildFollow, buildRedispatch   time.Duration
	buildFollowBusy                time.Duration
	buildInventory, buildAmbiguous time.Duration
}

func addServeFlags(fs *flag.FlagSet, env *environment, f *serveFlags) {
	str := func(name string, def string) string {
		if v := env.getenv(name); v != "" {
			return v
		}
		return def
	}
	num := func(name string, def int) int {
		v := env.getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			f.envErr = fmt.Errorf("%w: environment variable %s=%q: must be a positive whole number of milliseconds", errUsage, name, v)
			return def
		}
		return n
	}
	fs.StringVar(&f.listen, "listen", str("JENKINDS_LISTEN", "127.0.0.1:7070"), "address of the admin API and /metrics")
	fs.StringVar(&f.dataDir, "data-dir", str("JENKINDS_DATA_DIR", "./jenkinds-data"), "directory for the SQLite database, the secret key and the admin token")
	fs.StringVar(&f.database, "database", str("JENKINDS_DATABASE", ""), "database URL: a SQLite file path, or postgres://… for PostgreSQL (default: <data-dir>/jenkinds.db)")
	fs.IntVar(&f.intervalMs, "health-interval", num("HEALTH_CHECK_INTERVAL", 30000), "milliseconds between health checks of a reachable controller")
	fs.IntVar(&f.timeoutMs, "health-timeout", num("HEALTH_CHECK_TIMEOUT", 5000), "milliseconds one health check may take")
	fs.IntVar(&f.unhealthyMs, "health-unhealthy-interval", 5000, "milliseconds between checks of an unhealthy controller")
	fs.IntVar(&f.rise, "health-rise", 2, "good checks in a row that bring an unhealthy controller back")
	fs.IntVar(&f.fall, "health-fall", 2, "failed checks in a row that make a controller unhealthy")
	fs.DurationVar(&f.starvedLag, "health-starved-lag", 0, "how late a timer of jenkinds' own must fire for jenkinds to count itself starved of CPU: a probe timing out then proves nothing, and re-dispatch on silence waits (default: a quarter of --health-timeout, 50ms–250ms)")
	fs.StringVar(&f.proxyListen, "proxy-listen", str("JENKINDS_PROXY_LISTEN", ""), "address of the front door that proxies the controllers' UI, API and agents, e.g. :8080 (default: no front door)")
	fs.StringVar(&f.defaultCluster, "proxy-default-cluster", str("JENKINDS_PROXY_DEFAULT_CLUSTER", "default"), "cluster of requests whose Host matches no cluster's loadBalancerUrl")
	fs.DurationVar(&f.hedgeAfter, "proxy-hedge-after", 500*time.Millisecond, "send a short idempotent API request also to another controller when no answer came within this (negative: never)")
	fs.DurationVar(&f.headerTimeout, "proxy-response-header-timeout", 30*time.Second, "how long a request that is not hedged waits for a controller's response headers before it counts as failed")
	fs.IntVar(&f.tryBudget, "proxy-try-budget", 3, "most controllers one request is tried on")
	fs.DurationVar(&f.fleetStaleness, "fleet-max-staleness", time.Second, "how old a controller's answer may be when the front door answers the one-Jenkins API (aggregated reads, a build's JSON) from memory; jenkinds' own writes are read back at once")
	fs.Int64Var(&f.fleetMaxFormBytes, "fleet-max-form-bytes", 10<<20, "largest body of a build request (its form of parameters) on the front door: a larger one is refused with 413 and nothing is queued")
	fs.IntVar(&f.passiveFailures, "proxy-passive-failures", 3, "failed requests (front door or jenkinds' own) within --proxy-passive-window that make a controller unhealthy until its health checks rise")
	fs.DurationVar(&f.passiveWindow, "proxy-passive-window", 10*time.Second, "window of --proxy-passive-failures")
	fs.StringVar(&f.agentHost, "agent-host", str("JENKINDS_AGENT_HOST", "127.0.0.1"), "host the per-controller TCP agent ports listen on and advertise")
	fs.StringVar(&f.tlsCert, "tls-cert", str("JENKINDS_TLS_CERT", ""), "certificate file: serve the front door over HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", str("JENKINDS_TLS_KEY", ""), "private key file of --tls-cert")
	fs.BoolVar(&f.accessLog, "access-log", false, "log every request through the front door")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's profiles at /debug/pprof/ on the admin listener, behind the admin token")
	fs.IntVar(&f.buildAttempts, "build-max-attempts", num("JENKINDS_BUILD_MAX_ATTEMPTS", 3), "placements of a build on controllers before it fails (refused triggers do not count)")
	fs.StringVar(&f.buildStrategy, "build-strategy", str("JENKINDS_BUILD_STRATEGY", "least-load"), "how builds are placed among a cluster's controllers: least-load, round-robin, weighted or primary-backup; per cluster as CLUSTER=STRATEGY, comma-separated, e.g. least-load,production=primary-backup")
	fs.DurationVar(&f.buildFollow, "build-follow-interval", time.Second, "time between two rounds that follow a controller's builds")
	fs.DurationVar(&f.buildFollowBusy, "build-follow-busy-interval", 0, "time between two follow rounds of a controller running builds while builds of its cluster wait for room (default: a tenth of --build-follow-interval)")
	fs.DurationVar(&f.buildRedispatch, "build-redispatch-after", 30*time.Second, "how long an unhealthy controller must have answered nothing at all (counting only time jenkinds itself ran on time) before its builds are placed elsewhere; a refused or reset connection, a restart or a vanished build moves them at once")
	fs.DurationVar(&f.buildInventory, "build-inventory-interval", 30*time.Second, "how often each controller's job list is read")
	fs.DurationVar(&f.buildAmbiguous, "build-ambiguous-grace", 30*time.Second, "how long a trigger whose answer was lost is looked for before the build is placed again")
	fs.StringVar(&f.logFormat, "log-format", str("JENKINDS_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", str("JENKINDS_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
}

func (f *serveFlags) config() (server.Config, error) {
	if f.envErr != nil {
		return server.Config{}, f.envErr
	}
	ms := func(name string, v int) (time.Duration, error) {
		if v <= 0 {
			return 0, fmt.Errorf("%w: --%s %d: must be a positive number of milliseconds", errUsage, name, v)
		}
		return time.Duration(v) * time.Millisecond, nil
	}
	cfg := server.Config{Listen: f.listen, DataDir: f.dataDir, Database: f.database}
	var err error
	if cfg.Health.Interval, err = ms("health-interval", f.intervalMs); err != nil {
		return cfg, err
	}
	if cfg.Health.Timeout, err = ms("health-timeout", f.timeoutMs); err != nil {
		return cfg, err
	}
	if cfg.Health.UnhealthyInterval, err = ms("health-unhealthy-interval", f.unhealthyMs); err != nil {
		return cfg, err
	}
	cfg.Health.Rise, cfg.Health.Fall = f.rise, f.fall
	cfg.Health.PassiveFailures, cfg.Health.PassiveWindow, cfg.Health.StarvedLag = f.passiveFailures, f.passiveWindow, f.starvedLag
	cfg.ProxyListen, cfg.TLSCert, cfg.TLSKey = f.proxyListen, f.tlsCert, f.tlsKey
	if f.fleetStaleness <= 0 {
		return cfg, fmt.Errorf("%w: --fleet-max-staleness %s: must be a positive duration such as 1s", errUsage, f.fleetStaleness)
	}
	cfg.FleetMaxStaleness = f.fleetStaleness
	if f.fleetMaxFormBytes <= 0 {
		return cfg, fmt.Errorf("%w: --fleet-max-form-bytes %d: must be a positive number of bytes such as 10485760", errUsage, f.fleetMaxFormBytes)
	}
	cfg.Fleet.MaxFormBytes = f.fleetMaxFormBytes
	cfg.Pprof = f.pprof
	cfg.Proxy = proxy.Config{
		DefaultCluster: f.defaultCluster, HedgeAfter: f.hedgeAfter, TryBudget: f.tryBudget, ResponseHeaderTimeout: f.headerTimeout,
		AgentHost: f.agentHost, AccessLog: f.accessLog,
	}
	strategyOf, err := parseStrategies(f.buildStrategy)
	if err != nil {
		return cfg, err
	}
	for name, d := range map[string]time.Duration{"build-follow-interval": f.buildFollow, "build-redispatch-after": f.buildRedispatch,
		"build-inventory-interval": f.buildInventory, "build-ambiguous-grace": f.buildAmbiguous} {
		if d <= 0 {
			return cfg, fmt.Errorf("%w: --%s %s: must be a positive duration such as 500ms or 30s", errUsage, name, d)
		}
	}
	if f.buildFollowBusy < 0 || f.buildFollowBusy > f.buildFollow {
		return cfg, fmt.Errorf("%w: --build-follow-busy-interval %s: must be positive and at most --build-follow-interval (%s), or 0 for a tenth of it", errUsage, f.buildFollowBusy, f.buildFollow)
	}
	cfg.Dispatch = dispatch.Config{
		MaxAttempts: f.buildAttempts, FollowInterval: f.buildFollow, BusyFollowInterval: f.buildFollowBusy, RedispatchAfter: f.buildRedispatch,
		InventoryInterval: f.buildInventory, AmbiguousGrace: f.buildAmbiguous,
		Strategy: strategyOf,
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, nil
}

// parseStrategies reads --build-strategy: a default strategy and
// CLUSTER=STRATEGY overrides, comma-separated.
func parseStrategies(v string) (func(cluster string) string, error) {
	def, per := balance.StrategyLeastLoad, map[string]string{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		cluster, strategy, scoped := strings.Cut(item, "=")
		if !scoped {
			strategy = cluster
		}
		if !slices.Contains(balance.Strategies(), strategy) {
			return nil, fmt.Errorf("%w: --build-strategy %q: %q must be one of %s", errUsage, v, strategy, strings.Join(balance.Strategies(), ", "))
		}
		switch {
		case !scoped:
			def = strategy
		case cluster == "":
			return nil, fmt.Errorf("%w: --build-strategy %q: %q needs a cluster name before =", errUsage, v, item)
		default:
			per[cluster] = strategy
		}
	}
	return func(cluster string) string {
		if s, ok := per[cluster]; ok {
			return s
		}
		return def
	}, nil
}

func (f *serveFlags) logger(env *environment) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: must be debug, info, warn or error", errUsage, f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: must be text or json", errUsage, f.logFormat)
}

func runServe(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "serve", "[flags]", serveHelp)
	var f serveFlags
	addServeFlags(fs, env, &f)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	log, err := f.logger(env)
	if err != nil {
		return err
	}
	if env.getenv("GOGC") == "" {
		// The front door allocates per request; collecting less often
		// buys ~10-15% throughput for a few MiB more heap (measured with
		// bench/proxy). GOGC in the environment overrides this.
		debug.SetGCPercent(400)
	}
	srv, err := server.New(ctx, cfg, env.getenv, log)
	if err != nil {
		return err
	}
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	if srv.TokenCreated {
		fmt.Fprintf(env.stdout, "Generated the admin token (stored in %s/admin.token, shown only now):\n  %s\n", cfg.DataDir, srv.AdminToken)
	}
	fmt.Fprintf(env.stdout, "jenkinds admin API on http://%s/api/v1 (metrics on /metrics)\n", addr)
	if pa := srv.ProxyAddr(); pa != "" {
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		fmt.Fprintf(env.stdout, "front door on %s://%s/\n", scheme, pa)
	}
	return srv.Run(ctx)
}
