package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jenkinds/jenkinds/internal/api"
)

func init() {
	register(command{name: "health", summary: "run health checks of the controllers now", run: runHealth})
}

const healthHelp = `
Runs the health checks the server otherwise runs on its own schedule.`

var healthSubcommands = []subcommand{
	{"check", "check the controllers now and show the results", runHealthCheck},
}

func runHealth(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "health", healthHelp, healthSubcommands)
}

const healthCheckHelp = `
Checks every controller, or those of one cluster, now; records the results
as the scheduled checks do, and shows them. A controller that does not
answer is reported unhealthy with the reason; the command still exits 0.

Examples:
  jenkinds health check
  jenkinds health check --cluster production -o json`

func runHealthCheck(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "health check", "[flags]", healthCheckHelp)
	cf := addClientFlags(fs)
	cluster := fs.String("cluster", "", "only this cluster (default: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	results, err := c.RunHealthChecks(ctx, *cluster)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, results, func(w io.Writer) {
		row(w, "ID", "NAME", "CLUSTER", "STATUS", "WAS", "LATENCY", "VERSION", "ERROR")
		for _, r := range results {
			row(w, fmt.Sprint(r.InstanceID), r.Name, r.ClusterID, r.Status, r.PreviousStatus,
				fmt.Sprintf("%dms", r.LatencyMs), r.Version, r.Error)
		}
		fmt.Fprintln(w, summarize(results))
	})
}

// summarize says how many were checked and how they fared:
// "3 checked: 2 healthy, 1 unhealthy".
func summarize(results []api.CheckResult) string {
	count := map[string]int{}
	for _, r := range results {
		count[r.Status]++
	}
	var parts []string
	for _, s := range []string{"healthy", "degraded", "unhealthy"} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d checked", len(results))
	}
	return fmt.Sprintf("%d checked: %s", len(results), strings.Join(parts, ", "))
}
