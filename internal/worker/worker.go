package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// ErrPermanent marks an executor error that another attempt cannot fix (a
// job the controller does not have): the job is failed for good instead of
// being put back in the queue.
var ErrPermanent = errors.New("permanent")

// Job is one claimed job, as an executor runs it.
type Job struct {
	ID      int64
	Attempt int
	Spec    api.BuildSpec
}

// Outcome is how a job that ran ended.
type Outcome struct {
	Result   string // SUCCESS, FAILURE, ABORTED, UNSTABLE…
	ExitCode int
}

// Executor runs a job. It writes the job's output to log, returns its
// outcome when it ran (whatever the result), and an error when it could
// not run it (wrap ErrPermanent when retrying cannot help). When ctx ends
// it stops the job and returns.
type Executor interface {
	Run(ctx context.Context, job Job, log io.Writer) (Outcome, error)
}

// Config is the configuration of a worker (jenkins worker).
type Config struct {
	// Parallel is how many jobs the worker runs at once. Default: 1.
	Parallel int
	// Wait is how long one claim long-polls the server. Default: 30s.
	Wait time.Duration
	// DrainTimeout is how long a job may go on after the worker is told to
	// stop (SIGTERM); then it is stopped and released to the queue for
	// another worker. Default: 30s.
	DrainTimeout time.Duration
	// LogInterval is how often output is uploaded. Default: 1s.
	LogInterval time.Duration
	// RetryBackoff is the first pause after a failed claim; it doubles up
	// to 30s. Default: 1s.
	RetryBackoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.Parallel <= 0 {
		c.Parallel = 1
	}
	if c.Wait <= 0 {
		c.Wait = 30 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.LogInterval <= 0 {
		c.LogInterval = time.Second
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Second
	}
	return c
}

// Worker claims its cluster's jobs and runs them (doc.go has the loop).
type Worker struct {
	cfg    Config
	client *Client
	exec   Executor
	log    *slog.Logger
}

// New returns a worker that claims with client and runs with exec.
func New(cfg Config, client *Client, exec Executor, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg.withDefaults(), client: client, exec: exec, log: log}
}

// Run claims and runs jobs until ctx ends; then it claims no more, lets the
// running jobs finish for DrainTimeout, releases those that did not, and
// returns nil. It returns an error when the server refuses the worker's
// first token (a wrong key, kid or cluster is a setup mistake better seen
// at start than in a log).
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range w.cfg.Parallel {
		wg.Go(func() {
			if err := w.loop(ctx); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// loop is one slot: claim, run, report, until ctx ends. It returns an
// error only when the server refuses the slot's first token.
func (w *Worker) loop(ctx context.Context) error {
	backoff := w.cfg.RetryBackoff
	firstClaim := true
	for ctx.Err() == nil {
		// A server that stops answering must not hold the slot forever:
		// the claim gets its wait plus time to answer.
		claimCtx, cancel := context.WithTimeout(ctx, w.cfg.Wait+30*time.Second)
		claim, err := w.client.Claim(claimCtx, w.cfg.Wait)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && firstClaim && IsRefused(err):
			return fmt.Errorf("the server refused the worker's token: %w", err)
		case err != nil:
			w.log.Error("claim a job", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		firstClaim = false
		backoff = w.cfg.RetryBackoff
		if claim != nil {
			w.run(ctx, claim)
		}
	}
	return nil
}

// run runs one claimed job to its report. ctx is the worker's: when it
// ends the job gets DrainTimeout to finish.
func (w *Worker) run(ctx context.Context, c *workerapi.Claim) {
	id, token := c.Job.ID, c.LeaseToken
	log := w.log.With("job", id, "attempt", c.Job.Attempt)
	var spec api.BuildSpec
	if err := json.Unmarshal(c.Job.Payload, &spec); err != nil {
		w.report(log, "fail", func(ctx context.Context) error {
			_, err := w.client.Fail(ctx, id, token, "the job's payload is not a build spec: "+err.Error(), false)
			return err
		})
		return
	}
	log = log.With("pipeline", spec.Pipeline, "job_name", spec.Job)
	log.Info("job started")

	// The job runs on its own context: the worker stopping gives it
	// DrainTimeout, a lost lease stops it at once.
	jobCtx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	errLost := errors.New("lease lost")
	errDrained := errors.New("worker stopping")
	lost := func(err error) {
		log.Warn("lease lost: stopping the job", "err", err)
		stop(errLost)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-jobCtx.Done():
			return
		}
		t := time.NewTimer(w.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			stop(errDrained)
		case <-jobCtx.Done():
		}
	}()

	ttl := time.Duration(c.LeaseTTLSeconds * float64(time.Second))
	if ttl <= 0 {
		ttl = time.Minute // the server's default
	}
	extended := make(chan struct{})
	go func() {
		defer close(extended)
		w.extend(jobCtx, log, id, token, ttl, lost)
	}()
	logs := newLogStream(func(ctx context.Context, offset int64, data string) error {
		_, err := w.client.AppendLog(ctx, id, token, offset, data)
		return err
	}, w.cfg.LogInterval, lost)

	out, runErr := w.exec.Run(jobCtx, Job{ID: id, Attempt: c.Job.Attempt, Spec: spec}, logs)
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	logs.Close(flushCtx)
	cancel()
	cause := context.Cause(jobCtx)
	stop(nil)
	<-extended

	switch {
	case errors.Is(cause, errLost):
		// Someone else has the job (or it was cancelled): report nothing.
	case errors.Is(cause, errDrained):
		log.Warn("worker stopping: job released to the queue")
		w.report(log, "release", func(ctx context.Context) error {
			_, err := w.client.Fail(ctx, id, token, fmt.Sprintf("worker %s stopped before the job finished; released for another worker", w.client.worker), true)
			return err
		})
	case runErr != nil:
		log.Error("job could not run", "err", runErr)
		w.report(log, "fail", func(ctx context.Context) error {
			_, err := w.client.Fail(ctx, id, token, runErr.Error(), !errors.Is(runErr, ErrPermanent))
			return err
		})
	default:
		log.Info("job finished", "result", out.Result, "exit_code", out.ExitCode)
		w.report(log, "complete", func(ctx context.Context) error {
			_, err := w.client.Complete(ctx, id, token, out.Result, out.ExitCode)
			return err
		})
	}
}

// extend renews the lease every ttl/3 until ctx ends. A lost lease calls
// lost; other errors are retried at the next tick (the lease outlives
// two missed renewals).
func (w *Worker) extend(ctx context.Context, log *slog.Logger, id int64, token string, ttl time.Duration, lost func(error)) {
	every := max(ttl/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, every)
		_, err := w.client.Extend(callCtx, id, token)
		cancel()
		switch {
		case err == nil, ctx.Err() != nil:
		case IsLeaseLost(err):
			lost(err)
			return
		default:
			log.Warn("extend lease", "err", err)
		}
	}
}

// report sends a job's final call, retrying while the server cannot be
// reached: Complete and Fail are safe to repeat with the same token. It
// gives up after about a minute; the lease then expires and the job is
// delivered again.
func (w *Worker) report(log *slog.Logger, what string, call func(ctx context.Context) error) {
	backoff := 200 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := call(ctx)
		cancel()
		switch {
		case err == nil:
			return
		case IsLeaseLost(err):
			log.Warn(what+": the lease was lost meanwhile; the job's result is not recorded", "err", err)
			return
		case !Temporary(err) || time.Now().After(deadline):
			log.Error(what, "err", err)
			return
		}
		log.Warn(what+": retrying", "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}
