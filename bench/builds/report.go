package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Targets from the issue, for a 2-core machine.
const (
	targetAccepted  = 5000 // builds accepted per second
	targetCompleted = 1000 // builds completed per second, end to end
	targetFollow    = 1.0  // requests per controller per second per 100 builds in flight
)

// report runs the phases and prints what they measured.
type report struct {
	out                            io.Writer
	accepted, completed, perBuilds float64
	hasAccept, hasComp, hasFollow  bool
	// backlog: drain rate, its ratio to the simulators alone, the
	// leader's cores during the drain
	backlogRate, backlogRatio, backlogLeader float64
	hasBacklog                               bool
	// dbrestart: failed triggers, accepted builds, builds the controllers
	// started, accepted builds that did not finish
	dbFailed, dbAccepted, dbUnfinished int
	dbStarted                          int64
	hasDBRestart                       bool
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func (r *report) failures(b burst) {
	if n := b.failures(); n > 0 {
		r.printf("  %d triggers failed: %v\n", n, b.failed)
	}
}

// accept: closed-loop triggers for cfg.duration, then waits for every
// accepted build to end.
func (r *report) accept(ctx context.Context, w *world, l *loader) error {
	cfg := w.cfg
	before, err := w.builds(ctx)
	if err != nil {
		return err
	}
	c0 := w.cpu()
	b := l.run(ctx, cfg.conns, 0, cfg.duration, 0)
	c1 := w.cpu()
	rate := float64(b.accepted) / b.elapsed.Seconds()
	r.accepted, r.hasAccept = rate, true
	r.printf("\n== accept: %d clients POST buildWithParameters (SIM_DURATION_MS=0, distinct SEQ) for %s\n", cfg.conns, cfg.duration)
	r.printf("  %d builds accepted (201) in %.1fs: %.0f accepted/s (target ≥ %d: %s); latency p50 %s p99 %s\n",
		b.accepted, b.elapsed.Seconds(), rate, targetAccepted, met(rate >= targetAccepted), ms(b.lat.quantile(.5)), ms(b.lat.quantile(.99)))
	r.failures(b)
	r.printf("  CPU while accepting: %s\n", c1.sub(c0).split(c1.at.Sub(c0.at)))
	after, err := w.waitBuilds(ctx, cfg.drainTimeout, "the accepted builds to end", func(n builds) bool {
		return n.unfinished() == 0 && n.terminal()-before.terminal() >= float64(b.accepted)
	})
	if err != nil {
		return err
	}
	c2 := w.cpu()
	end := time.Since(b.first)
	r.printf("  all of them ended %.1fs after the first trigger (%.0f builds/s end to end, backlog included); %v\n",
		end.Seconds(), float64(b.accepted)/end.Seconds(), delta(after, before))
	r.printf("  CPU from the first trigger to the last build's end: %s\n", c2.sub(c0).split(c2.at.Sub(c0.at)))
	return nil
}

// complete: a burst of cfg.burst zero-duration builds, from the first
// trigger to the last one finished.
func (r *report) complete(ctx context.Context, w *world, l *loader) error {
	cfg := w.cfg
	before, s0, c0, err := w.snapshot(ctx)
	if err != nil {
		return err
	}
	b := l.run(ctx, cfg.conns, cfg.burst, 0, 0)
	after, err := w.waitBuilds(ctx, cfg.drainTimeout, "the burst to end", func(n builds) bool {
		return n.unfinished() == 0 && n.terminal()-before.terminal() >= float64(b.accepted)
	})
	if err != nil {
		return err
	}
	end := time.Since(b.first)
	c1 := w.cpu()
	s1, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	var reqs, started int64
	for i := range s1 {
		reqs += s1[i].Requests - s0[i].Requests - 1 // this benchmark's own GET /__sim/state
		started += s1[i].BuildsStarted - s0[i].BuildsStarted
	}
	rate := float64(b.accepted) / end.Seconds()
	r.completed, r.hasComp = rate, true
	r.printf("\n== complete: a burst of %d zero-duration builds, %d clients\n", cfg.burst, cfg.conns)
	r.printf("  %d accepted in %.1fs; the last ended %.1fs after the first trigger: %.0f completed/s end to end (target ≥ %d: %s)\n",
		b.accepted, b.elapsed.Seconds(), end.Seconds(), rate, targetCompleted, met(rate >= targetCompleted))
	r.failures(b)
	r.printf("  %v; the controllers started %d builds and got %d requests from jenkinds (%.2f per build)\n",
		delta(after, before), started, reqs, float64(reqs)/float64(max(b.accepted, 1)))
	r.printf("  CPU: %s\n", c1.sub(c0).split(c1.at.Sub(c0.at)))
	return nil
}

// follow: cfg.inflight long builds; once every one runs, and after
// cfg.settle, the controllers count jenkinds' requests for cfg.duration.
func (r *report) follow(ctx context.Context, w *world, l *loader) error {
	cfg := w.cfg
	base, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	running0 := 0
	for _, s := range base {
		running0 += s.Running
	}
	t0 := time.Now()
	b := l.run(ctx, cfg.conns, cfg.inflight, 0, int(cfg.longBuild.Milliseconds()))
	r.printf("\n== follow: %d builds of %s in flight on %d controllers\n", cfg.inflight, cfg.longBuild, cfg.controllers)
	r.printf("  %d accepted in %.1fs (%.0f/s)\n", b.accepted, b.elapsed.Seconds(), float64(b.accepted)/b.elapsed.Seconds())
	r.failures(b)
	want := running0 + b.accepted
	deadline, next := time.Now().Add(cfg.drainTimeout), time.Now().Add(cfg.progress)
	for {
		s, err := w.simStates(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, x := range s {
			n += x.Running
		}
		if n >= want {
			break
		}
		if time.Now().After(next) {
			next = next.Add(cfg.progress)
			fmt.Fprintf(w.stderr, "  %5.0fs waiting for every build to run: %d of %d running on the controllers\n", time.Since(t0).Seconds(), n, want)
		}
		if time.Now().After(deadline) {
			jb, _ := w.builds(ctx)
			return fmt.Errorf("%d of %d builds running on the controllers after %s; controllers: %+v; jenkinds' builds by state: %v",
				n, want, cfg.drainTimeout, s, jb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := w.waitBuilds(ctx, cfg.drainTimeout, "jenkinds to see every build run", func(n builds) bool {
		return n["running"] >= float64(b.accepted) && n["accepted"]+n["placed"] == 0
	}); err != nil {
		return err
	}
	r.printf("  all running %.1fs after the first trigger; measuring after %s more, for %s\n", time.Since(t0).Seconds(), cfg.settle, cfg.duration)
	time.Sleep(cfg.settle)
	s0, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	c0 := w.cpu()
	time.Sleep(cfg.duration)
	s1, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	c1 := w.cpu()
	secs := c1.at.Sub(c0.at).Seconds()
	worst, sum := 0.0, 0.0
	for i := range s1 {
		reqs := float64(s1[i].Requests-s0[i].Requests-1) / secs
		per100 := reqs / (float64(max(s1[i].Running, 1)) / 100)
		sum += per100
		worst = max(worst, per100)
		r.printf("  c%d: %5d builds running, %6.2f requests/s from jenkinds: %.3f per 100 builds\n", i+1, s1[i].Running, reqs, per100)
	}
	mean := sum / float64(len(s1))
	r.perBuilds, r.hasFollow = worst, true
	r.printf("  requests per controller per second per 100 builds: mean %.3f, worst %.3f (target < %.0f: %s)\n",
		mean, worst, targetFollow, met(worst < targetFollow))
	r.printf("  CPU while following: %s\n", c1.sub(c0).split(c1.at.Sub(c0.at)))
	return nil
}

func (r *report) summary() {
	r.printf("\n== summary (targets for this 2-core machine)\n")
	if r.hasAccept {
		r.printf("  accepted/s              %8.0f   target ≥ %d   %s\n", r.accepted, targetAccepted, met(r.accepted >= targetAccepted))
	}
	if r.hasComp {
		r.printf("  completed/s end to end  %8.0f   target ≥ %d   %s\n", r.completed, targetCompleted, met(r.completed >= targetCompleted))
	}
	if r.hasFollow {
		r.printf("  follow req/ctl/s/100    %8.3f   target < %.0f      %s\n", r.perBuilds, targetFollow, met(r.perBuilds < targetFollow))
	}
	if r.hasDBRestart {
		r.printf("  PostgreSQL restart: %d failed triggers (target 0: %s); %d accepted, %d started, %d not finished (target: %d, 0: %s)\n",
			r.dbFailed, met(r.dbFailed == 0), r.dbAccepted, r.dbStarted, r.dbUnfinished, r.dbAccepted, met(r.dbRestartKept()))
	}
	if r.hasBacklog {
		r.printf("  backlog drain/s         %8.1f   (%.2f of the executors' rate, aim ≥ %.1f: %s)\n", r.backlogRate, r.backlogRatio, aimDrainRatio, met(r.backlogRatio >= aimDrainRatio))
		r.printf("  backlog leader cores    %8.2f   aim < %.1f    %s\n", r.backlogLeader, aimLeaderCores, met(r.backlogLeader < aimLeaderCores))
	}
}

// delta is how the build counts by state changed.
func delta(after, before builds) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
