package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HogEnv names the variable that makes [HogFromEnv] start hogs: the
// number of them, e.g. JENKINDS_TEST_HOG=2.
const HogEnv = "JENKINDS_TEST_HOG"

// hogScript burns a core in one shell process: builtins only, so it forks
// nothing. Between two rounds of counting (a few hundredths of a second)
// it checks that its parent, the test binary, is still there, and exits
// when it is not, so a hog outlives a test binary that died without its
// cleanups by a fraction of a second.
const hogScript = `while kill -0 "$PPID" 2>/dev/null; do i=0; while [ "$i" -lt 20000 ]; do i=$((i+1)); done; done`

// Hog keeps n CPU cores busy with child processes while t runs; stop
// ends t's use of them early and may be called more than once. The tests
// of one test binary share one set of hogs, as many as the most any of
// them running asked for, stopped when the last of them ends: parallel
// tests saturate the machine together rather than multiplying the hogs
// until every test starves. See the package doc for what hogs are for.
func Hog(t testing.TB, n int) (stop func()) {
	t.Helper()
	if n <= 0 {
		return func() {}
	}
	if err := shared.use(n); err != nil {
		t.Fatalf("hog: %v", err)
		return func() {}
	}
	var once sync.Once
	stop = func() { once.Do(shared.release) }
	t.Cleanup(stop)
	return stop
}

// HogFromEnv runs the hogs JENKINDS_TEST_HOG asks for while t runs (see
// [Hog]), and does nothing when it is unset or 0.
func HogFromEnv(t testing.TB) {
	t.Helper()
	v := os.Getenv(HogEnv)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number of hogs, 0 or more", HogEnv, v)
		return
	}
	Hog(t, n)
}

// shared are the test binary's hogs, with the number of tests running
// under them.
var shared hogPool

type hogPool struct {
	mu    sync.Mutex
	users int
	hogs  *hogs
}

// use adds a user wanting n hogs, starting those missing.
func (p *hogPool) use(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hogs == nil {
		p.hogs = &hogs{}
	}
	if missing := n - len(p.hogs.cmds); missing > 0 {
		if err := p.hogs.start(missing); err != nil {
			if p.users == 0 {
				p.hogs.stop()
				p.hogs = nil
			}
			return err
		}
	}
	p.users++
	return nil
}

// release ends one user's use; the last one stops the hogs.
func (p *hogPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.users--; p.users == 0 {
		p.hogs.stop()
		p.hogs = nil
	}
}

// hog starts n hogs of t's own, not shared, for the package's tests.
func hog(t testing.TB, n int) *hogs {
	t.Helper()
	h, err := startHogs(n)
	if err != nil {
		t.Fatalf("hog: %v", err)
		return &hogs{}
	}
	t.Cleanup(func() { h.stop() })
	return h
}

// hogs are busy child processes in one process group of their own.
type hogs struct {
	cmds []*exec.Cmd
	once sync.Once
	cpu  time.Duration // the CPU time they used, once stopped
}

// startHogs starts n hogs; when one fails to start, it stops the others.
func startHogs(n int) (*hogs, error) {
	h := &hogs{}
	if err := h.start(n); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

// start starts n more hogs in h's process group.
func (h *hogs) start(n int) error {
	for range n {
		cmd := exec.Command("/bin/sh", "-c", hogScript)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if len(h.cmds) > 0 {
			cmd.SysProcAttr.Pgid = h.cmds[0].Process.Pid
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start a CPU hog: %w", err)
		}
		h.cmds = append(h.cmds, cmd)
	}
	return nil
}

// stop kills the hogs' process group, reaps them and returns the CPU time
// they used. Only the first call kills; every call returns that time.
func (h *hogs) stop() time.Duration {
	h.once.Do(func() {
		if len(h.cmds) == 0 {
			return
		}
		err := syscall.Kill(-h.cmds[0].Process.Pid, syscall.SIGKILL)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			for _, cmd := range h.cmds { // no group to kill: each one
				_ = cmd.Process.Kill()
			}
		}
		for _, cmd := range h.cmds {
			_ = cmd.Wait() // killed: the error says so
			if ps := cmd.ProcessState; ps != nil {
				h.cpu += ps.UserTime() + ps.SystemTime()
			}
		}
	})
	return h.cpu
}
