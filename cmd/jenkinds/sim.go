package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func init() {
	register(command{name: "sim", summary: "run simulated Jenkins controllers for tests and demos", run: runSim})
}

const simHelp = `
Runs one or more simulated Jenkins controllers on loopback ports. They speak
the Jenkins remote API (python-jenkins, jenkins-job-builder and gojenkins work
against them unmodified), run builds on simulated executors, and accept fault
injection under /__sim/ (see README). Controller i listens on base-port+i.

Builds are scripted per build with the parameters SIM_DURATION_MS (e.g. 250,
or a range 100-900) and SIM_RESULT (SUCCESS, UNSTABLE, FAILURE, NOT_BUILT,
ABORTED) when the job defines them, else by the job's spec in --jobs.

Example:
  jenkinds sim --controllers 3 --base-port 18080 --token 11aa...`

func runSim(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "sim", "[flags]", simHelp)
	n := fs.Int("controllers", 1, "number of controllers to run")
	basePort := fs.Int("base-port", 18080, "port of controller 0; controller i listens on base-port+i (0 picks free ports)")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	user := fs.String("user", "admin", "user name accepted by every controller")
	token := fs.String("token", "", "API token accepted for the user (default: generated and printed)")
	password := fs.String("password", "admin", "password accepted for the user (password requests need a crumb)")
	pluginsFile := fs.String("plugins", "", `JSON file with the plugin list /pluginManager serves, e.g. [{"shortName":"git","longName":"Git plugin","version":"5.7.0"}], "disabled":true for a disabled one (default: a small realistic set)`)
	jobsFile := fs.String("jobs", "", `JSON file with the jobs to create, e.g. [{"name":"hello","durationMs":500}] (default: a few demo jobs)`)
	agents := fs.Int("agents", 2, "simulated agents per controller besides the built-in node")
	executors := fs.Int("executors", 2, "executors per node")
	quiet := fs.Duration("quiet-period", 5*time.Second, "quiet period of builds triggered without delay= (Jenkins' default is 5s)")
	minDur := fs.Duration("build-duration", 2*time.Second, "default build duration")
	maxDur := fs.Duration("build-duration-max", 3*time.Second, "upper bound of the random default build duration")
	restart := fs.Duration("restart-duration", 2*time.Second, "how long a restart answers 503")
	dataDir := fs.String("data-dir", "", "keep job definitions under this directory (default: memory only)")
	version := fs.String("version", jenkinssim.DefaultVersion, "Jenkins version to report in X-Jenkins")
	verbose := fs.Bool("v", false, "log every state change")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 1000 {
		return fmt.Errorf("%w: --controllers %d: must be between 1 and 1000", errUsage, *n)
	}
	if *basePort < 0 || *basePort+*n-1 > 65535 {
		return fmt.Errorf("%w: --base-port %d: controllers would not fit below port 65536", errUsage, *basePort)
	}
	if *maxDur < *minDur {
		*maxDur = *minDur
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	tmpl := jenkinssim.Config{
		User: *user, Token: *token, Password: *password, Agents: *agents, Executors: *executors,
		QuietPeriod: *quiet, BuildDuration: jenkinssim.Duration{Min: *minDur, Max: *maxDur},
		RestartDuration: *restart, DataDir: *dataDir, Version: *version, Logger: logger,
	}
	if *jobsFile != "" {
		jobs, err := jenkinssim.LoadJobsFile(*jobsFile)
		if err != nil {
			return err
		}
		tmpl.Jobs = jobs
	}
	if *pluginsFile != "" {
		plugins, err := jenkinssim.LoadPluginsFile(*pluginsFile)
		if err != nil {
			return err
		}
		tmpl.Plugins = plugins
	}
	ctrls, err := jenkinssim.StartFleet(jenkinssim.FleetConfig{Controllers: *n, BasePort: *basePort, Host: *host, Template: tmpl})
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range ctrls {
			_ = c.Close()
		}
	}()
	fmt.Fprintf(env.stdout, "Simulated Jenkins %s: %d controller(s), user %q, API token %s, password %q\n", *version, len(ctrls), ctrls[0].User(), ctrls[0].Token(), ctrls[0].Password())
	for _, c := range ctrls {
		fmt.Fprintf(env.stdout, "  %-12s %s   (agent port %d, faults: %s__sim/faults)\n", c.Name(), c.URL(), c.AgentPort(), c.URL())
	}
	fmt.Fprintf(env.stdout, "Try: curl -u %s:%s %sapi/json?pretty\n", ctrls[0].User(), ctrls[0].Token(), ctrls[0].URL())
	fmt.Fprintf(env.stdout, "     curl -u %s:%s -X POST '%sjob/deploy/buildWithParameters?ENV=staging&SIM_DURATION_MS=3000' -i\n", ctrls[0].User(), ctrls[0].Token(), ctrls[0].URL())
	fmt.Fprintln(env.stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(env.stdout, "Stopping.")
	return nil
}
