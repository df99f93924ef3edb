package worker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
	"github.com/jenkinds/jenkinds/internal/worker"
)

func shellJob(steps ...string) worker.Job {
	spec := api.BuildSpec{SCMContext: "github:github.com", Pipeline: "org/app", Job: "main", BuildCluster: "bf1",
		Environment: map[string]string{"GREETING": "hi there"}}
	for i, s := range steps {
		spec.Steps = append(spec.Steps, buildcluster.Step{Name: "s" + strconv.Itoa(i+1), Command: s})
	}
	return worker.Job{ID: 42, Attempt: 1, Spec: spec}
}

func TestShellRunsStepsInACleanDirectory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	var log strings.Builder
	out, err := worker.Shell{Dir: root}.Run(context.Background(), shellJob(
		`echo "$GREETING from $SD_PIPELINE_NAME job $JENKINDS_JOB_ID on $SD_BUILD_CLUSTER"`,
		`test "$(pwd)" = "$HOME" && ls -A | wc -l && touch made-here`,
		`env | cut -d= -f1 | sort | tr '\n' ' '`,
	), &log)
	if err != nil || out != (worker.Outcome{Result: "SUCCESS", ExitCode: 0}) {
		t.Fatalf("Run: got %+v, %v\n%s", out, err, log.String())
	}
	for _, want := range []string{"$ s1: echo", "hi there from org/app job 42 on bf1\n", "\n0\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q: want %q", log.String(), want)
		}
	}
	// Only the variables it sets: nothing of the worker's environment.
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	vars := strings.Fields(lines[len(lines)-1])
	for _, v := range vars {
		switch v {
		case "PATH", "HOME", "TMPDIR", "LANG", "CI", "PWD", "SHLVL", "OLDPWD", "_", "GREETING", "SD_BUILD_CLUSTER", "SD_PIPELINE_NAME",
			"SD_JOB_NAME", "SD_SCM_CONTEXT", "SD_SOURCE_DIR", "JENKINDS_JOB_ID", "JENKINDS_ATTEMPT":
		default:
			t.Errorf("step environment has %s, which the worker did not set", v)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("job directory left behind: %v", entries)
	}
}

func TestShellStopsAtTheFirstFailingStep(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	out, err := worker.Shell{Dir: t.TempDir()}.Run(context.Background(), shellJob("echo one", "exit 7", "echo never"), &log)
	if err != nil || out != (worker.Outcome{Result: "FAILURE", ExitCode: 7}) {
		t.Errorf("Run: got %+v, %v", out, err)
	}
	if strings.Contains(log.String(), "never\n") || !strings.Contains(log.String(), "step s2 exited with 7") {
		t.Errorf("log: %q", log.String())
	}
}

// TestShellStopKillsTheProcessGroup: stopping a job stops what its step
// started, not only the shell.
func TestShellStopKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	pidFile := filepath.Join(marks, "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job := shellJob(`sleep 30 & echo $! > "` + pidFile + `"; wait`)
	done := make(chan worker.Outcome, 1)
	go func() {
		out, _ := worker.Shell{Dir: t.TempDir()}.Run(ctx, job, &strings.Builder{})
		done <- out
	}()
	var pid int
	testkit.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}, testkit.Sayf("the step's child started"))
	cancel()
	if out := <-done; out.Result != "ABORTED" {
		t.Errorf("stopped job: got %+v, want ABORTED", out)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || isZombie(pid)
	}, testkit.Sayf("the step's child killed"))
}

// isZombie reports a process that exited and waits for its parent.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] == "Z"
}

func startSim(t *testing.T, jobs ...jenkinssim.JobSpec) (*jenkinssim.Controller, *jenkins.Client) {
	t.Helper()
	c, err := jenkinssim.New(jenkinssim.Config{QuietPeriod: 5 * time.Second, Token: "tok", Jobs: jobs,
		BuildDuration: jenkinssim.Duration{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	client, err := jenkins.New(c.URL(), c.User(), c.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, client
}

func TestJenkinsExecutor(t *testing.T) {
	t.Parallel()
	_, client := startSim(t,
		jenkinssim.JobSpec{Name: "main"},
		jenkinssim.JobSpec{Name: "ios/build", Parameters: []jenkinssim.ParamSpec{{Name: "SIM_RESULT", Default: "SUCCESS"}, {Name: "SIM_DURATION_MS", Default: "50"}}},
	)
	x := &worker.Jenkins{Client: client, Poll: 20 * time.Millisecond}

	var log strings.Builder
	out, err := x.Run(context.Background(), worker.Job{ID: 1, Spec: api.BuildSpec{Job: "main"}}, &log)
	if err != nil || out != (worker.Outcome{Result: "SUCCESS", ExitCode: 0}) {
		t.Errorf("main: got %+v, %v\n%s", out, err, log.String())
	}
	if !strings.Contains(log.String(), "jenkins: triggered") || !strings.Contains(log.String(), "Finished: SUCCESS") {
		t.Errorf("main's log: %q", log.String())
	}

	// The annotation names the Jenkins job; the environment is its parameters.
	job := worker.Job{ID: 2, Spec: api.BuildSpec{Job: "main", Annotations: map[string]string{worker.AnnotationJenkinsJob: "ios/build"},
		Environment: map[string]string{"SIM_RESULT": "UNSTABLE"}}}
	out, err = x.Run(context.Background(), job, &strings.Builder{})
	if err != nil || out != (worker.Outcome{Result: "UNSTABLE", ExitCode: 1}) {
		t.Errorf("ios/build: got %+v, %v", out, err)
	}

	_, err = x.Run(context.Background(), worker.Job{ID: 3, Spec: api.BuildSpec{Job: "nosuch"}}, &strings.Builder{})
	if !errors.Is(err, worker.ErrPermanent) {
		t.Errorf("a job the controller lacks: got %v, want ErrPermanent", err)
	}
}

func TestJenkinsExecutorStops(t *testing.T) {
	t.Parallel()
	_, client := startSim(t, jenkinssim.JobSpec{Name: "slow", DurationMs: 60_000})
	x := &worker.Jenkins{Client: client, Poll: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log apitest.Buffer
	done := make(chan worker.Outcome, 1)
	go func() {
		out, _ := x.Run(ctx, worker.Job{ID: 1, Spec: api.BuildSpec{Job: "slow"}}, &log)
		done <- out
	}()
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "jenkins: build ") }, testkit.Sayf("the build running"))
	cancel()
	if out := <-done; out.Result != "ABORTED" {
		t.Errorf("stopped: got %+v", out)
	}
	var b struct {
		Result string `json:"result"`
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := client.GetJSON(context.Background(), "job/slow/1/api/json", &b)
		return err == nil && b.Result == "ABORTED"
	}, testkit.Sayf("the build aborted on the controller"))
}
