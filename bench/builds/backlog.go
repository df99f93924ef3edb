package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The backlog phase: a backlog of short builds, accepted first (as fast as
// the front door takes them), then drained by a few controllers whose
// executors are known, with jenkinds' defaults. It compares the drain rate
// with the rate the executors allow, measured on simulators alone, and
// shows jenkinds' CPU meanwhile (it is the leader: the only replica).

// Aims from the issue: the drain runs at the rate the executors allow
// (taken as at least 90 % of it), with the leader under half a core.
const (
	aimDrainRatio  = 0.9
	aimLeaderCores = 0.5
)

// baselineRounds is how many times each executor runs a build in the
// measurement of the simulators alone.
const baselineRounds = 25

// sample is what one look at the world saw during the backlog phase.
type sample struct {
	at       time.Time
	ended    float64 // builds of the phase jenkinds counts ended (terminal)
	running  int     // builds running on the controllers (busy executors)
	queued   int     // items in the controllers' own queues
	accepted int64   // builds the front door accepted so far
	held     float64 // builds jenkinds has on the controllers (placed or running)
}

// series is the samples of a phase, in time order.
type series []sample

// timeAt is when ended first reached n, interpolated between samples.
func (s series) timeAt(n float64) time.Time {
	for i, x := range s {
		if x.ended < n {
			continue
		}
		if i == 0 || x.ended == s[i-1].ended {
			return x.at
		}
		p := s[i-1]
		f := (n - p.ended) / (x.ended - p.ended)
		return p.at.Add(time.Duration(f * float64(x.at.Sub(p.at))))
	}
	return time.Time{}
}

// between is the samples taken from t0 to t1, both included.
func (s series) between(t0, t1 time.Time) series {
	var out series
	for _, x := range s {
		if !x.at.Before(t0) && !x.at.After(t1) {
			out = append(out, x)
		}
	}
	return out
}

// busy is the mean busy executors, queued items and builds jenkinds holds
// on the controllers over s.
func (s series) busy() (running, queued, held float64) {
	for _, x := range s {
		running += float64(x.running)
		queued += float64(x.queued)
		held += x.held
	}
	n := float64(max(len(s), 1))
	return running / n, queued / n, held / n
}

// backlog accepts cfg.backlog.builds builds of buildMs as fast as the front
// door takes them, then waits until jenkinds counts every one ended.
func (r *report) backlog(ctx context.Context, w *world, l *loader) error {
	cfg, bc := w.cfg, w.cfg.backlog
	execs := bc.totalExecutors()
	d := time.Duration(bc.buildMs) * time.Millisecond
	ideal := float64(execs) / d.Seconds()
	timeout := bc.timeout
	if timeout <= 0 {
		timeout = time.Minute + 10*time.Duration(float64(bc.builds)/ideal*float64(time.Second))
	}
	r.printf("\n== backlog: %d builds of %dms accepted first, then drained by %d controllers × %d nodes × %d executors = %d executors\n",
		bc.builds, bc.buildMs, bc.controllers, bc.agents+1, bc.executors, execs)

	fmt.Fprintln(w.stderr, "  the simulators alone, without jenkinds…")
	alone, err := simsAlone(ctx, w, bc)
	if err != nil {
		return fmt.Errorf("the simulators alone: %w", err)
	}
	r.printf("  the executors allow %d / %s = %.1f builds/s; the simulators alone (a process of %d controllers, %d builds triggered straight at them, %d per executor): %.1f builds/s, %.1fms a build on an executor (%.1fms over its %dms)\n",
		execs, d, ideal, bc.controllers, alone.builds, baselineRounds, alone.rate, alone.perBuild*1000, (alone.perBuild-d.Seconds())*1000, bc.buildMs)

	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	before, s0, c0, err := w.snapshot(pctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	l.accepted.Store(0)
	acceptDone := make(chan burst, 1)
	go func() { acceptDone <- l.run(pctx, cfg.conns, bc.builds, 0, bc.buildMs) }()

	var (
		samples     series
		b           burst
		accepting   = true
		tAcc        time.Time // the last accept's answer
		cAcc, cEnd  cpu
		last        builds
		simReads    int // GET /__sim/state per controller, the benchmark's own
		scrapes     int
		scrapeTime  time.Duration
		profileDone chan error
	)
	next := t0.Add(cfg.progress)
	lastProgress := 0
	for {
		if accepting {
			select {
			case b = <-acceptDone:
				accepting = false
				tAcc = b.first.Add(b.elapsed)
				cAcc = w.cpu()
				if bc.cpuProfile != "" {
					profileDone = make(chan error, 1)
					go func() { profileDone <- w.cpuProfile(ctx, 30*time.Second, bc.cpuProfile) }()
				}
			default:
			}
		}
		ts := time.Now()
		jb, err := w.builds(pctx)
		scrapes++
		scrapeTime += time.Since(ts)
		if err == nil {
			last = jb
		}
		ss, serr := w.simStates(pctx)
		simReads++
		if pctx.Err() != nil || w.jk.exited() || stalled(samples, bc.stall) {
			return r.backlogStuck(ctx, w, timeout, t0, l.accepted.Load(), accepting, last, samples)
		}
		if err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		x := sample{at: time.Now(), ended: jb.terminal() - before.terminal(), accepted: l.accepted.Load(), held: jb["placed"] + jb["running"]}
		for _, s := range ss {
			x.running += s.Running
			x.queued += s.QueueLength
		}
		samples = append(samples, x)
		if !accepting && x.ended >= float64(b.accepted) && jb.unfinished() == 0 {
			cEnd = w.cpu()
			break
		}
		if x.at.After(next) {
			next = next.Add(cfg.progress)
			p := samples[lastProgress]
			fmt.Fprintf(w.stderr, "  %5.0fs %d of %d accepted, %.0f ended (%.0f/s since the last line); controllers: %d of %d executors busy, %d queued; jenkinds: %s\n",
				x.at.Sub(t0).Seconds(), x.accepted, bc.builds, x.ended, (x.ended-p.ended)/x.at.Sub(p.at).Seconds(),
				x.running, execs, x.queued, jb)
			lastProgress = len(samples) - 1
		}
		select {
		case <-pctx.Done():
		case <-time.After(jitter(bc.sample)):
		}
	}
	if profileDone != nil {
		fmt.Fprintln(w.stderr, "  waiting for the CPU profile…")
		if err := <-profileDone; err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
	}
	s1, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	simReads++

	end := samples[len(samples)-1].at
	total := float64(b.accepted)
	endedAtAcc := 0.0 // as of the last sample before the last accept
	for _, x := range samples {
		if x.at.After(tAcc) {
			break
		}
		endedAtAcc = x.ended
	}
	drain := (total - endedAtAcc) / end.Sub(tAcc).Seconds()
	rest := total - endedAtAcc
	w0, w1 := samples.timeAt(endedAtAcc+rest/4), samples.timeAt(endedAtAcc+rest*3/4)
	steady := rest / 2 / w1.Sub(w0).Seconds()
	running, queued, held := samples.between(tAcc, end).busy()
	var reqs, started int64
	for i := range s1 {
		reqs += s1[i].Requests - s0[i].Requests - int64(simReads)
		started += s1[i].BuildsStarted - s0[i].BuildsStarted
	}
	drainCPU := cEnd.sub(cAcc)
	leader := drainCPU.jenkinds / cEnd.at.Sub(cAcc.at).Seconds()
	ratio := drain / alone.rate
	r.backlogRate, r.backlogRatio, r.backlogLeader, r.hasBacklog = drain, ratio, leader, true

	r.printf("  %d accepted in %.1fs (%.0f/s), %.0f of them ended meanwhile\n",
		b.accepted, b.elapsed.Seconds(), float64(b.accepted)/b.elapsed.Seconds(), endedAtAcc)
	r.failures(b)
	r.printf("  CPU while accepting: %s\n", cAcc.sub(c0).split(cAcc.at.Sub(c0.at)))
	r.printf("  drain: the last ended %.1fs after the last accept: %.1f builds/s; steady (25–75 %% of the rest, %.1fs): %.1f builds/s\n",
		end.Sub(tAcc).Seconds(), drain, w1.Sub(w0).Seconds(), steady)
	r.printf("  drain / the simulators alone: %.2f (steady %.2f; aim ≥ %.1f: %s); against %d/%s: %.2f\n",
		ratio, steady/alone.rate, aimDrainRatio, met(ratio >= aimDrainRatio), execs, d, drain/ideal)
	r.printf("  during the drain the controllers had on average %.1f of %d executors busy (%.0f %%) and %.1f items in their queues; jenkinds counted %.1f builds placed or running there (its capacity: 2 × %d executors = %d)\n",
		running, execs, 100*running/float64(execs), queued, held, execs, 2*execs)
	r.printf("  %s; the controllers started %d builds and got %d requests from jenkinds (%.2f per build)\n",
		deltaString(last, before), started, reqs, float64(reqs)/max(total, 1))
	r.printf("  CPU during the drain: %s\n", drainCPU.split(cEnd.at.Sub(cAcc.at)))
	r.printf("  the leader (jenkinds) used %.2f cores during the drain (aim < %.1f: %s)\n", leader, aimLeaderCores, met(leader < aimLeaderCores))
	r.printf("  this benchmark's %d scrapes of jenkinds' /metrics (one every %s ± 25 %%) took %.1fms each (at most %.2f cores of jenkinds' over the phase)\n",
		scrapes, bc.sample, float64(scrapeTime.Microseconds())/1000/float64(scrapes), scrapeTime.Seconds()/end.Sub(t0).Seconds())
	if bc.cpuProfile != "" {
		r.printf("  CPU profile of jenkinds, 30s from the last accept: %s (go tool pprof -top %s)\n", bc.cpuProfile, bc.cpuProfile)
	}
	return nil
}

// backlogStuck is the error of a backlog that did not drain in time (or
// whose jenkinds exited): what was seen.
func (r *report) backlogStuck(ctx context.Context, w *world, timeout time.Duration, t0 time.Time, accepted int64, accepting bool, last builds, samples series) error {
	var b strings.Builder
	switch {
	case w.jk.exited():
		fmt.Fprintf(&b, "jenkinds exited after %.0fs; the end of %s:\n%s\n", time.Since(t0).Seconds(), w.jk.log, w.jk.tail())
	case ctx.Err() != nil:
		return ctx.Err()
	case stalled(samples, w.cfg.backlog.stall):
		fmt.Fprintf(&b, "no build ended for %s (-backlog-stall), %.0fs after the first trigger; ", w.cfg.backlog.stall, time.Since(t0).Seconds())
	default:
		fmt.Fprintf(&b, "not drained within %s (-backlog-timeout); ", timeout)
	}
	fmt.Fprintf(&b, "%d builds accepted", accepted)
	if accepting {
		b.WriteString(" (still accepting)")
	}
	if len(samples) > 0 {
		x := samples[len(samples)-1]
		fmt.Fprintf(&b, ", %.0f ended", x.ended)
		if k := len(samples) - 21; k >= 0 {
			p := samples[k]
			fmt.Fprintf(&b, " (%.1f/s over the last %.0fs)", (x.ended-p.ended)/x.at.Sub(p.at).Seconds(), x.at.Sub(p.at).Seconds())
		}
	}
	fmt.Fprintf(&b, "; jenkinds' builds by state: %s", last)
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if ss, err := w.simStates(c); err == nil {
		for i, s := range ss {
			fmt.Fprintf(&b, "; c%d: %d running, %d queued, %d started, %d finished", i+1, s.Running, s.QueueLength, s.BuildsStarted, s.BuildsFinished)
		}
	}
	return fmt.Errorf("%s", b.String())
}

// jitter is d ± 25 %, at random: samples taken at a fixed period beat
// against jenkinds' follow rounds (one every ~1.25 s per controller) and
// would see the executors at a few phases of the round only.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// stalled reports whether the last samples span d or more without a
// build ending.
func stalled(s series, d time.Duration) bool {
	if len(s) == 0 {
		return false
	}
	x := s[len(s)-1]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].ended != x.ended {
			return false
		}
		if x.at.Sub(s[i].at) >= d {
			return true
		}
	}
	return false
}

// simRate is how fast simulators alone run builds, jenkinds not involved.
type simRate struct {
	builds   int
	rate     float64 // builds ended per second, first trigger to last end
	perBuild float64 // seconds an executor spends per build
}

// simsAlone starts a simulator process like the world's (controllers,
// nodes, executors; not registered with jenkinds), triggers
// baselineRounds builds of buildMs per executor straight at its
// controllers at once, and measures how fast they end.
func simsAlone(ctx context.Context, w *world, bc backlogConfig) (simRate, error) {
	p, urls, err := startSims(ctx, w.cfg.jenkinds, w.dir, "sims-alone", filepath.Join(w.dir, "jobs.json"),
		bc.controllers, bc.agents, bc.executors)
	defer p.stop()
	if err != nil {
		return simRate{}, err
	}
	perCtl := (bc.agents + 1) * bc.executors * baselineRounds
	n := perCtl * bc.controllers
	hc := &http.Client{Timeout: 30 * time.Second}
	t0 := time.Now()
	errs := make(chan error, len(urls)*8)
	var wg sync.WaitGroup
	for _, u := range urls {
		for k := range 8 { // 8 clients per controller
			wg.Go(func() {
				for i := k; i < perCtl; i += 8 {
					q := u + "/job/" + jobName + "/buildWithParameters?SIM_DURATION_MS=" + strconv.Itoa(bc.buildMs) + "&SEQ=" + strconv.Itoa(i)
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, q, nil)
					if err != nil {
						errs <- err
						return
					}
					req.SetBasicAuth(simUser, simToken)
					res, err := hc.Do(req)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						errs <- fmt.Errorf("POST %s: HTTP %d", q, res.StatusCode)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return simRate{}, err
	}
	deadline := time.Now().Add(time.Minute + 4*time.Duration(baselineRounds*bc.buildMs)*time.Millisecond)
	for {
		ss, err := readSims(ctx, urls)
		if err != nil {
			return simRate{}, err
		}
		var ended int64
		for _, s := range ss {
			ended += s.BuildsFinished
		}
		if ended >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return simRate{}, fmt.Errorf("%d of %d builds ended after %s: %+v", ended, n, time.Since(t0), ss)
		}
		select {
		case <-ctx.Done():
			return simRate{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	secs := time.Since(t0).Seconds()
	return simRate{builds: n, rate: float64(n) / secs, perBuild: secs / baselineRounds}, nil
}

// cpuProfile writes a CPU profile of jenkinds over d to path (jenkinds
// runs with --pprof; the profile is behind the admin token).
func (w *world) cpuProfile(ctx context.Context, d time.Duration, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", w.admin, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("GET /debug/pprof/profile: HTTP %d: %s", res.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// deltaString is how the build counts by state changed, in a stable order.
func deltaString(after, before builds) string {
	var out []string
	for _, s := range []string{"accepted", "placed", "running", "finished", "failed", "cancelled"} {
		if d := after[s] - before[s]; d != 0 {
			out = append(out, fmt.Sprintf("%s %+.0f", s, d))
		}
	}
	return "jenkinds' builds: " + strings.Join(out, ", ")
}
