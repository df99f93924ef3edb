package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// defaultDBRestart is the command that restarts this machine's PostgreSQL
// cluster: pg_ctlcluster on the one version under /etc/postgresql (the
// Debian layout), or "" when there is not exactly one.
func defaultDBRestart() string {
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) != 1 {
		return ""
	}
	return "pg_ctlcluster --skip-systemctl-redirect " + entries[0].Name() + " main restart"
}

// dbRestart: cfg.conns clients trigger zero-duration builds for
// cfg.duration; a third of the way in, PostgreSQL is restarted with the
// -db-restart command, which closes every connection jenkinds holds and
// refuses new ones until the server is back. Every trigger must still be
// answered 201, every accepted build must end finished, and the
// controllers must start each build exactly once.
func (r *report) dbRestart(ctx context.Context, w *world, l *loader) error {
	cfg := w.cfg
	before, s0, c0, err := w.snapshot(ctx)
	if err != nil {
		return err
	}
	type outcome struct {
		at, took time.Duration
		out      []byte
		err      error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		select {
		case <-time.After(cfg.duration / 3):
		case <-ctx.Done():
			done <- outcome{err: ctx.Err()}
			return
		}
		t := time.Now()
		out, err := exec.CommandContext(ctx, "sh", "-c", cfg.dbRestart).CombinedOutput()
		done <- outcome{at: t.Sub(start), took: time.Since(t), out: out, err: err}
	}()
	b := l.run(ctx, cfg.conns, 0, cfg.duration, 0)
	o := <-done
	if o.err != nil {
		return fmt.Errorf("restart PostgreSQL with %q: %w: %s", cfg.dbRestart, o.err, o.out)
	}
	after, err := w.waitBuilds(ctx, cfg.drainTimeout, "the accepted builds to end", func(n builds) bool {
		return n.unfinished() == 0 && n.terminal()-before.terminal() >= float64(b.accepted)
	})
	if err != nil {
		return err
	}
	c1 := w.cpu()
	s1, err := w.simStates(ctx)
	if err != nil {
		return err
	}
	var started int64
	for i := range s1 {
		started += s1[i].BuildsStarted - s0[i].BuildsStarted
	}
	d := delta(after, before)
	r.dbFailed, r.dbAccepted, r.dbStarted, r.dbUnfinished, r.hasDBRestart = b.failures(), b.accepted, started, b.accepted-int(d["finished"]), true
	r.printf("\n== dbrestart: %d clients POST buildWithParameters for %s; PostgreSQL restarted %.1fs in (%q took %.2fs)\n",
		cfg.conns, cfg.duration, o.at.Seconds(), cfg.dbRestart, o.took.Seconds())
	r.printf("  %d builds accepted (201), %d triggers failed (target 0: %s); latency p50 %s p99 %s max %s\n",
		b.accepted, b.failures(), met(b.failures() == 0), ms(b.lat.quantile(.5)), ms(b.lat.quantile(.99)), ms(b.lat.quantile(1)))
	r.failures(b)
	r.printf("  %v; the controllers started %d builds for %d accepted (target: each once, all finished: %s)\n",
		d, started, b.accepted, met(r.dbRestartKept()))
	r.printf("  CPU: %s\n", c1.sub(c0).split(c1.at.Sub(c0.at)))
	return nil
}

// dbRestartKept: every accepted build finished, and ran exactly once.
func (r *report) dbRestartKept() bool {
	return r.dbUnfinished == 0 && r.dbStarted == int64(r.dbAccepted)
}
