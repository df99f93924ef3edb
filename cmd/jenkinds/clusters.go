package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func init() {
	register(command{name: "clusters", summary: "show clusters, their primaries and failover choices", run: runClusters})
}

const clustersHelp = `
Shows the clusters the registered controllers form: how many controllers,
how many healthy, their load and capacity; and answers which controller is
a cluster's primary and which takes over from a failing one.`

var clusterSubcommands = []subcommand{
	{"list", "list clusters with their totals", runClustersList},
	{"primary", "show a cluster's primary", runClustersPrimary},
	{"failover", "show which controller to use instead of a failing one", runClustersFailover},
}

func runClusters(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "clusters", clustersHelp, clusterSubcommands)
}

const clustersListHelp = `
Lists every cluster with its controllers, sorted by cluster ID. HEALTHY
counts controllers whose last check passed; LOAD and CAPACITY add up
current load and max connections.

Examples:
  jenkinds clusters list
  jenkinds clusters list -o json`

func runClustersList(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "clusters list", "[flags]", clustersListHelp)
	cf := addClientFlags(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	clusters, err := c.Clusters(ctx)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, clusters, func(w io.Writer) {
		row(w, "CLUSTER", "INSTANCES", "HEALTHY", "LOAD", "CAPACITY", "UTILIZATION")
		for _, cl := range clusters {
			util := 0.0
			if cl.TotalCapacity > 0 {
				util = float64(cl.TotalLoad) * 100 / float64(cl.TotalCapacity)
			}
			row(w, cl.ClusterID, fmt.Sprint(cl.TotalInstances), fmt.Sprint(cl.HealthyInstances),
				fmt.Sprint(cl.TotalLoad), fmt.Sprint(cl.TotalCapacity), fmt.Sprintf("%.1f%%", util))
		}
	})
}

const primaryHelp = `
Shows the primary controller of a cluster (the one marked --primary).

Example:
  jenkinds clusters primary production`

func runClustersPrimary(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "clusters primary", "CLUSTER [flags]", primaryHelp)
	cf := addClientFlags(fs)
	pos, err := parseArgs(fs, args, "CLUSTER")
	if err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	inst, err := c.Primary(ctx, pos[0])
	return printInstance(cf, env, c, inst, err)
}

const failoverHelp = `
Shows which controller of a cluster should take over from a failing one:
the least-loaded eligible controller other than --from. It changes
nothing; to make it the primary, run 'jenkinds instances update'.

Example:
  jenkinds clusters failover production --from ci-1`

func runClustersFailover(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "clusters failover", "CLUSTER --from ID|NAME [flags]", failoverHelp)
	cf := addClientFlags(fs)
	from := fs.String("from", "", "the failing controller, by ID or name (required)")
	pos, err := parseArgs(fs, args, "CLUSTER")
	if err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("%w: clusters failover: --from is required (run 'jenkinds clusters failover -h')", errUsage)
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	id, err := resolveInstance(ctx, c, *from)
	if err != nil {
		return err
	}
	inst, err := c.Failover(ctx, pos[0], id)
	return printInstance(cf, env, c, inst, err)
}

// printInstance prints the instance a question was answered with, or the
// error it was answered with.
func printInstance(cf *clientFlags, env *environment, c *apiclient.Client, inst controller.Instance, err error) error {
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, inst, func(w io.Writer) { instanceDetails(w, inst) })
}
