package worker

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// AnnotationJenkinsJob names the Jenkins job a build runs as, on the
// cluster's controller; without it the job is the build's job name.
const AnnotationJenkinsJob = "jenkinds.io/jenkinsJob"

// Jenkins runs a job as a build of a Jenkins controller inside the
// cluster: it triggers the Jenkins job (with the build's environment as
// its parameters, when it has any), follows the queue item to its build,
// streams the build's console into the job's log, and reports the build's
// result. When the job is stopped it cancels the queue item or stops the
// build.
type Jenkins struct {
	Client *jenkins.Client
	// Poll is how often the queue item and the console are read. Default: 1s.
	Poll time.Duration
}

var _ Executor = (*Jenkins)(nil)

// Run triggers and follows one build.
func (x *Jenkins) Run(ctx context.Context, job Job, log io.Writer) (Outcome, error) {
	name := job.Spec.Annotations[AnnotationJenkinsJob]
	if name == "" {
		name = job.Spec.Job
	}
	jobPath := jenkins.JobPath(name)
	item, err := x.trigger(ctx, name, job.Spec.Environment)
	if err != nil {
		return Outcome{}, err
	}
	fmt.Fprintf(log, "jenkins: triggered %s%s, queue item %d\n", x.Client.BaseURL(), jobPath, item)

	number, err := x.waitForBuild(ctx, item)
	switch {
	case ctx.Err() != nil:
		x.cancelItem(item)
		return Outcome{Result: "ABORTED", ExitCode: -1}, nil
	case err != nil:
		return Outcome{}, err
	case number == 0:
		fmt.Fprintf(log, "jenkins: queue item %d was cancelled on the controller\n", item)
		return Outcome{Result: "ABORTED", ExitCode: 1}, nil
	}
	buildPath := jobPath + strconv.FormatInt(number, 10) + "/"
	fmt.Fprintf(log, "jenkins: build %s%s\n", x.Client.BaseURL(), buildPath)

	if err := x.follow(ctx, name, number, log); err != nil {
		if ctx.Err() != nil {
			x.stopBuild(name, number)
			return Outcome{Result: "ABORTED", ExitCode: -1}, nil
		}
		return Outcome{}, err
	}
	b, _, err := x.Client.Build(ctx, name, number)
	if err != nil {
		return Outcome{}, fmt.Errorf("read the result of %s: %w", buildPath, err)
	}
	result := "FAILURE"
	if b.Result != "" {
		result = b.Result
	}
	code := 1
	if result == "SUCCESS" {
		code = 0
	}
	return Outcome{Result: result, ExitCode: code}, nil
}

func (x *Jenkins) poll() time.Duration {
	if x.Poll <= 0 {
		return time.Second
	}
	return x.Poll
}

// trigger starts the job, without a quiet period, with params as its
// parameters when there are any, and returns its queue item's id. A job
// the controller does not have is ErrPermanent.
func (x *Jenkins) trigger(ctx context.Context, name string, params map[string]string) (int64, error) {
	var ps []jenkins.Param
	for _, k := range slices.Sorted(maps.Keys(params)) {
		ps = append(ps, jenkins.Param{Name: k, Value: params[k]})
	}
	ref, err := x.Client.Trigger(ctx, name, ps, len(ps) > 0)
	switch {
	case jenkins.IsNotFound(err):
		return 0, fmt.Errorf("trigger %s: the controller has no such job: %w", name, ErrPermanent)
	case err != nil:
		return 0, fmt.Errorf("trigger %s: %w", name, err)
	}
	return ref.ID, nil
}

// waitForBuild follows queue item id until it becomes a build, and
// returns the build's number; 0 when the item was cancelled. It keeps
// polling while the controller is unavailable.
func (x *Jenkins) waitForBuild(ctx context.Context, id int64) (int64, error) {
	t := time.NewTicker(x.poll())
	defer t.Stop()
	for {
		item, _, err := x.Client.QueueItem(ctx, id)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case err != nil && !jenkins.IsUnavailable(err):
			return 0, fmt.Errorf("follow queue item %d: %w", id, err)
		case err == nil && item.Executable > 0:
			return item.Executable, nil
		case err == nil && item.Cancelled:
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// follow copies the build's console to log until the build ends. It keeps
// polling while the controller is unavailable.
func (x *Jenkins) follow(ctx context.Context, name string, number int64, log io.Writer) error {
	t := time.NewTicker(x.poll())
	defer t.Stop()
	var start int64
	for {
		chunk, _, err := x.Client.ProgressiveLog(ctx, name, number, start)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !jenkins.IsUnavailable(err):
			return fmt.Errorf("read the console of %s #%d: %w", name, number, err)
		case err == nil:
			log.Write(chunk.Text)
			start = chunk.Size
			if !chunk.More {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// cancelItem and stopBuild run after the job's context ended, on their
// own short context: best effort, the controller may be gone.
func (x *Jenkins) cancelItem(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = x.Client.CancelItem(ctx, id)
}

func (x *Jenkins) stopBuild(name string, number int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = x.Client.Stop(ctx, name, number)
}
