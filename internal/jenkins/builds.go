package jenkins

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file holds the calls about builds: trigger, read, stop and the
// console (jenkins-api.md §3 and §5), with tree= so answers stay small.

// Param is one build parameter as Jenkins reports it. Values of
// non-string parameters are rendered as text: numbers without exponent
// (strconv 'f', -1), booleans as true/false, null as "".
type Param struct {
	Name, Value string
}

// Build is one build of a job.
type Build struct {
	Number    int64
	QueueID   int64 // the queue item that became this build
	Building  bool  // false once finished (the result may be set earlier)
	Result    string
	Timestamp int64 // ms since the epoch, when the build was created
	// Params and Causes (each cause's shortDescription) are read by the
	// full reads (Build, BuildsPage with full); empty otherwise, never nil.
	Params []Param
	Causes []string
}

// QueueRef is what a trigger learned: the queue item, and the controller's
// session when it answered.
type QueueRef struct {
	ID      int64
	Session string
	// Merged: Jenkins answered 303, folding the request into an identical
	// item already waiting (buildWithParameters since 2.308).
	Merged bool
}

// BuildsPage is a page of a job's builds, newest first, and the job's
// nextBuildNumber.
type BuildsPage struct {
	Next   int64
	Builds []Build
}

// LogChunk is a piece of a build's console read from a byte offset.
type LogChunk struct {
	Text []byte
	Size int64 // the offset to read from next (X-Text-Size)
	More bool  // the build is still writing (X-More-Data)
}

// apiAction is the part of a Jenkins action read: parameters and causes.
type apiAction struct {
	Parameters []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"parameters"`
	Causes []struct {
		ShortDescription string `json:"shortDescription"`
	} `json:"causes"`
}

// apiBuild is a build as api/json writes it.
type apiBuild struct {
	Number    int64       `json:"number"`
	QueueID   int64       `json:"queueId"`
	Building  bool        `json:"building"`
	Result    *string     `json:"result"`
	Timestamp int64       `json:"timestamp"`
	Actions   []apiAction `json:"actions"`
}

func (b apiBuild) build() Build {
	out := Build{Number: b.Number, QueueID: b.QueueID, Building: b.Building, Timestamp: b.Timestamp,
		Params: actionParams(b.Actions), Causes: []string{}}
	if b.Result != nil {
		out.Result = *b.Result
	}
	for _, a := range b.Actions {
		for _, c := range a.Causes {
			out.Causes = append(out.Causes, c.ShortDescription)
		}
	}
	return out
}

func actionParams(actions []apiAction) []Param {
	out := []Param{}
	for _, a := range actions {
		for _, p := range a.Parameters {
			out = append(out, Param{Name: p.Name, Value: valueString(p.Value)})
		}
	}
	return out
}

// valueString renders a parameter value decoded from JSON as text.
func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

const (
	buildFull  = "number,queueId,building,result,timestamp,actions[parameters[name,value],causes[shortDescription]]"
	buildLight = "number,queueId,building,result,timestamp"
)

// buildPath is "job/…/N/".
func buildPath(job string, n int64) string { return JobPath(job) + strconv.FormatInt(n, 10) + "/" }

// Trigger queues a build of job: POST buildWithParameters with params as
// a form for a parameterized job, POST build otherwise, always with
// delay=0sec (jenkinds applies any delay itself). A 2xx without a queue
// item's Location is an ErrUnclearAnswer (Ambiguous: an item may exist),
// returned with the session.
func (c *Client) Trigger(ctx context.Context, job string, params []Param, parameterized bool) (QueueRef, error) {
	p := JobPath(job)
	var body io.Reader = strings.NewReader("")
	contentType := ""
	if parameterized {
		form := url.Values{}
		for _, pa := range params {
			form.Add(pa.Name, pa.Value)
		}
		p += "buildWithParameters?delay=0sec"
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	} else {
		p += "build?delay=0sec"
	}
	r, _, err := c.Do(ctx, http.MethodPost, p, body, contentType)
	if err != nil {
		return QueueRef{Session: SessionOf(r)}, err
	}
	id, err := QueueIDFromLocation(r.Location)
	if err != nil {
		return QueueRef{Session: r.Session}, fmt.Errorf("POST %s: HTTP %d: %w: %w", p, r.Code, ErrUnclearAnswer, err)
	}
	return QueueRef{ID: id, Session: r.Session, Merged: r.Code == http.StatusSeeOther}, nil
}

// Build reads build n of job, parameters and causes included.
func (c *Client) Build(ctx context.Context, job string, n int64) (Build, *Response, error) {
	var b apiBuild
	r, err := c.GetJSON(ctx, withTree(buildPath(job, n), buildFull), &b)
	if err != nil {
		return Build{}, r, err
	}
	return b.build(), r, nil
}

// BuildsPage reads builds [from, to) of job, newest first (the allBuilds
// range of a tree=, jenkins-api.md §8), and the job's nextBuildNumber;
// full adds their parameters and causes.
func (c *Client) BuildsPage(ctx context.Context, job string, from, to int, full bool) (BuildsPage, *Response, error) {
	fields := buildLight
	if full {
		fields = buildFull
	}
	var j struct {
		Next   int64      `json:"nextBuildNumber"`
		Builds []apiBuild `json:"allBuilds"`
	}
	tree := fmt.Sprintf("nextBuildNumber,allBuilds[%s]{%d,%d}", fields, from, to)
	r, err := c.GetJSON(ctx, withTree(JobPath(job), tree), &j)
	if err != nil {
		return BuildsPage{}, r, err
	}
	page := BuildsPage{Next: j.Next, Builds: make([]Build, len(j.Builds))}
	for i, b := range j.Builds {
		page.Builds[i] = b.build()
	}
	return page, r, nil
}

// Stop aborts build n of job (Jenkins answers 302, and leaves a finished
// build alone).
func (c *Client) Stop(ctx context.Context, job string, n int64) error {
	_, err := c.post(ctx, buildPath(job, n)+"stop")
	return err
}

// ProgressiveLog reads build n's console from byte start
// (logText/progressiveText, jenkins-api.md §5.2). Size is the offset to
// read from next; when Jenkins does not say, start plus what was read.
func (c *Client) ProgressiveLog(ctx context.Context, job string, n, start int64) (LogChunk, *Response, error) {
	p := buildPath(job, n) + "logText/progressiveText?start=" + strconv.FormatInt(start, 10)
	r, body, err := c.Do(ctx, http.MethodGet, p, nil, "")
	if err != nil {
		return LogChunk{}, r, err
	}
	size, perr := strconv.ParseInt(r.Header.Get("X-Text-Size"), 10, 64)
	if perr != nil {
		size = start + int64(len(body))
	}
	return LogChunk{Text: body, Size: size, More: r.Header.Get("X-More-Data") == "true"}, r, nil
}

// HasFinishedFooter reports whether build n's console ends with Jenkins'
// "Finished: RESULT" line, which a build lost in a restart lacks. It reads
// only the tail of the console.
func (c *Client) HasFinishedFooter(ctx context.Context, job string, n int64) (bool, error) {
	chunk, _, err := c.ProgressiveLog(ctx, job, n, 1<<40)
	if err != nil {
		return false, err
	}
	if int64(len(chunk.Text)) != chunk.Size { // nothing past the end: read the tail
		if chunk, _, err = c.ProgressiveLog(ctx, job, n, max(0, chunk.Size-256)); err != nil {
			return false, err
		}
	}
	s := strings.TrimRight(string(chunk.Text), "\r\n")
	i := strings.LastIndexByte(s, '\n')
	return strings.HasPrefix(s[i+1:], "Finished: "), nil
}
