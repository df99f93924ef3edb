package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server"
)

func init() {
	register(command{name: "demo", summary: "try jenkinds: three simulated controllers behind a local jenkinds", run: runDemo})
}

const demoHelp = `
Starts everything a newcomer needs on this machine, with nothing to set up:
jenkinds on SQLite in a temporary data directory, three simulated Jenkins
controllers (jenkinds sim) registered as cluster "production" — jenkins-0 the
primary (priority 10), jenkins-1 and jenkins-2 backups (priority 5), as in the
seed — and health checks every 2 s. It prints the URLs, the admin token and
commands to try, and runs until Ctrl-C; the temporary directory is removed
on exit unless --data-dir is given.`

func runDemo(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "demo", "[flags]", demoHelp)
	listen := fs.String("listen", "127.0.0.1:7070", "address of the admin API")
	front := fs.String("proxy-listen", "127.0.0.1:8080", "address of the front door (the controllers as one Jenkins)")
	basePort := fs.Int("sim-base-port", 18080, "port of the first simulated controller (0 picks free ports)")
	dataDir := fs.String("data-dir", "", "keep jenkinds' data here instead of a temporary directory")
	interval := fs.Duration("health-interval", 2*time.Second, "health check interval")
	verbose := fs.Bool("v", false, "log at info level (default: warnings only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "jenkinds-demo-")
		if err != nil {
			return fmt.Errorf("create a temporary data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	level := "warn"
	if *verbose {
		level = "info"
	}
	sf := serveFlags{logFormat: "text", logLevel: level}
	log, err := sf.logger(env)
	if err != nil {
		return err
	}

	fmt.Fprintln(env.stdout, "Starting three simulated Jenkins controllers…")
	sims, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: 3, BasePort: *basePort, Template: jenkinssim.Config{
		Agents: 2, QuietPeriod: time.Second, RestartDuration: 3 * time.Second,
		BuildDuration: jenkinssim.Duration{Min: 2 * time.Second, Max: 5 * time.Second},
	}})
	if err != nil {
		return fmt.Errorf("start simulated controllers (another demo running? try --sim-base-port 0): %w", err)
	}
	defer func() {
		for _, s := range sims {
			_ = s.Close()
		}
	}()

	getenv := func(k string) string {
		switch k {
		case "JENKINDS_SECRET_KEY", "JENKINDS_ADMIN_TOKEN":
			return "" // the demo makes its own, in its data directory
		}
		return env.getenv(k)
	}
	cfg := server.Config{Listen: *listen, DataDir: dir, ProxyListen: *front}
	cfg.Proxy.DefaultCluster = "production"
	cfg.Health.Interval, cfg.Health.Timeout, cfg.Health.UnhealthyInterval = *interval, 1500*time.Millisecond, *interval
	srv, err := server.New(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	addr, err := srv.Listen()
	if err != nil {
		return fmt.Errorf("%w (another jenkinds running? try --listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0)", err)
	}
	for i, s := range sims {
		prio, primary := 5, false
		if i == 0 {
			prio, primary = 10, true
		}
		cluster := "production"
		if _, err := srv.Store.Create(ctx, controller.CreateInput{
			Name: s.Name(), URL: strings.TrimSuffix(s.URL(), "/"), Username: s.User(), APIToken: s.Token(),
			Description: "simulated controller", IsPrimary: primary, ClusterID: &cluster, Priority: prio,
		}); err != nil {
			return fmt.Errorf("register %s: %w", s.Name(), err)
		}
	}
	go func() {
		if err := srv.Run(ctx); err != nil {
			fmt.Fprintf(env.stderr, "jenkinds: %v\n", err)
		}
	}()
	// Registration went straight to the store: sync and check at once so
	// the first screen already shows health.
	if err := srv.Resync(ctx); err != nil {
		return err
	}
	srv.Monitor.CheckNow(ctx, "")

	base := "http://" + addr
	w := env.stdout
	fmt.Fprintf(w, "\njenkinds is running (data in %s).\n\n", dir)
	fmt.Fprintf(w, "  Admin API     %s/api/v1   (OpenAPI: %s/api/v1/openapi.json)\n", base, base)
	frontURL := "http://" + srv.ProxyAddr()
	fmt.Fprintf(w, "  Front door    %s/   (the three controllers as one Jenkins; user %s, API token %s)\n", frontURL, sims[0].User(), sims[0].Token())
	fmt.Fprintf(w, "  Metrics       %s/metrics\n", base)
	fmt.Fprintf(w, "  Admin token   %s\n\n", srv.AdminToken)
	fmt.Fprintln(w, "Simulated controllers (cluster production):")
	for i, s := range sims {
		role := "backup, priority 5"
		if i == 0 {
			role = "primary, priority 10"
		}
		fmt.Fprintf(w, "  %-10s %s  (%s; user %s, API token %s)\n", s.Name(), s.URL(), role, s.User(), s.Token())
	}
	fmt.Fprintf(w, "\nTry, in another terminal:\n")
	fmt.Fprintf(w, "  export JENKINDS_ADDR=%s JENKINDS_TOKEN=%s\n", base, srv.AdminToken)
	fmt.Fprintln(w, "  go run ./cmd/jenkinds instances list")
	fmt.Fprintln(w, "  go run ./cmd/jenkinds clusters list")
	fmt.Fprintln(w, "  go run ./cmd/jenkinds optimal --cluster production --strategy primary-backup")
	fmt.Fprintf(w, "  curl -X POST %s__sim/faults -d '{\"kind\":\"down\",\"for\":\"20s\"}'   # kill the primary for 20 s\n", sims[0].URL())
	fmt.Fprintln(w, "  go run ./cmd/jenkinds health check          # then watch it fail over and come back")
	fmt.Fprintf(w, "  curl -s %s/metrics | grep jenkins_instance\n", base)
	fmt.Fprintln(w, "Builds that are never lost, through the front door or the CLI:")
	fmt.Fprintf(w, "  curl -i -u %s:%s -X POST '%s/job/deploy/buildWithParameters?SIM_DURATION_MS=8000'\n", sims[0].User(), sims[0].Token(), frontURL)
	fmt.Fprintf(w, "  curl -s -u %s:%s '%s/job/deploy/api/json?tree=builds[number,building,result]'\n", sims[0].User(), sims[0].Token(), frontURL)
	fmt.Fprintln(w, "  go run ./cmd/jenkinds builds trigger --cluster production deploy -p SIM_DURATION_MS=8000 --follow")
	fmt.Fprintln(w, "  go run ./cmd/jenkinds builds list     # kill the controller running a build: it is placed again")
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(w, "Stopping.")
	return nil
}
