package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func init() {
	register(command{name: "optimal", summary: "ask which controller should get the next piece of work", run: runOptimal})
}

var optimalHelp = `
Asks the server which controller of a cluster should get the next request
or build, with a balancing strategy:

  least-load      lowest load/capacity; ties go to the higher priority (default)
  round-robin     each eligible controller in turn
  weighted        in proportion to priority
  primary-backup  the primary while it is eligible, else the best backup

Only active controllers below capacity whose last check did not fail are
eligible, healthy ones before degraded or unchecked ones. When none is,
the command says why and exits with status 1.

Examples:
  jenkinds optimal --cluster production
  jenkinds optimal --cluster production --strategy weighted -o json`

func runOptimal(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "optimal", "[flags]", optimalHelp)
	cf := addClientFlags(fs)
	cluster := fs.String("cluster", controller.DefaultCluster, "cluster to choose in")
	strategy := fs.String("strategy", balance.StrategyLeastLoad, "balancing strategy: "+strings.Join(balance.Strategies(), ", "))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := balance.ByName(*strategy); err != nil {
		return fmt.Errorf("%w: optimal: --strategy: %v", errUsage, err)
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	inst, err := c.OptimalInstance(ctx, *cluster, *strategy)
	return printInstance(cf, env, c, inst, err)
}
