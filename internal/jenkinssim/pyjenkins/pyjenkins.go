// Package pyjenkins runs Debian's python-jenkins against a Jenkins (a
// simulated controller or jenkinds' front door) in tests: a scenario
// script prints what the client observed as JSON, and Result checks it.
package pyjenkins

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// SystemPython is Debian's interpreter. The pyenv python3 on PATH has
	// urllib3 2.x, with which python-jenkins 1.4.0 raises ValueError on
	// every call (jenkins-api.md §10.1, "Environment trap").
	SystemPython = "/usr/bin/python3"
	// InstallHint installs the Debian packages the external clients come from.
	InstallHint = "apt-get install python3-jenkins jenkins-job-builder"
	// debianModule is where Debian's python-jenkins lives.
	debianModule = "/usr/lib/python3/dist-packages/jenkins/__init__.py"
)

// helpers is the Python module the scenario scripts share; Run puts it on
// their PYTHONPATH.
//
//go:embed jkhelpers.py
var helpers []byte

// Missing skips the test, or fails it when CI is set, because an external
// client is not installed.
func Missing(t testing.TB, problem string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: run `%s`", problem, InstallHint)
	}
	t.Skipf("%s; install with `%s`", problem, InstallHint)
}

// Require makes sure SystemPython can import python-jenkins (see Missing).
func Require(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, SystemPython, "-c", "import jenkins, requests").CombinedOutput()
	if err != nil {
		detail := err.Error()
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != "" {
			detail = lines[len(lines)-1]
		}
		Missing(t, SystemPython+" cannot import python-jenkins ("+detail+")")
	}
}

// Result is the JSON a scenario printed: what python-jenkins observed.
type Result struct {
	t      testing.TB
	data   map[string]any
	output string // stdout and stderr, shown with failures
}

// Run runs script's scenario against url as user (the API token in
// JENKINS_TOKEN) with SystemPython, with the shared helpers (jkhelpers.py)
// importable, and decodes its JSON; it fails the
// test, showing the output, if the script does not end within timeout,
// exits non-zero, prints no JSON or did not use Debian's python-jenkins.
func Run(t testing.TB, timeout time.Duration, script, scenario, url, user, token string) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	lib := t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, "jkhelpers.py"), helpers, 0o644); err != nil {
		t.Fatalf("write the scenario helpers: %v", err)
	}
	cmd := exec.CommandContext(ctx, SystemPython, script, scenario, url, user)
	cmd.Env = append(cmd.Environ(), "JENKINS_TOKEN="+token, "PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH="+lib)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	output := "stdout:\n" + stdout.String() + "\nstderr:\n" + stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("python-jenkins scenario %s did not finish within %v\n%s", scenario, timeout, output)
	}
	if err != nil {
		t.Fatalf("python-jenkins scenario %s failed: %v\n%s", scenario, err, output)
	}
	if testing.Verbose() {
		t.Logf("python-jenkins scenario %s:\n%s", scenario, output)
	}
	r := &Result{t: t, output: output}
	if err := json.Unmarshal(stdout.Bytes(), &r.data); err != nil {
		t.Fatalf("python-jenkins scenario %s printed no JSON: %v\n%s", scenario, err, output)
	}
	if got := fmt.Sprint(r.data["python_jenkins_file"]); got != debianModule {
		t.Errorf("python-jenkins module: got %v, want Debian's %v", got, debianModule)
	}
	return r
}

// Get returns the value at a dotted path ("stopped.result", "burst.0.number"
// with an index into a list), or nil.
func (r *Result) Get(path string) any {
	var v any = r.data
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Expect compares the value at path with want by their printed forms, so
// that JSON numbers, lists and nulls compare with Go literals.
func (r *Result) Expect(path string, want any) {
	r.t.Helper()
	if got := r.Get(path); fmt.Sprint(got) != fmt.Sprint(want) {
		r.t.Errorf("%s: got %v, want %v\n%s", path, got, want, r.output)
	}
}

// ExpectContains checks that the string at path contains substr.
func (r *Result) ExpectContains(path, substr string) {
	r.t.Helper()
	got, _ := r.Get(path).(string)
	if !strings.Contains(got, substr) {
		r.t.Errorf("%s: got %q, want it to contain %q\n%s", path, got, substr, r.output)
	}
}

// Num reads the JSON number at path as an int64 (0 when it is not one).
func (r *Result) Num(path string) int64 {
	f, _ := r.Get(path).(float64)
	return int64(f)
}

// Output is the script's stdout and stderr, for failure messages.
func (r *Result) Output() string { return r.output }

const (
	// JenkinsJobs is Debian's jenkins-job-builder 3.11 entry point.
	JenkinsJobs = "/usr/bin/jenkins-jobs"
	// JJBManaged is the mark jenkins-job-builder 3.11 appends to every
	// description (right after the text: its "\n\n" separator is
	// stripped) and looks for before --delete-old deletes a job
	// (jenkins-api.md §10.2).
	JJBManaged = "<!-- Managed by Jenkins Job Builder -->"
)

// RequireJJB makes sure python-jenkins and jenkins-job-builder are
// installed (see Missing).
func RequireJJB(t testing.TB) {
	t.Helper()
	Require(t)
	if _, err := os.Stat(JenkinsJobs); err != nil {
		Missing(t, JenkinsJobs+" is missing")
	}
}

// RunJJB runs `jenkins-jobs --conf conf update [args] yamlFile` within
// timeout, with its cache in cacheHome, and returns its combined output;
// it fails t when jenkins-jobs fails.
func RunJJB(t testing.TB, timeout time.Duration, conf, cacheHome, yamlFile string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append([]string{"--conf", conf, "update"}, args...)
	argv = append(argv, yamlFile)
	cmd := exec.CommandContext(ctx, JenkinsJobs, argv...)
	cmd.Env = append(cmd.Environ(), "XDG_CACHE_HOME="+cacheHome, "HOME="+cacheHome, "PYTHONDONTWRITEBYTECODE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("jenkins-jobs %s did not finish within %v\n%s", strings.Join(argv, " "), timeout, out.String())
	}
	if err != nil {
		t.Fatalf("jenkins-jobs %s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
	if testing.Verbose() {
		t.Logf("jenkins-jobs %s:\n%s", strings.Join(argv, " "), out.String())
	}
	return out.String()
}
