package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
)

func init() {
	register(command{name: "builds", summary: "trigger, list, cancel and follow builds", run: runBuilds})
}

const buildsHelp = `
Runs builds through the admin API, of two kinds.

Builds of a job on the Jenkins controllers of a cluster (trigger, list,
get, cancel, logs): jenkinds stores each build, places it on a controller
that has the job and can take it, follows it to its result, and places it
again when that controller dies, hangs or restarts and loses it.

Pipeline builds (submit): routed to a build cluster — the one the
screwdriver.cd/buildCluster annotation names, else one drawn by weight
among the platform's clusters — and queued for that cluster's workers.

Examples:
  jenkinds builds trigger --cluster production team/deploy -p ENV=staging --wait
  jenkinds builds list --state running
  jenkinds builds logs 42 --follow`

// buildSubcommands is the table of 'jenkinds builds': the builds of the
// Jenkins controllers (controllerbuilds.go), then submit, the pipeline
// build of a build cluster.
var buildSubcommands = []subcommand{
	{"trigger", "build a job on the Jenkins controllers of a cluster", runBuildsTrigger},
	{"list", "list the builds of the Jenkins controllers", runBuildsList},
	{"get", "show a build and its attempts", runBuildsGet},
	{"cancel", "cancel a waiting build, stop a running one", runBuildsCancel},
	{"logs", "print a build's console; --follow it live", runBuildsLogs},
	{"submit", "submit a pipeline build to a build cluster", runBuildsSubmit},
}

func runBuilds(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "builds", buildsHelp, buildSubcommands)
}

// pairs is a repeatable key=value flag, kept in order.
type pairs struct {
	what string
	kv   [][2]string
}

func (p *pairs) String() string { return "" }

func (p *pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want %s=VALUE", p.what)
	}
	p.kv = append(p.kv, [2]string{k, v})
	return nil
}

func (p *pairs) asMap() map[string]string {
	if len(p.kv) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range p.kv {
		m[kv[0]] = kv[1]
	}
	return m
}

const buildsSubmitHelp = `
Submits a pipeline build: --scm-context, --pipeline (org/repo) and --job,
with the job's steps from --yaml (a screwdriver.yaml) or --step flags, in
order. --annotation and --env are laid over the yaml's. It prints the
build's queue job and the build cluster chosen; with --wait it follows the
job to its end, prints its log, and exits non-zero unless it succeeded.

Examples:
  jenkinds builds submit --scm-context github:github.com --pipeline my-org/app --job main \
      --step 'init=npm install' --step 'test=npm test' --env NODE_ENV=test
  jenkinds builds submit --scm-context github:github.com --pipeline ios-team/app --job main \
      --yaml screwdriver.yaml --annotation screwdriver.cd/buildCluster=iOS --wait`

func runBuildsSubmit(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "builds submit", "--scm-context S --pipeline ORG/REPO --job JOB [flags]", buildsSubmitHelp)
	cf := addClientFlags(fs)
	var req api.BuildRequest
	fs.StringVar(&req.SCMContext, "scm-context", "", "the pipeline's `scm:host`, e.g. github:github.com")
	fs.StringVar(&req.Pipeline, "pipeline", "", "the repository, `org/repo`")
	fs.StringVar(&req.Job, "job", "", "the `job` to run (with --yaml, one of its jobs)")
	fs.StringVar(&req.Image, "image", "", "the `image`, for executors that use one")
	yamlFile := fs.String("yaml", "", "screwdriver.yaml `file` to take the job from (- for standard input)")
	steps := &pairs{what: "NAME"}
	fs.Var(steps, "step", "a step, `NAME=COMMAND` (repeat, in order)")
	annotations := &pairs{what: "KEY"}
	fs.Var(annotations, "annotation", "an annotation, `KEY=VALUE` (repeat), e.g. screwdriver.cd/buildCluster=iOS")
	environment := &pairs{what: "NAME"}
	fs.Var(environment, "env", "an environment variable of the steps, `NAME=VALUE` (repeat)")
	wait := fs.Bool("wait", false, "follow the build to its end, print its log, exit non-zero unless it succeeded")
	poll := fs.Duration("poll", time.Second, "with --wait, how often to look")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if req.SCMContext == "" || req.Pipeline == "" || req.Job == "" {
		return fmt.Errorf("%w: builds submit: --scm-context, --pipeline and --job are required (run 'jenkinds builds submit -h')", errUsage)
	}
	if (*yamlFile == "") == (len(steps.kv) == 0) {
		return fmt.Errorf("%w: builds submit: give the steps with --yaml or with --step, one of the two", errUsage)
	}
	if *yamlFile != "" {
		doc, err := readInput(*yamlFile)
		if err != nil {
			return fmt.Errorf("read %s: %w", *yamlFile, err)
		}
		req.YAML = string(doc)
	}
	for _, s := range steps.kv {
		req.Steps = append(req.Steps, buildcluster.Step{Name: s[0], Command: s[1]})
	}
	req.Annotations, req.Environment = annotations.asMap(), environment.asMap()
	c, err := cf.client(fs, env)
	if err != nil {
		return err
	}
	b, err := c.SubmitPipelineBuild(ctx, req)
	if err != nil {
		return explain(c, err)
	}
	if !*wait {
		return cf.print(env.stdout, b, func(w io.Writer) { pipelineBuildDetails(w, b) })
	}
	if cf.output == "table" {
		cf.print(env.stdout, b, func(w io.Writer) { pipelineBuildDetails(w, b) })
	}
	j, err := followJob(ctx, c, b.Job.ID, *poll)
	if err != nil {
		return explain(c, err)
	}
	text, err := c.QueueJobLog(ctx, j.ID, 0)
	if err != nil {
		return explain(c, err)
	}
	b.Job = j
	err = cf.print(env.stdout, b, func(w io.Writer) {
		fmt.Fprintf(w, "\n%s", text)
		exit := "-"
		if j.ExitCode != nil {
			exit = fmt.Sprint(*j.ExitCode)
		}
		fmt.Fprintf(w, "\nJob %d %s: result %s, exit code %s, attempt %d\n", j.ID, j.State, firstSet(j.Result, "-"), exit, j.Attempt)
	})
	if err == nil && (j.State != queue.StateCompleted || j.Result != "SUCCESS") {
		err = fmt.Errorf("build %s: %s", j.State, firstSet(j.Result, j.Error))
	}
	return err
}

// followJob polls job id until it is finished.
func followJob(ctx context.Context, c interface {
	QueueJob(context.Context, int64) (queue.Job, error)
}, id int64, every time.Duration) (queue.Job, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		j, err := c.QueueJob(ctx, id)
		if err != nil || j.State.Finished() {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

// readInput reads a file, or standard input for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(stdin, 1<<20))
	}
	return os.ReadFile(name)
}

// pipelineBuildDetails writes a submitted build, a field a line.
func pipelineBuildDetails(w io.Writer, b api.PipelineBuild) {
	row(w, "Job:", fmt.Sprint(b.Job.ID))
	row(w, "Build cluster:", b.BuildCluster)
	row(w, "Why:", b.Reason)
	row(w, "State:", string(b.Job.State))
	for _, warning := range b.Warnings {
		row(w, "Warning:", warning)
	}
}

var _ flag.Value = (*pairs)(nil)
