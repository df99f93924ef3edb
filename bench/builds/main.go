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
//     (GET /__sim/state), per controller per second per 100 builds;
//   - dbrestart (PostgreSQL only): triggers for a while, PostgreSQL
//     restarted a third of the way in: failed triggers, and whether every
//     accepted build finished and ran once;
//   - backlog: in a world of its own (a few controllers with a known
//     number of executors, registered with jenkinds' defaults), a backlog
//     of short builds accepted first, then drained: the drain rate against
//     the rate the executors allow, and the leader's CPU meanwhile.
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
	"path/filepath"
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
	progress     time.Duration // between two progress lines of a long wait
	dbRestart    string        // the command that restarts PostgreSQL (dbrestart phase)
	backlog      backlogConfig
}

// backlogConfig is the backlog phase's world and load (backlog.go).
type backlogConfig struct {
	builds      int           // accepted first, then drained
	controllers int           // simulated controllers
	agents      int           // agents per controller besides the built-in node
	executors   int           // executors per node
	buildMs     int           // SIM_DURATION_MS of every build
	timeout     time.Duration // 0: from the rate the executors allow
	stall       time.Duration // longest time without a build ending
	sample      time.Duration // between two looks at jenkinds and the controllers
	cpuProfile  string        // where to write a CPU profile of jenkinds taken during the drain
}

// totalExecutors is what the backlog's controllers run at once.
func (b backlogConfig) totalExecutors() int { return b.controllers * (b.agents + 1) * b.executors }

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
	phases := fs.String("phases", "accept,complete,follow", "phases to run, comma-separated: accept, complete, follow, dbrestart (PostgreSQL only), backlog")
	fs.StringVar(&c.dbRestart, "db-restart", defaultDBRestart(), "dbrestart phase: the shell command that restarts PostgreSQL")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, SQLite database)")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "time between two progress lines (on stderr) while a phase waits")
	fs.IntVar(&c.backlog.builds, "backlog", 20000, "backlog phase: builds accepted first, then drained")
	fs.IntVar(&c.backlog.controllers, "backlog-controllers", 3, "backlog phase: simulated controllers, one process each")
	fs.IntVar(&c.backlog.agents, "backlog-agents", 1, "backlog phase: agents per controller besides the built-in node")
	fs.IntVar(&c.backlog.executors, "backlog-executors", 4, "backlog phase: executors per node")
	fs.IntVar(&c.backlog.buildMs, "backlog-build-ms", 200, "backlog phase: SIM_DURATION_MS of every build")
	fs.DurationVar(&c.backlog.timeout, "backlog-timeout", 0, "backlog phase: longest wait for the backlog to be accepted and drained (0: 60s + 10 × what the executors need)")
	fs.DurationVar(&c.backlog.sample, "backlog-sample", 500*time.Millisecond, "backlog phase: time between two reads of jenkinds' /metrics and the controllers' state (± 25 %, at random); each scrape costs jenkinds a COUNT over its builds")
	fs.DurationVar(&c.backlog.stall, "backlog-stall", 2*time.Minute, "backlog phase: fail when no build ended for this long")
	fs.StringVar(&c.backlog.cpuProfile, "cpuprofile", "", "backlog phase: write a 30s CPU profile of jenkinds, taken from the start of the drain, to this file (adds --pprof to jenkinds serve)")
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
		if !slices.Contains([]string{"accept", "complete", "follow", "dbrestart", "backlog"}, p) {
			return c, fmt.Errorf("-phases: %q is not one of accept, complete, follow, dbrestart, backlog", p)
		}
	}
	switch {
	case c.controllers < 1 || c.perProcess < 1:
		return c, fmt.Errorf("-controllers and -per-process must be at least 1")
	case c.conns < 1 || c.burst < 1 || c.inflight < 1 || c.duration <= 0 || c.progress <= 0:
		return c, fmt.Errorf("-conns, -burst, -inflight, -duration and -progress must be positive")
	case c.backlog.builds < 1 || c.backlog.controllers < 1 || c.backlog.agents < 0 || c.backlog.executors < 1 || c.backlog.buildMs < 1 || c.backlog.stall <= 0 || c.backlog.sample <= 0:
		return c, fmt.Errorf("-backlog, -backlog-controllers, -backlog-executors, -backlog-build-ms, -backlog-stall and -backlog-sample must be positive, -backlog-agents at least 0")
	case slices.Contains(c.phases, "follow") && c.controllers*(c.agents+1)*c.executors < c.inflight:
		return c, fmt.Errorf("-inflight %d does not fit on %d controllers × %d nodes × %d executors: raise -executors",
			c.inflight, c.controllers, c.agents+1, c.executors)
	case slices.Contains(c.phases, "dbrestart") && c.database == "":
		return c, fmt.Errorf("-phases dbrestart restarts PostgreSQL: give -database postgres://…")
	case slices.Contains(c.phases, "dbrestart") && c.dbRestart == "":
		return c, fmt.Errorf("-phases dbrestart: no single cluster under /etc/postgresql; give -db-restart with the command that restarts PostgreSQL")
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
	fmt.Fprintf(stdout, "jenkinds builds benchmark — %s, %s, %s, jenkinds on %s\n", time.Now().UTC().Format(time.RFC3339), machine(), runtime.Version(), db)
	if cfg.backlog.cpuProfile != "" {
		cfg.serveArgs += " --pprof"
	}
	// The phases accept, complete and follow share one world; backlog has
	// one of its own. A world is started when the next phase needs another
	// one, after the last is stopped: never two at once.
	var w *world
	var l *loader
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	r := &report{out: stdout}
	for _, p := range cfg.phases {
		spec := cfg.mainSpec()
		if p == "backlog" {
			spec = cfg.backlogSpec()
		}
		if w == nil || w.spec != spec {
			if w != nil {
				w.close()
				w = nil
			}
			fmt.Fprintf(stdout, "\n%d simulated controllers (%d per process, %d nodes × %d executors each, registered with maxConnections %s), %d clients\n",
				spec.controllers, spec.perProcess, spec.agents+1, spec.executors, spec.maxConnections(), cfg.conns)
			fmt.Fprintln(stderr, "starting the simulators and jenkinds…")
			if w, l, err = openWorld(ctx, cfg, spec, filepath.Join(dir, spec.name), stderr); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "phase %s…\n", p)
		switch p {
		case "accept":
			err = r.accept(ctx, w, l)
		case "complete":
			err = r.complete(ctx, w, l)
		case "follow":
			err = r.follow(ctx, w, l)
		case "dbrestart":
			err = r.dbRestart(ctx, w, l)
		case "backlog":
			err = r.backlog(ctx, w, l)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", p, err)
		}
	}
	r.summary()
	return nil
}

// openWorld starts a world of spec in dir (created) and warms it up: the
// job inventory, the front door's cache of the client's credentials, the
// connections.
func openWorld(ctx context.Context, cfg config, spec worldSpec, dir string, stderr io.Writer) (*world, *loader, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	w, err := startWorld(ctx, cfg, spec, dir, stderr)
	if err != nil {
		return nil, nil, err
	}
	l := newLoader(w.front, cfg.conns)
	warm := l.run(ctx, cfg.conns, cfg.conns*4, 0, 0)
	if warm.accepted == 0 {
		w.close()
		return nil, nil, fmt.Errorf("no build accepted while warming up: %v; the end of %s:\n%s", warm.failed, w.jk.log, w.jk.tail())
	}
	if _, err := w.waitBuilds(ctx, cfg.drainTimeout, "warm-up builds to end", func(b builds) bool {
		return b.unfinished() == 0 && b.terminal() >= float64(warm.accepted)
	}); err != nil {
		w.close()
		return nil, nil, err
	}
	return w, l, nil
}
