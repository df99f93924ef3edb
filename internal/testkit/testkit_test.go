package testkit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so the helpers' failures can be tested. Its methods beyond these
// are the nil TB's and panic: the helpers must not call them.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// Fatalf records and ends the goroutine, as testing.T's does.
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// run runs test as a test body on a goroutine of its own, then the
// cleanups it registered, last first, and returns its failures.
func (r *recorder) run(test func(tb testing.TB)) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		test(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
	return r.failures
}

func TestEventuallyWaitsForCond(t *testing.T) {
	t.Parallel()
	calls := 0
	var r recorder
	failures := r.run(func(tb testing.TB) {
		Eventually(tb, time.Minute, func() bool { calls++; return calls == 5 }, func() string {
			t.Error("what() called though cond held")
			return ""
		})
	})
	if len(failures) != 0 || calls != 5 {
		t.Errorf("got failures %q after %d calls, want none after 5", failures, calls)
	}
}

func TestEventuallyFailsWithWhat(t *testing.T) {
	t.Parallel()
	calls := 0
	reached := false
	var r recorder
	failures := r.run(func(tb testing.TB) {
		Eventually(tb, 20*time.Millisecond, func() bool { calls++; return false }, func() string {
			return "cond false after " + strconv.Itoa(calls) + " calls"
		})
		reached = true
	})
	if len(failures) != 1 || !strings.HasPrefix(failures[0], "not within 20ms: cond false after ") {
		t.Errorf("failures: %q, want one that says what() after the deadline", failures)
	}
	if reached {
		t.Error("the test went on after Eventually failed")
	}
	if calls < 2 {
		t.Errorf("cond called %d times, want it polled and evaluated again at the deadline", calls)
	}
}

func TestSayf(t *testing.T) {
	t.Parallel()
	n := 3
	what := Sayf("build %d to end", n)
	n = 4
	if got := what(); got != "build 3 to end" {
		t.Errorf("got %q, want the arguments as they were when Sayf was called", got)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now: %v, want %v", c.Now(), start)
	}
	const movers, moves = 8, 100
	var wg sync.WaitGroup
	for range movers {
		wg.Go(func() {
			for range moves {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if want := start.Add(movers * moves * time.Second); !c.Now().Equal(want) {
		t.Errorf("after concurrent Advance: %v, want %v", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("after Set: %v, want %v", c.Now(), start)
	}
	if !new(Clock).Now().IsZero() {
		t.Error("the zero Clock does not read the zero time")
	}
}

func TestDeadAddrRefuses(t *testing.T) {
	t.Parallel()
	conn, err := net.DialTimeout("tcp", DeadAddr(t), 10*time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("dial to DeadAddr connected")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want ECONNREFUSED", err)
	}
}

// The hog tests are not parallel: HogFromEnv's hogs are shared by the
// whole test binary, and t.Setenv forbids it.

func TestHogBurnsCPU(t *testing.T) {
	requireProc(t)
	h := hog(t, 2)
	for _, cmd := range h.cmds {
		pid := cmd.Process.Pid
		Eventually(t, time.Minute, func() bool { return cpuTicks(t, pid) > 0 }, Sayf("hog %d to use CPU", pid))
	}
	if cpu := h.stop(); cpu <= 0 {
		t.Errorf("hogs used %s of CPU, want more than none", cpu)
	}
	for _, cmd := range h.cmds {
		if err := syscall.Kill(cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hog %d after stop: kill -0 says %v, want ESRCH", cmd.Process.Pid, err)
		}
	}
	if cpu := h.stop(); cpu <= 0 {
		t.Errorf("a second stop says %s, want the CPU time again", cpu)
	}
}

func TestHogKilledWhenTheTestFails(t *testing.T) {
	var pids []int
	var r recorder
	failures := r.run(func(tb testing.TB) {
		for _, cmd := range hog(tb, 2).cmds {
			pids = append(pids, cmd.Process.Pid)
		}
		tb.Fatalf("the test fails")
	})
	if len(failures) != 1 || len(pids) != 2 {
		t.Fatalf("failures %q, hogs %v: want the test's one failure and 2 hogs", failures, pids)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hog %d after the cleanups: kill -0 says %v, want ESRCH", pid, err)
		}
	}
}

// A hog whose parent died without stopping it (a test binary killed, or
// panicking on -timeout) exits of itself.
func TestHogExitsWhenItsParentDies(t *testing.T) {
	requireProc(t)
	parent := exec.Command("/bin/sh", "-c", `/bin/sh -c "$0" & echo $!; wait`, hogScript)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		parent.Process.Kill()
		t.Fatalf("the hog's pid: %v", err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	Eventually(t, time.Minute, func() bool { return cpuTicks(t, pid) > 0 }, Sayf("hog %d to run", pid))
	parent.Process.Kill()
	parent.Wait()
	Eventually(t, time.Minute, func() bool { return gone(pid) }, Sayf("hog %d to exit after its parent", pid))
}

func TestHogFromEnvShared(t *testing.T) {
	t.Setenv(HogEnv, "2")
	var outer, inner recorder
	var hogs *hogs
	failures := outer.run(func(tb testing.TB) {
		HogFromEnv(tb)
		hogs = shared.hogs
		inner.run(func(tb testing.TB) { HogFromEnv(tb) })
		if shared.hogs != hogs || shared.users != 1 {
			t.Errorf("after a second test came and went: hogs %p, %d users; want %p, 1 user", shared.hogs, shared.users, hogs)
		}
	})
	if len(failures) != 0 || hogs == nil || len(hogs.cmds) != 2 {
		t.Fatalf("failures %q, hogs %+v: want 2 hogs and no failure", failures, hogs)
	}
	if shared.hogs != nil || shared.users != 0 {
		t.Errorf("after the last test: hogs %p, %d users; want none", shared.hogs, shared.users)
	}
	for _, cmd := range hogs.cmds {
		if err := syscall.Kill(cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hog %d after the last test: kill -0 says %v, want ESRCH", cmd.Process.Pid, err)
		}
	}
}

// Tests that ask for hogs together share them: as many as the most any
// asked for, not the sum.
func TestHogShared(t *testing.T) {
	var outer, inner recorder
	var hogs *hogs
	var during int
	failures := outer.run(func(tb testing.TB) {
		Hog(tb, 1)
		inner.run(func(tb testing.TB) {
			stop := Hog(tb, 2)
			hogs, during = shared.hogs, len(shared.hogs.cmds)
			stop()
			stop() // a second stop releases nothing more
		})
		if shared.hogs != hogs || shared.users != 1 {
			t.Errorf("after the second test: hogs %p, %d users; want %p, 1 user", shared.hogs, shared.users, hogs)
		}
	})
	if len(failures) != 0 || during != 2 {
		t.Fatalf("failures %q, %d hogs while both ran: want 2 (the most asked for) and no failure", failures, during)
	}
	if shared.hogs != nil || shared.users != 0 {
		t.Errorf("after the last test: hogs %p, %d users; want none", shared.hogs, shared.users)
	}
	for _, cmd := range hogs.cmds {
		if err := syscall.Kill(cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hog %d after the last test: kill -0 says %v, want ESRCH", cmd.Process.Pid, err)
		}
	}
}

func TestHogFromEnvValues(t *testing.T) {
	for _, tc := range []struct {
		value string
		fails bool
	}{{"", false}, {"0", false}, {"two", true}, {"-1", true}} {
		t.Setenv(HogEnv, tc.value)
		var r recorder
		failures := r.run(func(tb testing.TB) { HogFromEnv(tb) })
		if (len(failures) > 0) != tc.fails || shared.hogs != nil {
			t.Errorf("%s=%q: failures %q, hogs %p; want failing %v and no hogs", HogEnv, tc.value, failures, shared.hogs, tc.fails)
		}
	}
}

// gone reports whether process pid has exited: it no longer exists, or it
// is a zombie its new parent has yet to reap.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func requireProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc to read a process's CPU time from: %v", err)
	}
}

// cpuTicks returns the user and system CPU time of process pid, in clock
// ticks, from /proc/<pid>/stat (fields 14 and 15, after the command name
// in parentheses).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("hog %d: %v", pid, err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.Atoi(f[11])
	stime, err2 := strconv.Atoi(f[12])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("hog %d: %s: %v", pid, b, err)
	}
	return utime + stime
}

func TestMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "x_gauge", Help: "x"}, []string{"cluster", "state"})
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"cluster"})
	reg.MustRegister(g, c)
	g.WithLabelValues("a", "on").Set(3)
	g.WithLabelValues("b", "on").Set(4)
	c.WithLabelValues("a").Add(2)
	if v, ok := Metric(t, reg, "x_gauge", "cluster", "b"); !ok || v != 4 {
		t.Errorf("x_gauge{cluster=b} = %v, %v; want 4", v, ok)
	}
	if v, ok := Metric(t, reg, "x_gauge", "cluster", "a", "state", "on"); !ok || v != 3 {
		t.Errorf("x_gauge{cluster=a,state=on} = %v, %v; want 3", v, ok)
	}
	if v, ok := Metric(t, reg, "x_total", "cluster", "a"); !ok || v != 2 {
		t.Errorf("x_total{cluster=a} = %v, %v; want 2", v, ok)
	}
	if _, ok := Metric(t, reg, "x_gauge", "cluster", "c"); ok {
		t.Errorf("x_gauge{cluster=c} found, want none")
	}
}
