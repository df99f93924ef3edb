package main

// The builds of the Jenkins controllers of the fleet: jenkinds builds
// trigger, list, get, cancel and logs (builds.go holds the group and the
// pipeline builds of build clusters).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

const buildsTriggerHelp = `
Asks for a build of JOB (its full name, folder/job) on the Jenkins
controllers of a cluster. jenkinds stores the build before it answers,
places it on a controller that has the job and can take it, and places it
again if that controller dies, hangs or restarts and loses it.

It prints the build's ID on standard output (the whole build with -o json).
With --wait it follows the build to its end, reports its progress on
standard error, prints the result, and exits non-zero unless the build
succeeded (SUCCESS). --follow also prints the build's console as it runs
(on standard error with -o json). Ctrl-C stops waiting, not the build.

Examples:
  jenkinds builds trigger --cluster production hello
  jenkinds builds trigger --cluster production team/deploy -p ENV=staging -p VERSION=1.4.2 --wait
  jenkinds builds trigger --cluster production nightly --delay 10m
  id=$(jenkinds builds trigger --cluster production hello) && jenkinds builds logs "$id" --follow`

func runBuildsTrigger(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds trigger", "[--cluster CLUSTER] JOB [-p NAME=VALUE ...] [flags]", buildsTriggerHelp)
	cf := addClientFlags(fs)
	cluster := fs.String("cluster", controller.DefaultCluster, "the controller `cluster` whose controllers have the job")
	params := &pairs{what: "NAME"}
	fs.Var(params, "p", "a build parameter, `NAME=VALUE` (repeat); the job must be parameterized")
	delay := fs.Duration("delay", 0, "hold the build back this long (whole seconds), e.g. 30s or 10m")
	wait := fs.Bool("wait", false, "follow the build to its end; exit non-zero unless it succeeded")
	follow := fs.Bool("follow", false, "like --wait, and print the build's console as it runs")
	poll := fs.Duration("poll", time.Second, "with --wait or --follow, how often to ask")
	pos, err := parseArgs(fs, args, "JOB")
	if err != nil {
		return err
	}
	switch {
	case *delay < 0 || *delay%time.Second != 0:
		return fmt.Errorf("%w: builds trigger: --delay %s: want whole seconds, not negative, e.g. 30s", errUsage, *delay)
	case *poll <= 0:
		return fmt.Errorf("%w: builds trigger: --poll %s: want a positive duration, e.g. 1s", errUsage, *poll)
	}
	values := map[string]string{}
	for _, kv := range params.kv {
		if _, dup := values[kv[0]]; dup {
			return fmt.Errorf("%w: builds trigger: -p %s is given twice", errUsage, kv[0])
		}
		values[kv[0]] = kv[1]
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	b, err := c.TriggerBuild(ctx, apiclient.Trigger{ClusterID: *cluster, Job: pos[0], Parameters: values, Delay: *delay})
	if err != nil {
		return explain(c, err)
	}
	if !*wait && !*follow {
		if cf.output == "table" {
			fmt.Fprintf(env.stderr, "jenkinds: build %d of %s/%s accepted; follow it: jenkinds builds logs %d --follow\n", b.ID, b.Cluster, b.Job, b.ID)
		}
		return cf.print(env.stdout, b, func(w io.Writer) { fmt.Fprintln(w, b.ID) })
	}
	w := &buildWatch{c: c, id: b.ID, every: *poll, progress: env.stderr}
	if cf.output == "table" {
		fmt.Fprintln(env.stdout, b.ID)
	}
	if *follow {
		w.console = env.stdout
		if cf.output == "json" {
			w.console = env.stderr
		}
	}
	b, err = w.run(ctx)
	if err != nil {
		return stoppedWaiting(c, b.ID, err)
	}
	if err := cf.print(env.stdout, b, func(w io.Writer) { fmt.Fprintln(w, summary(b)) }); err != nil {
		return err
	}
	if b.State != dispatch.StateFinished || b.Result != "SUCCESS" {
		return fmt.Errorf("%s", summary(b))
	}
	return nil
}

const buildsListHelp = `
Lists the builds of the Jenkins controllers, oldest first, a page at a
time (--limit, default 100): when more follow, the command to get the next
page is printed on standard error. States: accepted (waiting for a
controller), placed (in a controller's queue), running, finished (RESULT
says how), failed (jenkinds gave up: the reason says why) and cancelled.

Examples:
  jenkinds builds list
  jenkinds builds list --cluster production --state running
  jenkinds builds list --job team/deploy --limit 20 --after 1200
  jenkinds builds list --state failed -o json`

func runBuildsList(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds list", "[flags]", buildsListHelp)
	cf := addClientFlags(fs)
	var f apiclient.BuildFilter
	fs.StringVar(&f.ClusterID, "cluster", "", "only this controller `cluster` (default: all)")
	fs.StringVar(&f.Job, "job", "", "only this `job` (its full name, folder/job)")
	fs.StringVar(&f.State, "state", "", "only builds in this `state`: accepted, placed, running, finished, failed or cancelled")
	fs.IntVar(&f.Limit, "limit", 0, "the most builds to list, 1 to 1000 (default 100)")
	fs.StringVar(&f.After, "after", "", "list the builds after this `cursor` (the next page of an earlier list)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	page, err := c.ListBuilds(ctx, f)
	if err != nil {
		return explain(c, err)
	}
	err = cf.print(env.stdout, page, func(w io.Writer) {
		row(w, "ID", "CLUSTER", "JOB", "NUMBER", "STATE", "RESULT", "ATTEMPT", "CAUSE", "CREATED")
		for _, b := range page.Builds {
			row(w, fmt.Sprint(b.ID), b.Cluster, b.Job, number(b.Number), string(b.State), firstSet(b.Result, b.Reason),
				fmt.Sprintf("%d/%d", b.CurrentAttempt, b.MaxAttempts), b.Cause.Kind, when(&b.CreatedAt))
		}
	})
	if err == nil && page.Next != "" && cf.output == "table" {
		fmt.Fprintf(env.stderr, "More builds follow: add --after %s\n", page.Next)
	}
	return err
}

const buildsGetHelp = `
Shows one build of the Jenkins controllers and its attempts: each time it
was placed on a controller, with that controller's queue item and build
number, the attempt's state and result, why it was given up (reason), and
what fencing found of a given-up attempt (fence: stopped, cancelled, ended
or gone).

Examples:
  jenkinds builds get 42
  jenkinds builds get 42 -o json`

func runBuildsGet(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds get", "ID [flags]", buildsGetHelp)
	cf := addClientFlags(fs)
	c, id, err := parseBuildArgs(fs, cf, args, env)
	if err != nil {
		return err
	}
	b, err := c.GetBuild(ctx, id)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, b, func(w io.Writer) { buildDetails(w, b) })
}

const buildsCancelHelp = `
Cancels a build of the Jenkins controllers that has not ended: one that
waits (accepted, or in a controller's queue) is cancelled; a running one is
stopped on its controller and finishes ABORTED. A build that already ended
is an error.

Example:
  jenkinds builds cancel 42`

func runBuildsCancel(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds cancel", "ID [flags]", buildsCancelHelp)
	cf := addClientFlags(fs)
	c, id, err := parseBuildArgs(fs, cf, args, env)
	if err != nil {
		return err
	}
	b, err := c.CancelBuild(ctx, id)
	if err != nil {
		return explain(c, err)
	}
	return cf.print(env.stdout, b, func(w io.Writer) {
		if b.State == dispatch.StateRunning {
			fmt.Fprintf(w, "Build %d is running: the stop was sent; it finishes ABORTED.\n", b.ID)
			return
		}
		fmt.Fprintf(w, "Build %d %s.\n", b.ID, b.State)
	})
}

const buildsLogsHelp = `
Prints the console of a build of the Jenkins controllers, as its
controller keeps it. With --follow it keeps printing what the build writes
until the build ends (Ctrl-C stops following, not the build). If the build
is placed again on another controller, the new attempt's console follows
from its start, after a notice on standard error.

Examples:
  jenkinds builds logs 42
  jenkinds builds logs 42 --follow`

func runBuildsLogs(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds logs", "ID [--follow] [flags]", buildsLogsHelp)
	cf := addClientFlags(fs)
	follow := fs.Bool("follow", false, "keep printing the console until the build ends")
	poll := fs.Duration("poll", time.Second, "with --follow, how often to ask")
	c, id, err := parseBuildArgs(fs, cf, args, env)
	if err != nil {
		return err
	}
	if *poll <= 0 {
		return fmt.Errorf("%w: builds logs: --poll %s: want a positive duration, e.g. 1s", errUsage, *poll)
	}
	if !*follow {
		text, _, _, err := c.BuildLog(ctx, id, 0)
		if err != nil {
			return explain(c, err)
		}
		_, err = env.stdout.Write(text)
		return err
	}
	w := &buildWatch{c: c, id: id, every: *poll, console: env.stdout, notices: env.stderr}
	b, err := w.run(ctx)
	if err != nil {
		return stoppedWaiting(c, id, err)
	}
	if w.written == 0 {
		fmt.Fprintf(env.stderr, "Build %d %s without a console%s.\n", b.ID, b.State, reasonSuffix(b))
	}
	return nil
}

// parseBuildArgs parses the flags of a subcommand about one build and
// returns the client and the build's ID.
func parseBuildArgs(fs *flag.FlagSet, cf *clientFlags, args []string, env *environment) (*apiclient.Client, int64, error) {
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return nil, 0, fmt.Errorf("%w: %s: %q is not a build ID: want a positive integer (see jenkinds builds list)", errUsage, fs.Name(), pos[0])
	}
	c, err := cf.client(fs, env)
	return c, id, err
}

// buildWatch follows a build by polling: its state (progress), its
// console (console), or both, until it ends.
type buildWatch struct {
	c     *apiclient.Client
	id    int64
	every time.Duration
	// console gets the console, when set.
	console io.Writer
	// progress gets a line at each change of state or attempt, when set.
	progress io.Writer
	// notices gets what is said about the console (it starts over, the
	// controller does not answer); progress when nil.
	notices io.Writer

	offset  int64 // of the console, for the next read
	written int64 // bytes of console written
	last    string
	unread  bool // the last console read failed
}

// run polls until the build ended (and, with a console, all of it was
// read), and returns the build as it ended.
func (w *buildWatch) run(ctx context.Context) (api.Build, error) {
	if w.notices == nil {
		w.notices = w.progress
	}
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		if w.progress != nil || w.console == nil {
			b, err := w.c.GetBuild(ctx, w.id)
			if err != nil {
				return api.Build{Build: dispatch.Build{ID: w.id}}, err
			}
			w.report(b)
			if w.console == nil && b.State.Terminal() {
				return b, nil
			}
		}
		if w.console != nil {
			done, err := w.read(ctx)
			if err != nil {
				return api.Build{Build: dispatch.Build{ID: w.id}}, err
			}
			if done {
				b, err := w.c.GetBuild(ctx, w.id)
				if err != nil {
					return api.Build{Build: dispatch.Build{ID: w.id}}, err
				}
				return b, nil
			}
		}
		select {
		case <-ctx.Done():
			return api.Build{Build: dispatch.Build{ID: w.id}}, ctx.Err()
		case <-tick.C:
		}
	}
}

// read copies what is new of the console and reports whether it is all
// read. A controller that does not answer for now is a notice, not an
// error: the build may be placed again elsewhere.
func (w *buildWatch) read(ctx context.Context) (bool, error) {
	text, next, more, err := w.c.BuildLog(ctx, w.id, w.offset)
	var apiErr *apiclient.Error
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadGateway || apiErr.Status == http.StatusServiceUnavailable) {
		if !w.unread {
			w.notice("the console cannot be read for now (%s); trying again", apiErr.Message)
		}
		w.unread = true
		return false, nil
	}
	if err != nil {
		return false, err
	}
	w.unread = false
	if next < w.offset {
		w.notice("the build was placed again: its console starts over")
		w.offset = 0
		return false, nil
	}
	if _, err := w.console.Write(text); err != nil {
		return false, err
	}
	w.offset = next
	w.written += int64(len(text))
	return !more, nil
}

func (w *buildWatch) notice(format string, args ...any) {
	if w.notices != nil {
		fmt.Fprintf(w.notices, "jenkinds: build %d: "+format+"\n", append([]any{w.id}, args...)...)
	}
}

// report writes a progress line when the build moved on; the end is the
// caller's to say.
func (w *buildWatch) report(b api.Build) {
	if w.progress == nil || b.State.Terminal() {
		return
	}
	line := progress(b)
	if line == w.last {
		return
	}
	w.last = line
	fmt.Fprintf(w.progress, "jenkinds: build %d: %s\n", b.ID, line)
}

// progress says where a build that has not ended is.
func progress(b api.Build) string {
	a, ok := current(b)
	switch {
	case b.State == dispatch.StateAccepted && b.NotBefore.After(time.Now()):
		return "accepted, held until " + when(&b.NotBefore)
	case b.State == dispatch.StateAccepted && ok:
		return fmt.Sprintf("waiting to be placed again (attempt %d on %s ended: %s)", a.Attempt, controllerName(a), firstSet(a.Reason, string(a.State)))
	case b.State == dispatch.StateAccepted:
		return "accepted, waiting for a controller"
	case b.State == dispatch.StatePlaced:
		return fmt.Sprintf("placed on %s (attempt %d), in its queue", controllerName(a), a.Attempt)
	case b.State == dispatch.StateRunning:
		return fmt.Sprintf("running on %s as %s #%d (attempt %d)", controllerName(a), b.Job, a.BackendNumber, a.Attempt)
	}
	return string(b.State)
}

// summary says how a build ended.
func summary(b api.Build) string {
	s := fmt.Sprintf("build %d %s", b.ID, b.State)
	if b.Result != "" {
		s += ": " + b.Result
	}
	if b.Number != 0 {
		s += fmt.Sprintf(" (%s/%s #%d", b.Cluster, b.Job, b.Number)
		if a, ok := current(b); ok {
			s += fmt.Sprintf(", attempt %d on %s", a.Attempt, controllerName(a))
		}
		s += ")"
	}
	return s + reasonSuffix(b)
}

func reasonSuffix(b api.Build) string {
	if b.Reason == "" || b.State == dispatch.StateFinished {
		return ""
	}
	return ": " + b.Reason
}

// stoppedWaiting explains an error that ended a --wait or --follow.
func stoppedWaiting(c *apiclient.Client, id int64, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("stopped waiting; build %d goes on (jenkinds builds get %d; jenkinds builds cancel %d)", id, id, id)
	}
	return explain(c, err)
}

func current(b api.Build) (api.Attempt, bool) {
	for _, a := range b.Attempts {
		if a.Attempt == b.CurrentAttempt {
			return a, true
		}
	}
	return api.Attempt{}, false
}

func controllerName(a api.Attempt) string {
	if a.ControllerName == "" {
		return fmt.Sprintf("controller %d", a.ControllerID)
	}
	return a.ControllerName
}

// number renders a build number, "-" for none yet.
func number(n int64) string {
	if n == 0 {
		return "-"
	}
	return "#" + strconv.FormatInt(n, 10)
}

// buildDetails writes a build, a field a line, then its attempts.
func buildDetails(w io.Writer, b api.Build) {
	var params []string
	for _, p := range b.Params {
		params = append(params, p.Name+"="+p.Value)
	}
	cause := b.Cause.Kind
	if d := firstSet(b.Cause.Description, b.Cause.UserID, b.Cause.Addr); d != "" {
		cause += " (" + d + ")"
	}
	for _, f := range [][2]string{
		{"ID", fmt.Sprint(b.ID)},
		{"Cluster", b.Cluster},
		{"Job", b.Job},
		{"Number", number(b.Number)},
		{"State", string(b.State)},
		{"Result", b.Result},
		{"Reason", b.Reason},
		{"Parameters", strings.Join(params, " ")},
		{"Cause", cause},
		{"Attempt", fmt.Sprintf("%d of at most %d", b.CurrentAttempt, b.MaxAttempts)},
		{"Stop requested", yesNo(b.StopRequested)},
		{"Not before", when(&b.NotBefore)},
		{"Created", when(&b.CreatedAt)},
		{"Started", when(b.StartedAt)},
		{"Finished", when(b.FinishedAt)},
	} {
		row(w, f[0]+":", f[1])
	}
	fmt.Fprintln(w)
	if len(b.Attempts) == 0 {
		fmt.Fprintln(w, "No attempts yet.")
		return
	}
	row(w, "ATTEMPT", "CONTROLLER", "QUEUE ID", "NUMBER", "STATE", "RESULT", "REASON", "FENCE", "POLICY")
	for _, a := range b.Attempts {
		row(w, fmt.Sprint(a.Attempt), fmt.Sprintf("%s (%d)", controllerName(a), a.ControllerID), idOrNone(a.BackendQueueID),
			number(a.BackendNumber), string(a.State), a.Result, a.Reason, a.Fence, string(a.Redispatch))
	}
}

func idOrNone(id int64) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatInt(id, 10)
}
