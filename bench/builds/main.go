// Command builds measures jenkinds' durable builds end to end, through the
// front door, against simulated Jenkins controllers in processes of their
// own:
//
//   - accept: builds accepted per second (POST buildWithParameters, 201),
//     with conns clients at once for a while; zero-duration builds, so
//     placing and following them runs alongside;
//   - complete: builds completed per second end to end: a burst of
//     zero-duration builds, from the first trigger to the last build
//     finished as jenkinds' /metrics (jenkinds_builds) counts them;
//   - follow: the requests jenkinds makes to the controllers while it
//     follows many long builds in flight, counted by the simulators
//     (GET /__sim/state), per controller per second per 100 builds.
//
// Each phase prints the CPU seconds of jenkinds, of the simulators, of
// this load generator (and of PostgreSQL, when it is the database and runs
// here), from /proc/<pid>/stat and getrusage. run.sh beside this file
// builds jenkinds and runs this; README.md says how to read the output.
//
//	builds -jenkinds ./jenkinds [-database postgres://…] [-duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is the benchmark's flags.
type config struct {
	jenkinds     string
	controllers  int
	perProcess   int
	agents       int
	executors    int
	database     string
	serveArgs    string
	conns        int
	duration     time.Duration
	burst        int
	inflight     int
	longBuild    time.Duration
	settle       time.Duration
	drainTimeout time.Duration
	phases       []string
	keep         bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && err != errHelp {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "builds:", err)
		}
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("builds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: builds [flags]

Starts simulated Jenkins controllers ("jenkinds sim", in processes of their
own) and "jenkinds serve" with a front door, registers the controllers, and
measures through the front door: builds accepted per second, builds
completed per second end to end, and the requests jenkinds makes to the
controllers while it follows many builds in flight. Prints the figures and
the CPU split between jenkinds, the simulators and this load generator.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.jenkinds, "jenkinds", "jenkinds", "the jenkinds binary (built from ./cmd/jenkinds)")
	fs.IntVar(&c.controllers, "controllers", 5, "simulated controllers")
	fs.IntVar(&c.perProcess, "per-process", 1, "simulated controllers per simulator process")
	fs.IntVar(&c.agents, "agents", 1, "agents per controller besides the built-in node")
	fs.IntVar(&c.executors, "executors", 1100, "executors per node (controllers × (agents+1) × executors must hold -inflight builds)")
	fs.StringVar(&c.database, "database", "", "jenkinds' database: empty for SQLite in a temporary directory, or postgres://… (the benchmark uses a fresh schema there and drops it)")
	fs.StringVar(&c.serveArgs, "serve-args", "", `more flags for "jenkinds serve", e.g. "--build-follow-interval 2s"`)
	fs.IntVar(&c.conns, "conns", 64, "concurrent clients that trigger builds")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of the accept phase, and of the follow phase's measurement")
	fs.IntVar(&c.burst, "burst", 10000, "builds of the complete phase")
	fs.IntVar(&c.inflight, "inflight", 10000, "builds in flight in the follow phase")
	fs.DurationVar(&c.longBuild, "long-build", time.Hour, "duration of the follow phase's builds (they must outlast the phase)")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "follow phase: wait this long after every build runs before measuring")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 5*time.Minute, "longest wait for the builds of a phase to end, or to run")
	phases := fs.String("phases", "accept,complete,follow", "phases to run, comma-separated")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, SQLite database)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return c, errHelp
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "builds: unexpected argument %q\n", fs.Arg(0))
		return c, errUsage
	}
	c.phases = strings.Split(*phases, ",")
	for _, p := range c.phases {
		if !slices.Contains([]string{"accept", "complete", "follow"}, p) {
			return c, fmt.Errorf("-phases: %q is not one of accept, complete, follow", p)
		}
	}
	switch {
	case c.controllers < 1 || c.perProcess < 1:
		return c, fmt.Errorf("-controllers and -per-process must be at least 1")
	case c.conns < 1 || c.burst < 1 || c.inflight < 1 || c.duration <= 0:
		return c, fmt.Errorf("-conns, -burst, -inflight and -duration must be positive")
	case slices.Contains(c.phases, "follow") && c.controllers*(c.agents+1)*c.executors < c.inflight:
		return c, fmt.Errorf("-inflight %d does not fit on %d controllers × %d nodes × %d executors: raise -executors",
			c.inflight, c.controllers, c.agents+1, c.executors)
	case c.database != "" && !strings.HasPrefix(c.database, "postgres://") && !strings.HasPrefix(c.database, "postgresql://"):
		return c, fmt.Errorf("-database: want a postgres:// URL, or nothing for SQLite in a temporary directory")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "jenkinds-bench-builds-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintln(stderr, "logs kept in", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	db := "SQLite in " + dir
	if cfg.database != "" {
		db = "PostgreSQL " + redact(cfg.database)
	}
	fmt.Fprintf(stdout, "jenkinds builds benchmark — %s, %s, %s\n", time.Now().UTC().Format(time.RFC3339), machine(), runtime.Version())
	fmt.Fprintf(stdout, "%d simulated controllers (%d per process, %d nodes × %d executors each), jenkinds on %s, %d clients\n",
		cfg.controllers, cfg.perProcess, cfg.agents+1, cfg.executors, db, cfg.conns)
	fmt.Fprintln(stderr, "starting the simulators and jenkinds…")
	w, err := startWorld(ctx, cfg, dir)
	if err != nil {
		return err
	}
	defer w.close()
	l := newLoader(w.front, cfg.conns)
	// Warm up: the job inventory, the front door's cache of the client's
	// credentials, the connections.
	warm := l.run(ctx, cfg.conns, cfg.conns*4, 0, 0)
	if warm.accepted == 0 {
		return fmt.Errorf("no build accepted while warming up: %v; the end of %s:\n%s", warm.failed, w.jk.log, w.jk.tail())
	}
	if _, err := w.waitBuilds(ctx, cfg.drainTimeout, "warm-up builds to end", func(b builds) bool {
		return b.unfinished() == 0 && b.terminal() >= float64(warm.accepted)
	}); err != nil {
		return err
	}
	r := &report{out: stdout}
	for _, p := range cfg.phases {
		fmt.Fprintf(stderr, "phase %s…\n", p)
		var err error
		switch p {
		case "accept":
			err = r.accept(ctx, w, l)
		case "complete":
			err = r.complete(ctx, w, l)
		case "follow":
			err = r.follow(ctx, w, l)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", p, err)
		}
	}
	r.summary()
	return nil
}
