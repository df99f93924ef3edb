package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/worker"
)

func init() {
	register(command{name: "buildclusters", summary: "register, list, change and remove build clusters and their worker keys", run: runBuildClusters})
}

const buildClustersHelp = `
Manages the build clusters pipeline builds run on, and the public keys
their workers sign tokens with, through the admin API. Every subcommand
takes --addr (or JENKINDS_ADDR), the admin token in JENKINDS_TOKEN (or
--token), and -o json for scripts. A cluster is named by its name, and
--scm-context when the name is registered for several scmContexts.`

var buildClusterSubcommands = []subcommand{
	{"add", "register a build cluster", runBuildClustersAdd},
	{"list", "list the build clusters", runBuildClustersList},
	{"get", "show one build cluster", runBuildClustersGet},
	{"update", "change the fields given by flags", runBuildClustersUpdate},
	{"remove", "remove a build cluster record", runBuildClustersRemove},
	{"add-key", "register one more worker public key (rotation)", runBuildClustersAddKey},
	{"remove-key", "retire a worker public key", runBuildClustersRemoveKey},
}

func runBuildClusters(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "buildclusters", buildClustersHelp, buildClusterSubcommands)
}

// bindBuildClusterFlags binds the field flags of add and update to p.
func bindBuildClusterFlags(fs *flag.FlagSet, p *buildcluster.Patch) {
	text := func(dst **string, name, usage string) {
		fs.Var(optional[string]{dst, func(s string) (string, error) { return s, nil }}, name, usage)
	}
	text(&p.Description, "description", "free `text`, at most 100 bytes")
	text(&p.ManagedByEmail, "email", "the maintainer's `address`, for access requests")
	fs.Var(optional[buildcluster.ManagedBy]{&p.ManagedBy, func(s string) (buildcluster.ManagedBy, error) {
		return buildcluster.ManagedBy(s), nil
	}}, "managed-by", "`who` runs it: screwdriver (the platform team; in the default pick) or external (a team's own; used only when named)")
	fs.Var(optional[[]string]{&p.SCMOrganizations, func(s string) ([]string, error) {
		var orgs []string
		for _, o := range strings.Split(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				orgs = append(orgs, o)
			}
		}
		return orgs, nil
	}}, "orgs", "comma-separated `organizations` allowed on it (required for external; '' clears)")
	fs.Var(optional[int]{&p.Weight, strconv.Atoi}, "weight", "share of the default pick, `0-100` (0: only builds that name it)")
	fs.Var(optionalBool{optional[bool]{&p.IsActive, strconv.ParseBool}}, "active", "whether builds go to it and its workers may claim (--active=false pauses it)")
}

// keyFlags give a worker public key.
type keyFlags struct{ file, kid, algorithm string }

func addKeyFlags(fs *flag.FlagSet) *keyFlags {
	kf := &keyFlags{}
	fs.StringVar(&kf.file, "public-key-file", "", "PEM `file` of the workers' PUBLIC key (jenkinds keys generate writes it as <key>.pub)")
	fs.StringVar(&kf.kid, "kid", "", "the key's `kid` (default: derived from the key, as jenkinds worker derives it)")
	fs.StringVar(&kf.algorithm, "algorithm", "", "RS256, ES256 or EdDSA (default: the key's)")
	return kf
}

// read returns the key the flags give, and whether they give one.
func (kf *keyFlags) read() (buildcluster.PublicKey, bool, error) {
	if kf.file == "" {
		if kf.kid != "" || kf.algorithm != "" {
			return buildcluster.PublicKey{}, false, fmt.Errorf("%w: --kid and --algorithm go with --public-key-file", errUsage)
		}
		return buildcluster.PublicKey{}, false, nil
	}
	data, err := os.ReadFile(kf.file)
	if err != nil {
		return buildcluster.PublicKey{}, false, fmt.Errorf("read public key: %w", err)
	}
	k := buildcluster.PublicKey{KID: kf.kid, Algorithm: kf.algorithm, PEM: string(data)}
	// Fill what was not given from the key itself; the server checks the rest.
	if b, _ := pem.Decode(data); b != nil && b.Type == "PUBLIC KEY" {
		if pub, err := x509.ParsePKIXPublicKey(b.Bytes); err == nil {
			if k.Algorithm == "" {
				k.Algorithm = worker.AlgorithmOf(pub)
			}
			if k.KID == "" {
				k.KID = worker.KIDOf(pub, k.Algorithm)
			}
		}
	}
	return k, true, nil
}

const buildClustersAddHelp = `
Registers a build cluster. --name, --scm-context and --managed-by are
required; an external cluster needs --orgs. It is active unless
--active=false, weight 100 unless --weight. Give the workers' public key
with --public-key-file (or later with add-key).

Examples:
  jenkinds buildclusters add --name bf1 --scm-context github:github.com --managed-by screwdriver
  jenkinds keys generate --out ios.pem
  jenkinds buildclusters add --name iOS --scm-context github:github.com --managed-by external \
      --orgs ios-team,mobile --email ios-ci@example.com --weight 0 --public-key-file ios.pem.pub`

func runBuildClustersAdd(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters add", "[flags]", buildClustersAddHelp)
	cf := addClientFlags(fs)
	var p buildcluster.Patch
	name := fs.String("name", "", "the cluster's `name`: letters, digits, '.', '_' and '-'")
	scm := fs.String("scm-context", "", "`scm:host` it serves, e.g. github:github.com")
	bindBuildClusterFlags(fs, &p)
	kf := addKeyFlags(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *name == "" || *scm == "" || p.ManagedBy == nil {
		return fmt.Errorf("%w: buildclusters add: --name, --scm-context and --managed-by are required (run 'jenkinds buildclusters add -h')", errUsage)
	}
	key, given, err := kf.read()
	if err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	in := buildcluster.CreateInput{Name: *name, SCMContext: *scm, Description: valueOf(p.Description),
		SCMOrganizations: valueOf(p.SCMOrganizations), IsActive: p.IsActive, ManagedBy: *p.ManagedBy,
		ManagedByEmail: valueOf(p.ManagedByEmail), Weight: p.Weight}
	if given {
		in.PublicKeys = []buildcluster.PublicKey{key}
	}
	bc, err := c.CreateBuildCluster(ctx, in)
	return printBuildCluster(cf, env, c, bc, err)
}

const buildClustersListHelp = `
Lists the build cluster records by name, scmContext, active first.

Examples:
  jenkinds buildclusters list
  jenkinds buildclusters list --scm-context github:github.com --active -o json`

func runBuildClustersList(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters list", "[flags]", buildClustersListHelp)
	cf := addClientFlags(fs)
	var f buildcluster.ListFilter
	fs.StringVar(&f.Name, "name", "", "only records of this name")
	fs.StringVar(&f.SCMContext, "scm-context", "", "only records of this scmContext")
	fs.BoolVar(&f.ActiveOnly, "active", false, "only active records")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	list, err := c.ListBuildClusters(ctx, f)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, list, func(w io.Writer) {
		row(w, "NAME", "SCM CONTEXT", "ACTIVE", "MANAGED BY", "WEIGHT", "ORGANIZATIONS", "KEYS")
		for _, bc := range list {
			row(w, bc.Name, bc.SCMContext, yesNo(bc.IsActive), string(bc.ManagedBy), fmt.Sprint(bc.Weight),
				strings.Join(bc.SCMOrganizations, ","), kids(bc))
		}
	})
}

// clusterArgs parses the flags of a subcommand about one record — its
// NAME (and the positional arguments more names) and --scm-context — and
// returns them with a client of the server.
func clusterArgs(fs *flag.FlagSet, cf *clientFlags, env *environment, args []string, more ...string) (c *apiclient.Client, pos []string, scm string, err error) {
	scmFlag := fs.String("scm-context", "", "the record's scmContext, when the name is registered for several")
	if pos, err = parseArgs(fs, args, append([]string{"NAME"}, more...)...); err != nil {
		return nil, nil, "", err
	}
	c, err = cf.client(fs, env)
	return c, pos, *scmFlag, err
}

const buildClustersGetHelp = `
Shows one build cluster record: its fields and the kids of its worker keys.

Examples:
  jenkinds buildclusters get iOS
  jenkinds buildclusters get bf1 --scm-context github:github.com -o json`

func runBuildClustersGet(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters get", "NAME [flags]", buildClustersGetHelp)
	cf := addClientFlags(fs)
	c, pos, scm, err := clusterArgs(fs, cf, env, args)
	if err != nil {
		return err
	}
	bc, err := c.GetBuildCluster(ctx, pos[0], scm)
	return printBuildCluster(cf, env, c, bc, err)
}

const buildClustersUpdateHelp = `
Changes the fields given by flags (those of add) and leaves the others.
Name and scmContext never change: register a new cluster and deactivate
the old one instead.

Examples:
  jenkinds buildclusters update gq1 --active=false      (pause: builds go to a stand-in)
  jenkinds buildclusters update iOS --orgs ios-team,mobile,watch --weight 0`

func runBuildClustersUpdate(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters update", "NAME [flags]", buildClustersUpdateHelp)
	cf := addClientFlags(fs)
	var p buildcluster.Patch
	bindBuildClusterFlags(fs, &p)
	c, pos, scm, err := clusterArgs(fs, cf, env, args)
	if err != nil {
		return err
	}
	if p == (buildcluster.Patch{}) {
		return fmt.Errorf("%w: buildclusters update: nothing to change: give at least one field flag (run 'jenkinds buildclusters update -h')", errUsage)
	}
	bc, err := c.UpdateBuildCluster(ctx, pos[0], scm, p)
	return printBuildCluster(cf, env, c, bc, err)
}

const buildClustersRemoveHelp = `
Removes a build cluster record. Other records of the name stay, and jobs
already queued for it stay queued.

Example:
  jenkinds buildclusters remove gq1 --scm-context github:github.com`

func runBuildClustersRemove(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters remove", "NAME [flags]", buildClustersRemoveHelp)
	cf := addClientFlags(fs)
	c, pos, scm, err := clusterArgs(fs, cf, env, args)
	if err != nil {
		return err
	}
	bc, err := c.GetBuildCluster(ctx, pos[0], scm)
	if err != nil {
		return explain(c, err)
	}
	if err := c.DeleteBuildCluster(ctx, bc.Name, bc.SCMContext); err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, bc, func(w io.Writer) {
		fmt.Fprintf(w, "Removed build cluster %s (%s).\n", bc.Name, bc.SCMContext)
	})
}

const buildClustersAddKeyHelp = `
Registers one more public key for the cluster's workers. To rotate: add
the new key, move the workers to it, then remove-key the old one; tokens
signed with either are accepted in between.

Examples:
  jenkinds keys generate --out bf1-2025-06.pem
  jenkinds buildclusters add-key bf1 --public-key-file bf1-2025-06.pem.pub`

func runBuildClustersAddKey(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters add-key", "NAME --public-key-file FILE [flags]", buildClustersAddKeyHelp)
	cf := addClientFlags(fs)
	kf := addKeyFlags(fs)
	c, pos, scm, err := clusterArgs(fs, cf, env, args)
	if err != nil {
		return err
	}
	key, given, err := kf.read()
	if err != nil {
		return err
	}
	if !given {
		return fmt.Errorf("%w: buildclusters add-key: --public-key-file is required (run 'jenkinds buildclusters add-key -h')", errUsage)
	}
	bc, err := c.AddBuildClusterKey(ctx, pos[0], scm, key)
	return printBuildCluster(cf, env, c, bc, err)
}

const buildClustersRemoveKeyHelp = `
Retires a worker key: tokens signed with it are refused within seconds.
Removing the last key leaves the cluster's workers unable to claim.

Example:
  jenkinds buildclusters remove-key bf1 eddsa-3q2-ZfPx0e1Tw9bA`

func runBuildClustersRemoveKey(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "buildclusters remove-key", "NAME KID [flags]", buildClustersRemoveKeyHelp)
	cf := addClientFlags(fs)
	c, pos, scm, err := clusterArgs(fs, cf, env, args, "KID")
	if err != nil {
		return err
	}
	bc, err := c.RemoveBuildClusterKey(ctx, pos[0], scm, pos[1])
	return printBuildCluster(cf, env, c, bc, err)
}

// printBuildCluster prints a record, or explains err.
func printBuildCluster(cf *clientFlags, env *environment, c *apiclient.Client, bc buildcluster.Cluster, err error) error {
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, bc, func(w io.Writer) {
		for _, f := range [][2]string{
			{"Name", bc.Name},
			{"SCM context", bc.SCMContext},
			{"Description", bc.Description},
			{"Active", yesNo(bc.IsActive)},
			{"Managed by", string(bc.ManagedBy)},
			{"Maintainer", bc.ManagedByEmail},
			{"Weight", fmt.Sprint(bc.Weight)},
			{"Organizations", strings.Join(bc.SCMOrganizations, ", ")},
			{"Keys", kids(bc)},
			{"ID", fmt.Sprint(bc.ID)},
			{"Created", when(&bc.CreatedAt)},
			{"Updated", when(&bc.UpdatedAt)},
		} {
			row(w, f[0]+":", f[1])
		}
	})
}

// kids lists a record's keys as kid (algorithm).
func kids(bc buildcluster.Cluster) string {
	var out []string
	for _, k := range bc.PublicKeys {
		out = append(out, k.KID+" ("+k.Algorithm+")")
	}
	return strings.Join(out, ", ")
}
