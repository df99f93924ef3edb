package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
)

func init() {
	register(command{name: "instances", summary: "register, list, change and remove Jenkins controllers", run: runInstances})
}

const instancesHelp = `
Manages the Jenkins controllers ("instances") a jenkinds server fronts,
through its admin API. Every subcommand takes --addr (or JENKINDS_ADDR) and
the admin token in JENKINDS_TOKEN (or --token), and -o json for scripts.
An instance is named by its ID or its name.`

var instanceSubcommands = []subcommand{
	{"add", "register a controller", runInstancesAdd},
	{"list", "list the controllers", runInstancesList},
	{"get", "show one controller", runInstancesGet},
	{"update", "change the fields given by flags", runInstancesUpdate},
	{"remove", "remove a controller", runInstancesRemove},
	{"drain", "send no new sessions or builds to a controller; what runs finishes", runInstancesDrain(true)},
	{"undrain", "let a drained controller take new work again", runInstancesDrain(false)},
	{"test", "try a URL and credentials without registering", runInstancesTest},
	{"stats", "stored and live figures of a controller", runInstancesStats},
	{"events", "a controller's health transitions, restarts, and the freezes of re-dispatch", runInstancesEvents},
}

func runInstances(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "instances", instancesHelp, instanceSubcommands)
}

// stdin is where --api-token-stdin reads. It is os.Stdin: environment has
// no input stream yet.
var stdin io.Reader = os.Stdin

// apiTokenFlags are the ways to give a Jenkins API token.
type apiTokenFlags struct {
	file      string
	fromStdin bool
	value     string
}

func addAPITokenFlags(fs *flag.FlagSet) *apiTokenFlags {
	tf := &apiTokenFlags{}
	fs.StringVar(&tf.file, "api-token-file", "", "read the Jenkins API token from this file (preferred)")
	fs.BoolVar(&tf.fromStdin, "api-token-stdin", false, "read the Jenkins API token from standard input (preferred)")
	fs.StringVar(&tf.value, "api-token", "", "the Jenkins API token itself; WARNING: it lands in your shell history and is visible to other users in ps: prefer --api-token-file or --api-token-stdin")
	return tf
}

// maxAPITokenInput bounds what is read as a token: a token is short, a
// large file is a mistake.
const maxAPITokenInput = 4096

// read returns the token from the one source given, and whether one was.
// Surrounding white space (a file's final newline) is dropped. A token
// given as --api-token gets a warning on warn.
func (tf *apiTokenFlags) read(fs *flag.FlagSet, warn io.Writer) (token string, given bool, err error) {
	var sources []string
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "api-token") {
			sources = append(sources, "--"+f.Name)
		}
	})
	switch {
	case len(sources) == 0:
		return "", false, nil
	case len(sources) > 1:
		return "", false, fmt.Errorf("%w: %s: give the API token one way, not with %s", errUsage, fs.Name(), strings.Join(sources, " and "))
	case tf.fromStdin:
		return readToken(stdin, "standard input")
	case tf.file != "":
		f, err := os.Open(tf.file)
		if err != nil {
			return "", false, fmt.Errorf("read API token: %w", err)
		}
		defer f.Close()
		return readToken(f, tf.file)
	}
	if tf.value != "" {
		fmt.Fprintln(warn, "jenkinds: warning: --api-token puts the token in your shell history; use --api-token-stdin or --api-token-file")
	}
	return tf.value, true, nil // "" included: it clears the token
}

func readToken(r io.Reader, from string) (string, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxAPITokenInput+1))
	if err != nil {
		return "", false, fmt.Errorf("read API token from %s: %w", from, err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxAPITokenInput:
		return "", false, fmt.Errorf("read API token from %s: more than %d bytes: that is not a Jenkins API token", from, maxAPITokenInput)
	case token == "":
		return "", false, fmt.Errorf("read API token from %s: it is empty", from)
	}
	return token, true, nil
}

// optional is a flag that, once given, points its field at the value, so a
// controller.Patch bound to flags holds exactly the fields the command line
// set: update sends it as it is, and add leaves the rest to the registry's
// defaults.
type optional[T any] struct {
	dst   **T
	parse func(string) (T, error)
}

func (o optional[T]) String() string {
	if o.dst == nil || *o.dst == nil {
		return ""
	}
	return fmt.Sprint(**o.dst)
}

func (o optional[T]) Set(s string) error {
	v, err := o.parse(s)
	if err != nil {
		return err
	}
	*o.dst = &v
	return nil
}

// optionalBool is an optional bool that may stand alone: --primary.
type optionalBool struct{ optional[bool] }

func (optionalBool) IsBoolFlag() bool { return true }

// bindInstanceFlags binds the field flags of add and update to p.
func bindInstanceFlags(fs *flag.FlagSet, p *controller.Patch) {
	text := func(dst **string, name, usage string) {
		fs.Var(optional[string]{dst, func(s string) (string, error) { return s, nil }}, name, usage)
	}
	number := func(dst **int, name, usage string) { fs.Var(optional[int]{dst, strconv.Atoi}, name, usage) }
	boolean := func(dst **bool, name, usage string) {
		fs.Var(optionalBool{optional[bool]{dst, strconv.ParseBool}}, name, usage)
	}
	text(&p.Name, "name", "unique `name`: letters, digits, '.', '_' and '-'")
	text(&p.URL, "url", "base `URL` of the controller, e.g. https://jenkins-1.example.com/jenkins")
	text(&p.Username, "username", "Jenkins `user` the API token belongs to")
	text(&p.Description, "description", "free `text`")
	text(&p.ClusterID, "cluster", "`cluster` the controller belongs to")
	text(&p.LoadBalancerURL, "load-balancer-url", "`URL` of a load balancer in front of the controller")
	text(&p.HealthCheckURL, "health-check-url", "`path` (e.g. /login) or URL the health check requests")
	number(&p.Priority, "priority", "preference, `0-100` (weight in weighted, order of backups)")
	number(&p.MaxConnections, "max-connections", "`load` at which the controller is full")
	boolean(&p.IsPrimary, "primary", "the primary of its cluster, for primary-backup (--primary=false unsets it)")
	boolean(&p.IsActive, "active", "whether it may get work (--active=false takes it out)")
}

// valueOf returns *p, or the zero value for nil.
func valueOf[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

const addHelp = `
Registers a Jenkins controller. --name and --url are required; the fields
not given take the registry's defaults (cluster "default", max connections
100, active, priority 0, not primary). The Jenkins API token is sealed at
rest and never shown again; give it with --api-token-stdin or
--api-token-file so it stays out of your shell history.

Examples:
  export JENKINDS_TOKEN=jk_...
  pass show jenkins/ci-1 | jenkinds instances add --name ci-1 \
      --url https://ci-1.example.com --username admin --api-token-stdin \
      --cluster production --primary --priority 10
  jenkinds instances add --name ci-2 --url http://10.0.0.2:8080 \
      --username admin --api-token-file ~/.jenkins/ci-2.token --cluster production`

func runInstancesAdd(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances add", "[flags]", addHelp)
	cf := addClientFlags(fs)
	var p controller.Patch
	bindInstanceFlags(fs, &p)
	tf := addAPITokenFlags(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if valueOf(p.Name) == "" || valueOf(p.URL) == "" {
		return fmt.Errorf("%w: instances add: --name and --url are required (run 'jenkinds instances add -h')", errUsage)
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	token, _, err := tf.read(fs, env.stderr)
	if err != nil {
		return err
	}
	inst, err := c.CreateInstance(ctx, controller.CreateInput{
		Name: *p.Name, URL: *p.URL, Username: valueOf(p.Username), APIToken: token, Description: valueOf(p.Description),
		IsPrimary: valueOf(p.IsPrimary), ClusterID: p.ClusterID, LoadBalancerURL: valueOf(p.LoadBalancerURL),
		Priority: valueOf(p.Priority), HealthCheckURL: valueOf(p.HealthCheckURL), MaxConnections: p.MaxConnections, IsActive: p.IsActive,
	})
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, inst, func(w io.Writer) { instanceDetails(w, inst) })
}

const listHelp = `
Lists the registered controllers, by ID, with their health and load.

Examples:
  jenkinds instances list
  jenkinds instances list --cluster production -o json`

func runInstancesList(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances list", "[flags]", listHelp)
	cf := addClientFlags(fs)
	cluster := fs.String("cluster", "", "only this cluster (default: all)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	list, err := c.ListInstances(ctx, *cluster)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, list, func(w io.Writer) {
		instanceHeader(w)
		for _, i := range list {
			instanceRow(w, i)
		}
	})
}

// parseInstanceArgs parses the flags of a subcommand about one instance
// and returns the client and that instance's ID, looking a name up.
func parseInstanceArgs(ctx context.Context, fs *flag.FlagSet, cf *clientFlags, args []string, env *environment) (*apiclient.Client, int64, error) {
	pos, err := parseArgs(fs, args, "ID|NAME")
	if err != nil {
		return nil, 0, err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return nil, 0, err
	}
	id, err := resolveInstance(ctx, c, pos[0])
	return c, id, err
}

// fetchInstance parses the flags of a subcommand about one instance and
// fetches that instance.
func fetchInstance(ctx context.Context, fs *flag.FlagSet, cf *clientFlags, args []string, env *environment) (*apiclient.Client, controller.Instance, error) {
	c, id, err := parseInstanceArgs(ctx, fs, cf, args, env)
	if err != nil {
		return nil, controller.Instance{}, err
	}
	inst, err := c.GetInstance(ctx, id)
	return c, inst, explain(c, err)
}

// resolveInstance returns the ID of the instance ref names: an ID, or else
// a name.
func resolveInstance(ctx context.Context, c *apiclient.Client, ref string) (int64, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return id, nil
	}
	list, err := c.ListInstances(ctx, "")
	if err != nil {
		return 0, explain(c, err)
	}
	for _, i := range list {
		if i.Name == ref {
			return i.ID, nil
		}
	}
	return 0, fmt.Errorf("no instance is named %q (see 'jenkinds instances list')", ref)
}

const getHelp = `
Shows one controller. The API token is never shown, only whether one is
stored.

Examples:
  jenkinds instances get 3
  jenkinds instances get ci-1 -o json`

func runInstancesGet(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances get", "ID|NAME [flags]", getHelp)
	cf := addClientFlags(fs)
	_, inst, err := fetchInstance(ctx, fs, cf, args, env)
	if err != nil {
		return err
	}
	return cf.print(env.stdout, inst, func(w io.Writer) { instanceDetails(w, inst) })
}

const drainHelp = `
Draining a controller sends it no new API requests, browser sessions or
builds; sessions, WebSocket agents and builds it already has finish. The
flag is kept by the server, so it survives restarts. undrain ends it.

Examples:
  jenkinds instances drain ci-2
  jenkinds instances undrain ci-2`

func runInstancesDrain(on bool) func(context.Context, []string, *environment) error {
	name := "instances undrain"
	if on {
		name = "instances drain"
	}
	return func(ctx context.Context, args []string, env *environment) error {
		fs := newFlagSet(env, name, "ID|NAME [flags]", drainHelp)
		cf := addClientFlags(fs)
		c, id, err := parseInstanceArgs(ctx, fs, cf, args, env)
		if err != nil {
			return err
		}
		inst, err := c.SetDraining(ctx, id, on)
		return printInstance(cf, env, c, inst, err)
	}
}

const updateHelp = `
Changes the fields given by flags and leaves the others as they are. The
flags are those of 'instances add'. --api-token '' removes the stored token.

Examples:
  jenkinds instances update ci-1 --priority 20 --max-connections 200
  jenkinds instances update 3 --active=false
  jenkinds instances update ci-2 --primary            (after unsetting the old primary)
  jenkinds instances update ci-1 --api-token-stdin < new-token.txt`

func runInstancesUpdate(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances update", "ID|NAME [flags]", updateHelp)
	cf := addClientFlags(fs)
	var p controller.Patch
	bindInstanceFlags(fs, &p)
	tf := addAPITokenFlags(fs)
	pos, err := parseArgs(fs, args, "ID|NAME")
	if err != nil {
		return err
	}
	token, given, err := tf.read(fs, env.stderr)
	if err != nil {
		return err
	}
	if given {
		p.APIToken = &token
	}
	if p == (controller.Patch{}) {
		return fmt.Errorf("%w: instances update: nothing to change: give at least one field flag (run 'jenkinds instances update -h')", errUsage)
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	id, err := resolveInstance(ctx, c, pos[0])
	if err != nil {
		return err
	}
	inst, err := c.UpdateInstance(ctx, id, p)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, inst, func(w io.Writer) { instanceDetails(w, inst) })
}

const removeHelp = `
Removes a controller from the registry. Its builds and jobs on Jenkins are
not touched. With -o json it prints the removed instance.

Example:
  jenkinds instances remove ci-2`

func runInstancesRemove(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances remove", "ID|NAME [flags]", removeHelp)
	cf := addClientFlags(fs)
	c, inst, err := fetchInstance(ctx, fs, cf, args, env)
	if err != nil {
		return err
	}
	if err := c.DeleteInstance(ctx, inst.ID); err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, inst, func(w io.Writer) {
		fmt.Fprintf(w, "Removed instance %d (%s).\n", inst.ID, inst.Name)
	})
}

const testHelp = `
Asks the server to connect to a Jenkins controller with the credentials
given, without registering anything. Exits with status 1 when the
connection fails.

Examples:
  jenkinds instances test --url https://ci-1.example.com --username admin --api-token-stdin
  jenkinds instances test --url http://10.0.0.2:8080      (anonymous)`

func runInstancesTest(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances test", "--url URL [flags]", testHelp)
	cf := addClientFlags(fs)
	url := fs.String("url", "", "base URL of the controller")
	username := fs.String("username", "", "Jenkins user (default: anonymous)")
	tf := addAPITokenFlags(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("%w: instances test: --url is required (run 'jenkinds instances test -h')", errUsage)
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	token, _, err := tf.read(fs, env.stderr)
	if err != nil {
		return err
	}
	res, err := c.TestConnection(ctx, api.TestConnectionRequest{URL: *url, Username: *username, APIToken: token})
	if err != nil {
		return explain(c, err)
	}
	err = cf.print(env.stdout, res, func(w io.Writer) {
		if res.Success {
			fmt.Fprintf(w, "OK: Jenkins %s: %s\n", res.Version, res.Message)
		} else {
			fmt.Fprintf(w, "FAILED: %s\n", res.Message)
		}
	})
	if err == nil && !res.Success {
		err = errors.New("the connection test failed")
	}
	return err
}

const statsHelp = `
Shows a controller's stored load and health and the figures it reports
now (jobs, executors, builds, queue, agents). When the controller does not
answer, the stored figures are shown with the reason.

Examples:
  jenkinds instances stats ci-1
  jenkinds instances stats 3 -o json`

func runInstancesStats(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances stats", "ID|NAME [flags]", statsHelp)
	cf := addClientFlags(fs)
	c, id, err := parseInstanceArgs(ctx, fs, cf, args, env)
	if err != nil {
		return err
	}
	st, err := c.InstanceStats(ctx, id)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, st, func(w io.Writer) {
		row(w, "Instance:", fmt.Sprintf("%d (%s)", st.InstanceID, st.Name))
		row(w, "Health:", st.HealthStatus.String()+" (checked "+when(st.LastHealthCheck)+")")
		row(w, "Load:", fmt.Sprintf("%s (%.1f%%)", load(st.CurrentLoad, st.MaxConnections), st.UtilizationPercent))
		if st.LiveStats == nil {
			row(w, "Live figures:", "unavailable: "+st.Error)
			return
		}
		row(w, "Jobs:", fmt.Sprintf("%d (%d active)", st.TotalJobs, st.ActiveJobs))
		row(w, "Executors:", fmt.Sprintf("%d busy, %d idle of %d (%.1f%%)", st.BusyExecutors, st.IdleExecutors, st.TotalExecutors, *st.ExecutorUtilization))
		row(w, "Running builds:", fmt.Sprint(st.RunningBuilds))
		row(w, "Queued items:", fmt.Sprint(st.QueuedItems))
		row(w, "Online agents:", fmt.Sprint(st.OnlineAgents))
	})
}
