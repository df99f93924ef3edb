package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// TestChaosFrontDoor triggers a few hundred scripted builds through the
// front door, as a Jenkins client does (POST buildWithParameters with
// Basic auth, then the queue item to its build, then the build to its
// result), in waves, while of the three controllers behind jenkinds one is
// killed and comes back later, one hangs for a while and one restarts;
// and again with jenkinds itself restarted mid-run; on SQLite and
// PostgreSQL.
//
// Every build the front door accepted (201) must end, with its scripted
// result, as the client first saw it end; the front door's numbers of
// the job are 1..N with no gap and no duplicate, one per accepted build;
// jenkinds holds no other build; each build has exactly one counted
// attempt; every build a controller ran is an attempt jenkinds knows, and
// none still runs. See chaosCheck.
func TestChaosFrontDoor(t *testing.T) {
	t.Parallel()
	// For its whole length the CPU is saturated by other processes, as on
	// a busy CI machine: jenkinds must not take its own slowness for the
	// controllers' (no build placed again for it, none run twice).
	testkit.Hog(t, 2)
	for _, engine := range dbtest.Engines(t) {
		for _, restart := range []bool{false, true} {
			name := engine.Name
			if restart {
				name += "/jenkinds-restarted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				chaos(t, engine, restart)
			})
		}
	}
}

// raceEnabled is set when the test binary has the race detector.
var raceEnabled bool

const (
	chaosBuilds = 300
	chaosWaves  = 10
	// wavePace paces the waves (it is not a synchronisation): the run
	// lasts long enough for the faults to land among running builds.
	wavePace = 250 * time.Millisecond
	// pollEvery is how often a client polls a queue item or a build.
	pollEvery = 150 * time.Millisecond
	// followers bounds the client's requests in flight while following.
	followers = 8
)

var chaosResults = []string{"SUCCESS", "FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"}

// script is build seq's scripted duration (20–200 ms) and result.
func script(seq int) (int, string) { return 20 + (seq*37)%181, chaosResults[seq%len(chaosResults)] }

// simJobs is the job every controller has: concurrent, scripted by its
// parameters; SEQ keeps builds apart (identical ones would coalesce).
func simJobs() []jenkinssim.JobSpec {
	return []jenkinssim.JobSpec{{Name: "build", Concurrent: true, Parameters: []jenkinssim.ParamSpec{
		{Name: "SIM_DURATION_MS", Default: "0"}, {Name: "SIM_RESULT", Default: "SUCCESS"}, {Name: "SEQ"},
	}}}
}

// tracked is one build as the client sees it. Only its own goroutine
// writes it until the run is over.
type tracked struct {
	seq int
	// id is the global queue id from the trigger's Location; 0 when no
	// trigger was accepted.
	id int64
	// status is the trigger's answer: 201, or 303 when an earlier attempt
	// of this trigger had been accepted after all.
	status int
	// ambiguous: a trigger attempt failed after it may have reached
	// jenkinds (not a refused dial), so a second build of this seq is the
	// client's doing, not jenkinds'.
	ambiguous bool
	// retried counts trigger attempts that failed (refused, cut, 5xx).
	retried  int
	statuses []int  // the 5xx answers among them
	lost     string // the first error after which the trigger may have been sent
	number   int64  // executable.number of the queue item
	result   string
	queueID  int64  // the build JSON's queueId
	err      string // why the client could not follow it to the end
}

// chaosRun is one variant's world.
type chaosRun struct {
	t     *testing.T
	s     *servertest.Server
	c     *client
	front string
	sem   chan struct{} // bounds the client's follow requests in flight
	start time.Time

	mu     sync.Mutex
	events []string // the timeline of faults, for failure messages
}

func (r *chaosRun) event(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("+%5dms ", time.Since(r.start).Milliseconds())+fmt.Sprintf(format, args...))
}

func chaos(t *testing.T, engine dbtest.Engine, restartJenkinds bool) {
	start := time.Now()
	s := servertest.Start(t, servertest.Options{
		Engine: &engine, Controllers: 3,
		Sim: jenkinssim.Config{Executors: 8, RestartDuration: 300 * time.Millisecond, Jobs: simJobs(),
			BuildDuration: jenkinssim.Duration{Min: time.Millisecond, Max: time.Millisecond}},
		// A probe every 300ms, which may take as long; three failed in a
		// row make a controller unhealthy: a kill or a hang is seen
		// within about a second, and a controller that is only slow
		// (-race, a loaded CI machine) is not taken for dead, which would
		// place its builds again and again.
		Health: health.Config{Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond,
			UnhealthyInterval: 50 * time.Millisecond, Rise: 1, Fall: 3},
		// Three faults in a row may each take an attempt of one build;
		// gone attempts are given up within seconds, not minutes.
		Dispatch: dispatch.Config{MaxAttempts: 5, FenceWindow: 5 * time.Second},
	})
	r := &chaosRun{t: t, s: s, c: newClient(s.Front), front: s.Front, sem: make(chan struct{}, followers), start: time.Now()}
	t.Cleanup(r.c.close)
	r.event("started: %s (setup took %dms)", s, time.Since(start).Milliseconds())
	defer func() {
		r.mu.Lock()
		t.Logf("timeline:\n  %s", strings.Join(r.events, "\n  "))
		r.mu.Unlock()
	}()
	// Far above the half minute a run takes alone: the whole suite, hogs
	// included, may run beside it on two cores.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	n := chaosBuilds
	if raceEnabled {
		n /= 2
	}
	builds := make([]*tracked, n)
	var wg sync.WaitGroup
	// The launcher triggers a wave, then waits for the faults of that wave
	// to be injected (ack) and paces the next.
	launched, ack := make(chan int), make(chan struct{})
	go func() {
		defer close(launched)
		for wave := range chaosWaves {
			for seq := wave * n / chaosWaves; seq < (wave+1)*n/chaosWaves; seq++ {
				b := &tracked{seq: seq}
				builds[seq] = b
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.life(ctx, b)
				}()
			}
			select {
			case launched <- wave:
			case <-ctx.Done():
				return
			}
			select {
			case <-ack:
			case <-ctx.Done():
				return
			}
			if !wait(ctx, wavePace) {
				return
			}
		}
	}()

	// The faults, each on a controller that runs builds of the run.
	sims := s.Sims
	for wave := range launched {
		switch wave {
		case 2:
			r.busy(sims[0])
			sims[0].Down()
			r.event("%s killed (down)", sims[0].Name())
		case 4:
			r.busy(sims[1])
			sims[1].Hang()
			r.event("%s hangs", sims[1].Name())
			time.AfterFunc(3*time.Second, func() {
				sims[1].Unhang()
				r.event("%s answers again", sims[1].Name())
			})
		case 5:
			if restartJenkinds {
				// The next waves are triggered while jenkinds restarts.
				ack <- struct{}{}
				r.event("jenkinds stopping")
				s.Restart()
				if s.Front != r.front {
					t.Fatalf("jenkinds came back on front door %s, not %s", s.Front, r.front)
				}
				r.event("jenkinds restarted")
				continue
			}
		case 7:
			r.busy(sims[2])
			sims[2].Restart()
			r.event("%s restarting", sims[2].Name())
			if err := sims[0].Up(); err != nil {
				t.Fatalf("bring %s back up: %v", sims[0].Name(), err)
			}
			r.event("%s back up", sims[0].Name())
		}
		ack <- struct{}{}
	}
	wg.Wait()
	r.event("every build followed to its end by the client")
	// The check reads every build back (admin API, front door, each
	// controller): seconds alone, a minute or more on a loaded machine.
	checkCtx, cancelCheck := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelCheck()
	chaosCheck(checkCtx, r, builds)
	t.Logf("%s: %d builds in %s", t.Name(), n, time.Since(start).Round(time.Millisecond))
}

// busy waits a while for sim to run builds, so that the fault about to
// hit it lands among them. It may not: the run's builds may be over, or
// placed elsewhere; the fault is injected anyway. The wait is long: on a
// machine saturated by other processes (bench/underload.sh -hog 2) the
// builds of a wave may take seconds to reach a controller, and with every
// fault missing, the run would test nothing (chaosCheck says so).
func (r *chaosRun) busy(sim *jenkinssim.Controller) {
	deadline := time.Now().Add(20 * time.Second)
	for sim.State().Running == 0 {
		if time.Now().After(deadline) {
			r.event("%s runs no build; faulting it anyway", sim.Name())
			return
		}
		wait(context.Background(), 5*time.Millisecond)
	}
}

// life is one build as a client lives it: trigger (retrying while the
// front door is unreachable), follow the queue item to its build number,
// follow the build until it is no longer building.
func (r *chaosRun) life(ctx context.Context, b *tracked) {
	r.trigger(ctx, b)
	if b.id == 0 {
		return
	}
	r.follow(ctx, b)
}

func (r *chaosRun) trigger(ctx context.Context, b *tracked) {
	d, res := script(b.seq)
	path := fmt.Sprintf("/job/build/buildWithParameters?SIM_DURATION_MS=%d&SIM_RESULT=%s&SEQ=%d", d, res, b.seq)
	for {
		ans, body, err := r.c.do(ctx, http.MethodPost, path)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				b.err = fmt.Sprintf("trigger: gave up after %d failed attempts: %v", b.retried, err)
				return
			}
			if !notSent(err) && !b.ambiguous {
				b.ambiguous, b.lost = true, err.Error()
			}
		case ans.StatusCode == http.StatusCreated || ans.StatusCode == http.StatusSeeOther && b.ambiguous:
			b.status = ans.StatusCode
			if b.id, err = queueID(r.front, ans.Header.Get("Location")); err != nil {
				b.err = "trigger: " + err.Error()
			}
			return
		case ans.StatusCode >= 500:
			b.statuses = append(b.statuses, ans.StatusCode)
		default:
			// A client gives up on a 4xx, and so does this one.
			b.err = fmt.Sprintf("trigger: HTTP %d after %d failed attempts: %.300s", ans.StatusCode, b.retried, body)
			return
		}
		b.retried++
		if !wait(ctx, 50*time.Millisecond) {
			b.err = fmt.Sprintf("trigger: gave up after %d failed attempts (5xx: %v)", b.retried, b.statuses)
			return
		}
	}
}

func (r *chaosRun) follow(ctx context.Context, b *tracked) {
	var last string
	get := func(path string, v any) bool {
		r.sem <- struct{}{}
		defer func() { <-r.sem }()
		_, err := r.c.getJSON(ctx, path, v)
		if err != nil {
			last = err.Error()
		}
		return err == nil
	}
	for b.number == 0 {
		var it queueItem
		if get("/queue/item/"+strconv.FormatInt(b.id, 10)+"/api/json", &it) {
			if it.Executable != nil && it.Executable.Number > 0 {
				b.number = it.Executable.Number
				break
			}
			if it.Cancelled {
				b.err = "queue item left without a build (cancelled: jenkinds gave up on it)"
				return
			}
			last = "still in the queue"
		}
		if !wait(ctx, pollEvery) {
			b.err = "queue item never became a build; last: " + last
			return
		}
	}
	for {
		var bj buildJSON
		if get("/job/build/"+strconv.FormatInt(b.number, 10)+"/api/json?tree=number,queueId,building,result", &bj) {
			if !bj.Building && bj.Result != nil {
				b.result, b.queueID = *bj.Result, bj.QueueID
				if bj.Number != b.number {
					b.err = fmt.Sprintf("build #%d answered as #%d", b.number, bj.Number)
				}
				return
			}
			last = "still building"
		}
		if !wait(ctx, pollEvery) {
			b.err = fmt.Sprintf("build #%d never ended; last: %s", b.number, last)
			return
		}
	}
}
