package worker

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	item, err := x.trigger(ctx, jobPath, job.Spec.Environment)
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
	buildPath := jobPath + strconv.Itoa(number) + "/"
	fmt.Fprintf(log, "jenkins: build %s%s\n", x.Client.BaseURL(), buildPath)

	if err := x.follow(ctx, buildPath, log); err != nil {
		if ctx.Err() != nil {
			x.stopBuild(buildPath)
			return Outcome{Result: "ABORTED", ExitCode: -1}, nil
		}
		return Outcome{}, err
	}
	var b struct {
		Result   *string `json:"result"`
		Building bool    `json:"building"`
	}
	if _, err := x.Client.GetJSON(ctx, buildPath+"api/json?tree=result,building", &b); err != nil {
		return Outcome{}, fmt.Errorf("read the result of %s: %w", buildPath, err)
	}
	result := "FAILURE"
	if b.Result != nil && *b.Result != "" {
		result = *b.Result
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

// trigger starts the job, without a quiet period, and returns its queue
// item's id. A job the controller does not have is ErrPermanent.
func (x *Jenkins) trigger(ctx context.Context, jobPath string, params map[string]string) (int64, error) {
	call := "build"
	form := url.Values{"delay": {"0sec"}}
	if len(params) > 0 {
		call = "buildWithParameters"
		for _, k := range slices.Sorted(maps.Keys(params)) {
			form.Set(k, params[k])
		}
	}
	res, _, err := x.Client.Do(ctx, http.MethodPost, jobPath+call, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	switch {
	case jenkins.IsNotFound(err):
		return 0, fmt.Errorf("trigger %s: the controller has no such job: %w", jobPath, ErrPermanent)
	case err != nil:
		return 0, fmt.Errorf("trigger %s: %w", jobPath, err)
	}
	// Location: …/queue/item/N/
	parts := strings.Split(strings.TrimSuffix(res.Location, "/"), "/")
	id, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if len(parts) < 2 || parts[len(parts)-2] != "item" || err != nil {
		return 0, fmt.Errorf("trigger %s: the answer's Location %q is not a queue item", jobPath, res.Location)
	}
	return id, nil
}

// waitForBuild follows queue item id until it becomes a build, and
// returns the build's number; 0 when the item was cancelled.
func (x *Jenkins) waitForBuild(ctx context.Context, id int64) (int, error) {
	t := time.NewTicker(x.poll())
	defer t.Stop()
	for {
		var item struct {
			Cancelled  bool `json:"cancelled"`
			Executable *struct {
				Number int `json:"number"`
			} `json:"executable"`
		}
		_, err := x.Client.GetJSON(ctx, fmt.Sprintf("queue/item/%d/api/json", id), &item)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case err != nil && !jenkins.IsUnavailable(err):
			return 0, fmt.Errorf("follow queue item %d: %w", id, err)
		case err == nil && item.Executable != nil && item.Executable.Number > 0:
			return item.Executable.Number, nil
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

// follow copies the build's console to log until the build ends.
func (x *Jenkins) follow(ctx context.Context, buildPath string, log io.Writer) error {
	t := time.NewTicker(x.poll())
	defer t.Stop()
	start := 0
	for {
		res, text, err := x.Client.Do(ctx, http.MethodGet, buildPath+"logText/progressiveText?start="+strconv.Itoa(start), nil, "")
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !jenkins.IsUnavailable(err):
			return fmt.Errorf("read the console of %s: %w", buildPath, err)
		case err == nil:
			log.Write(text)
			if n, err := strconv.Atoi(res.Header.Get("X-Text-Size")); err == nil {
				start = n
			} else {
				start += len(text)
			}
			if res.Header.Get("X-More-Data") != "true" {
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
	x.Client.Do(ctx, http.MethodPost, fmt.Sprintf("queue/cancelItem?id=%d", id), nil, "")
}

func (x *Jenkins) stopBuild(buildPath string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x.Client.Do(ctx, http.MethodPost, buildPath+"stop", nil, "")
}
