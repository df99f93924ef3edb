package main

// What every client command (instances, clusters, optimal, health) shares:
// subcommand groups, the flags that reach the server, and printing its
// answers as tables for people or JSON for scripts.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// defaultAddr is where jenkinds serve listens by default.
const defaultAddr = "http://127.0.0.1:7070"

// subcommand is one verb of a command group: "instances add".
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, env *environment) error
}

// runGroup runs the subcommand named by args[0], or explains the group.
func runGroup(ctx context.Context, args []string, env *environment, group, help string, subs []subcommand) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.stderr, "Usage: jenkinds %s <subcommand> [flags]\n\n%s\n\nSubcommands:\n", group, strings.TrimSpace(help))
		for _, s := range subs {
			fmt.Fprintf(env.stderr, "  %-8s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(env.stderr, "\nRun 'jenkinds %s <subcommand> -h' for its flags and examples.\n", group)
		if len(args) == 0 {
			return fmt.Errorf("%w: %s: name a subcommand: %s", errUsage, group, strings.Join(names, ", "))
		}
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], env)
		}
	}
	return fmt.Errorf("%w: %s: unknown subcommand %q (want %s)", errUsage, group, args[0], strings.Join(names, ", "))
}

// parseArgs parses flags that may stand before, between and after the
// positional arguments, and returns the positional ones, which must be
// exactly as many as names (e.g. "ID|NAME").
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %v (run 'jenkinds %s -h')", errUsage, fs.Name(), err, fs.Name())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(names) {
		want := "no arguments"
		if len(names) > 0 {
			want = strings.Join(names, " ")
		}
		return nil, fmt.Errorf("%w: %s: got %d arguments, want %s (run 'jenkinds %s -h')", errUsage, fs.Name(), len(pos), want, fs.Name())
	}
	return pos, nil
}

// clientFlags are the flags of every command that talks to the server.
type clientFlags struct {
	addr, token, output string
	timeout             time.Duration
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{}
	fs.StringVar(&cf.addr, "addr", "", "address of the jenkinds server (default $JENKINDS_ADDR, else "+defaultAddr+")")
	fs.StringVar(&cf.token, "token", "", "admin token (default $JENKINDS_TOKEN; prefer the variable: a flag lands in shell history)")
	fs.StringVar(&cf.output, "o", "table", "output format: table or json")
	fs.DurationVar(&cf.timeout, "timeout", time.Minute, "how long to wait for the server")
	return cf
}

// client returns a client of the server the flags (then the environment)
// name. Call it after parsing.
func (cf *clientFlags) client(fs *flag.FlagSet, env *environment) (*apiclient.Client, error) {
	if cf.output != "table" && cf.output != "json" {
		return nil, fmt.Errorf("%w: %s: -o %q: want table or json", errUsage, fs.Name(), cf.output)
	}
	addr := firstSet(cf.addr, env.getenv("JENKINDS_ADDR"), defaultAddr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr // as --listen of jenkinds serve spells it
	}
	token := firstSet(cf.token, env.getenv("JENKINDS_TOKEN"))
	if token == "" {
		return nil, fmt.Errorf("%w: %s: no admin token: set JENKINDS_TOKEN (or pass --token); jenkinds serve printed it when it generated it, and it is in <data-dir>/admin.token", errUsage, fs.Name())
	}
	c, err := apiclient.New(addr, token, &http.Client{Timeout: cf.timeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	return c, nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// explain returns err as the user should read it: the server's own errors
// as they are ("<message> (field: x)"), and a hint when it was not reached.
func explain(c *apiclient.Client, err error) error {
	var apiErr *apiclient.Error
	if err == nil || errors.As(err, &apiErr) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("cannot reach the jenkinds server at %s: %w (is 'jenkinds serve' running there? set --addr or JENKINDS_ADDR)", c.BaseURL(), err)
}

// print writes v as indented JSON with -o json, else calls table.
func (cf *clientFlags) print(w io.Writer, v any, table func(w io.Writer)) error {
	if cf.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// row writes cells as one tab-separated line, each on one line itself.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Join(strings.Fields(c), " ")
		if cells[i] == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// yesNo renders a boolean for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// load renders "3/100".
func load(current, capacity int) string { return fmt.Sprintf("%d/%d", current, capacity) }

// when renders a time of the API, or "never".
func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// instanceHeader and instanceRow are the columns of a list of instances.
func instanceHeader(w io.Writer) {
	row(w, "ID", "NAME", "CLUSTER", "URL", "PRIMARY", "ACTIVE", "HEALTH", "LOAD", "PRIORITY", "VERSION")
}

func instanceRow(w io.Writer, i controller.Instance) {
	row(w, fmt.Sprint(i.ID), i.Name, i.ClusterID, i.URL, yesNo(i.IsPrimary), yesNo(i.IsActive),
		i.HealthStatus.String(), load(i.CurrentLoad, i.MaxConnections), fmt.Sprint(i.Priority), i.Version)
}

// instanceDetails writes one instance, a field a line.
func instanceDetails(w io.Writer, i controller.Instance) {
	token := "none"
	if i.HasAPIToken {
		token = "stored (never shown)"
	}
	health := i.HealthStatus.String() + " (checked " + when(i.LastHealthCheck) + ")"
	for _, f := range [][2]string{
		{"ID", fmt.Sprint(i.ID)},
		{"Name", i.Name},
		{"Cluster", i.ClusterID},
		{"URL", i.URL},
		{"Username", i.Username},
		{"API token", token},
		{"Description", i.Description},
		{"Primary", yesNo(i.IsPrimary)},
		{"Active", yesNo(i.IsActive)},
		{"Priority", fmt.Sprint(i.Priority)},
		{"Load", load(i.CurrentLoad, i.MaxConnections)},
		{"Load balancer URL", i.LoadBalancerURL},
		{"Health check URL", i.HealthCheckURL},
		{"Health", health},
		{"Last error", i.LastError},
		{"Version", i.Version},
		{"Restarts", fmt.Sprint(i.RestartCount)},
		{"Draining", fmt.Sprint(i.Draining)},
		{"Created", when(&i.CreatedAt)},
		{"Updated", when(&i.UpdatedAt)},
	} {
		row(w, f[0]+":", f[1])
	}
}
