package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

func init() {
	register(command{name: "policy", summary: "set, show and clear the re-dispatch policies of clusters and jobs", run: runPolicy})
}

const policyHelp = `
A re-dispatch policy says what jenkinds does with a build on the Jenkins
controllers whose controller is lost (it dies, hangs, or restarts and
loses the build) after the build started:

  always       place it again on another controller while it has attempts
               left (the default): every build starts at least once, and
               one may start twice.
  queued-only  place it again only while it has not started; a build whose
               controller is lost after it started fails with the reason
               instead of running again — for deploys, migrations and other
               jobs that must not run twice.

A job's policy overrides its cluster's; with neither, always applies. A
policy applies to builds placed from then on: 'jenkinds builds get' shows
the policy each attempt was placed under.`

var policySubcommands = []subcommand{
	{"get", "show the policy that applies to a cluster or a job, and where it comes from", runPolicyGet},
	{"set", "set the policy of a cluster or of one of its jobs", runPolicySet},
	{"clear", "remove the policy of a cluster or of a job", runPolicyClear},
	{"list", "list the policies set", runPolicyList},
}

func runPolicy(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "policy", policyHelp, policySubcommands)
}

// policyFlags are the flags that name what a policy is about.
type policyFlags struct {
	cluster, job string
}

func addPolicyFlags(fs *flag.FlagSet) *policyFlags {
	pf := &policyFlags{}
	fs.StringVar(&pf.cluster, "cluster", controller.DefaultCluster, "the controller `cluster`")
	fs.StringVar(&pf.job, "job", "", "a `job` of the cluster (its full name, folder/job); without it, the cluster's own policy")
	return pf
}

// check refuses a --job given empty: a script's empty variable must not
// turn a job's policy into the whole cluster's.
func (pf *policyFlags) check(fs *flag.FlagSet) error {
	var given bool
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "job" })
	if given && pf.job == "" {
		return fmt.Errorf("%w: %s: --job is empty: give the job's full name (folder/job), or leave --job out for the cluster's policy", errUsage, fs.Name())
	}
	return nil
}

// parsePolicyArgs parses a policy subcommand's flags and its positional
// arguments (names), and returns the client.
func parsePolicyArgs(fs *flag.FlagSet, cf *clientFlags, pf *policyFlags, args []string, env *environment, names ...string) (*apiclient.Client, []string, error) {
	pos, err := parseArgs(fs, args, names...)
	if err != nil {
		return nil, nil, err
	}
	if err := pf.check(fs); err != nil {
		return nil, nil, err
	}
	c, err := cf.client(fs, env)
	return c, pos, err
}

const policyGetHelp = `
Shows the re-dispatch policy that applies to the builds of a job (or of a
cluster, without --job) from now on, and where it comes from: the job's own
policy, its cluster's, or the default (always).

Examples:
  jenkinds policy get --cluster production --job team/deploy
  jenkinds policy get --cluster production -o json`

func runPolicyGet(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "policy get", "[--cluster CLUSTER] [--job JOB] [flags]", policyGetHelp)
	cf := addClientFlags(fs)
	pf := addPolicyFlags(fs)
	c, _, err := parsePolicyArgs(fs, cf, pf, args, env)
	if err != nil {
		return err
	}
	p, err := c.RedispatchPolicy(ctx, pf.cluster, pf.job)
	return printPolicy(cf, env.stdout, c, p, err)
}

const policySetHelp = `
Sets the re-dispatch policy of a cluster, or with --job of one of its jobs
(which overrides the cluster's): always or queued-only (see 'jenkinds
policy -h'). It applies to builds placed from then on. Prints the policy
that applies now.

Examples:
  jenkinds policy set --cluster production --job team/deploy queued-only
  jenkinds policy set --cluster production queued-only
  jenkinds policy set --cluster production --job nightly always   (an exception)`

func runPolicySet(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "policy set", "[--cluster CLUSTER] [--job JOB] always|queued-only [flags]", policySetHelp)
	cf := addClientFlags(fs)
	pf := addPolicyFlags(fs)
	c, pos, err := parsePolicyArgs(fs, cf, pf, args, env, "always|queued-only")
	if err != nil {
		return err
	}
	p, err := c.SetRedispatchPolicy(ctx, pf.cluster, pf.job, dispatch.Policy(pos[0]))
	return printPolicy(cf, env.stdout, c, p, err)
}

const policyClearHelp = `
Removes the re-dispatch policy of a cluster, or with --job of one of its
jobs: the job follows its cluster's policy again, the cluster the default
(always). Fails when none was set. Prints the policy that applies now.

Examples:
  jenkinds policy clear --cluster production --job team/deploy
  jenkinds policy clear --cluster production`

func runPolicyClear(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "policy clear", "[--cluster CLUSTER] [--job JOB] [flags]", policyClearHelp)
	cf := addClientFlags(fs)
	pf := addPolicyFlags(fs)
	c, _, err := parsePolicyArgs(fs, cf, pf, args, env)
	if err != nil {
		return err
	}
	if err := c.ClearRedispatchPolicy(ctx, pf.cluster, pf.job); err != nil {
		return explain(c, err)
	}
	if cf.output == "table" {
		fmt.Fprintf(env.stdout, "Cleared the re-dispatch policy of %s.\n\n", policySubject(pf.cluster, pf.job))
	}
	p, err := c.RedispatchPolicy(ctx, pf.cluster, pf.job)
	return printPolicy(cf, env.stdout, c, p, err)
}

const policyListHelp = `
Lists the re-dispatch policies set, by cluster and job; "(cluster)" is a
cluster's own policy, which its jobs without one of their own follow.

Examples:
  jenkinds policy list
  jenkinds policy list --cluster production -o json`

func runPolicyList(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "policy list", "[flags]", policyListHelp)
	cf := addClientFlags(fs)
	cluster := fs.String("cluster", "", "only this `cluster` (default: all)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	rules, err := c.RedispatchPolicies(ctx, *cluster)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, rules, func(w io.Writer) {
		row(w, "CLUSTER", "JOB", "POLICY")
		for _, r := range rules {
			row(w, r.Cluster, firstSet(r.Job, "(cluster)"), string(r.Policy))
		}
	})
}

// printPolicy prints the policy that applies, or the error the question
// was answered with.
func printPolicy(cf *clientFlags, w io.Writer, c *apiclient.Client, p api.RedispatchPolicy, err error) error {
	if err != nil {
		return explain(c, err)
	}
	return cf.print(w, p, func(w io.Writer) {
		from := p.Source
		switch {
		case p.Source == api.PolicySourceJob:
			from = "the job's own policy"
		case p.Source == api.PolicySourceCluster:
			from = "the policy of cluster " + p.Cluster
		case p.Job != "":
			from = fmt.Sprintf("the default: neither the job nor cluster %s has a policy", p.Cluster)
		default:
			from = fmt.Sprintf("the default: cluster %s has no policy", p.Cluster)
		}
		means := map[dispatch.Policy]string{
			dispatch.PolicyAlways:     "a build whose controller is lost is placed again while it has attempts left",
			dispatch.PolicyQueuedOnly: "a build whose controller is lost after it started fails with the reason instead of running again",
		}[p.Policy]
		row(w, "Cluster:", p.Cluster)
		row(w, "Job:", firstSet(p.Job, "(all jobs without a policy of their own)"))
		row(w, "Policy:", string(p.Policy))
		row(w, "From:", from)
		row(w, "Means:", means)
	})
}

// policySubject names what a policy is about: "job team/deploy of cluster
// production", "cluster production".
func policySubject(cluster, job string) string {
	if job == "" {
		return "cluster " + cluster
	}
	return fmt.Sprintf("job %s of cluster %s", job, cluster)
}
