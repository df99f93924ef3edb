package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Shell runs a job's steps, one /bin/sh -c each and in order, in a new
// empty directory that is removed afterwards, with a clean environment:
// PATH, HOME (the directory), LANG, the SD_* variables that say what runs,
// and the job's environment over them. Nothing of the worker's own
// environment reaches a build (its credentials least of all). The first
// step that exits non-zero ends the job: FAILURE with its exit code. When
// the job is stopped every process of the step's process group is killed.
type Shell struct {
	// Dir is where job directories are made. Default: os.TempDir().
	Dir string
	// Path is the PATH steps get. Default: /usr/local/bin:/usr/bin:/bin.
	Path string
}

var _ Executor = Shell{}

// Run runs job's steps.
func (s Shell) Run(ctx context.Context, job Job, log io.Writer) (Outcome, error) {
	dir, err := os.MkdirTemp(s.Dir, fmt.Sprintf("jenkinds-job-%d-", job.ID))
	if err != nil {
		return Outcome{}, fmt.Errorf("make the job's directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// One writer for stdout and stderr: exec then calls it from one
	// goroutine at a time, and the headers are written between steps.
	out := log
	env := s.environment(job, dir)
	for _, step := range job.Spec.Steps {
		fmt.Fprintf(out, "$ %s: %s\n", step.Name, step.Command)
		code, err := runStep(ctx, dir, env, step.Command, out)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(out, "step %s stopped: %v\n", step.Name, context.Cause(ctx))
			return Outcome{Result: "ABORTED", ExitCode: -1}, nil
		case err != nil:
			return Outcome{}, fmt.Errorf("run step %s: %w", step.Name, err)
		case code != 0:
			fmt.Fprintf(out, "step %s exited with %d\n", step.Name, code)
			return Outcome{Result: "FAILURE", ExitCode: code}, nil
		}
	}
	return Outcome{Result: "SUCCESS", ExitCode: 0}, nil
}

// environment is the steps' whole environment.
func (s Shell) environment(job Job, dir string) []string {
	path := s.Path
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	vars := map[string]string{
		"PATH":             path,
		"HOME":             dir,
		"TMPDIR":           dir,
		"LANG":             "C.UTF-8",
		"CI":               "true",
		"SD_BUILD_CLUSTER": job.Spec.BuildCluster,
		"SD_PIPELINE_NAME": job.Spec.Pipeline,
		"SD_JOB_NAME":      job.Spec.Job,
		"SD_SCM_CONTEXT":   job.Spec.SCMContext,
		"SD_SOURCE_DIR":    dir,
		"JENKINDS_JOB_ID":  strconv.FormatInt(job.ID, 10),
		"JENKINDS_ATTEMPT": strconv.Itoa(job.Attempt),
	}
	maps.Copy(vars, job.Spec.Environment)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// runStep runs command and returns its exit code; an error means it could
// not be started.
func runStep(ctx context.Context, dir string, env []string, command string, out io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
	cmd.Stdin = nil
	// Its own process group, so that stopping the step stops what it
	// started too (sleep, a server, a test runner's children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil // as a shell reports it
		}
		return exit.ExitCode(), nil
	case ctx.Err() != nil:
		return -1, nil
	}
	return 0, err
}
