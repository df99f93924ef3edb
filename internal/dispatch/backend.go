package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// This file holds every call jenkinds makes to a controller for builds,
// with the API token (no crumbs) and tree= so answers stay small
// (../shared/research/jenkins-api.md §3–§5).

// backend is one controller as the dispatcher talks to it.
type backend struct {
	id      int64
	client  *jenkins.Client
	timeout time.Duration // bounds each request
}

func (b *backend) getJSON(ctx context.Context, path string, v any) (*jenkins.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.client.GetJSON(ctx, path, v)
}

func (b *backend) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*jenkins.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.client.Do(ctx, method, path, body, contentType)
}

// apiAction is the part of a Jenkins action we read: parameters and causes.
type apiAction struct {
	Parameters []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"parameters"`
	Causes []struct {
		ShortDescription string `json:"shortDescription"`
	} `json:"causes"`
}

// apiBuild is one build of a job.
type apiBuild struct {
	Number    int64       `json:"number"`
	QueueID   int64       `json:"queueId"`
	Building  bool        `json:"building"`
	Result    *string     `json:"result"`
	Timestamp int64       `json:"timestamp"`
	Actions   []apiAction `json:"actions"`
}

func (b apiBuild) params() []Param { return actionParams(b.Actions) }

func (b apiBuild) causeDescription() string {
	var parts []string
	for _, a := range b.Actions {
		for _, c := range a.Causes {
			parts = append(parts, c.ShortDescription)
		}
	}
	return strings.Join(parts, "; ")
}

func (b apiBuild) result() string {
	if b.Result == nil {
		return ""
	}
	return *b.Result
}

func actionParams(actions []apiAction) []Param {
	out := []Param{}
	for _, a := range actions {
		for _, p := range a.Parameters {
			out = append(out, Param{Name: p.Name, Value: paramString(p.Value)})
		}
	}
	return out
}

func paramString(v any) string {
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

// apiQueueItem is an item of /queue/api/json or /queue/item/N/api/json.
type apiQueueItem struct {
	ID   int64 `json:"id"`
	Task *struct {
		URL string `json:"url"`
	} `json:"task"`
	Actions    []apiAction `json:"actions"`
	Cancelled  bool        `json:"cancelled"`
	Executable *struct {
		Number int64 `json:"number"`
	} `json:"executable"`
}

// job returns the full name of the item's job, from its task URL.
func (q apiQueueItem) job() string {
	if q.Task == nil {
		return ""
	}
	return jobFromURL(q.Task.URL)
}

// jobFromURL turns …/job/a/job/b%20c/ into "a/b c".
func jobFromURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	var names []string
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "job" {
			name, err := url.PathUnescape(segs[i+1])
			if err != nil {
				return ""
			}
			names = append(names, name)
			i++
		}
	}
	return strings.Join(names, "/")
}

// paramsCover reports whether every parameter jenkinds sent has that
// value in got (the controller adds defaults for the ones not sent).
func paramsCover(got, sent []Param) bool {
	for _, s := range sent {
		found := false
		for _, g := range got {
			if g.Name == s.Name {
				found = g.Value == s.Value
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

const (
	queueTreeLight = "items[id]"
	queueTreeFull  = "items[id,task[url],actions[parameters[name,value]]]"
	buildFields    = "number,queueId,building,result,timestamp,actions[parameters[name,value],causes[shortDescription]]"
	buildLight     = "number,queueId,building,result,timestamp"
)

func withTree(p, tree string) string { return p + "api/json?tree=" + url.QueryEscape(tree) }

// trigger queues a build of job: buildWithParameters for a parameterized
// job, build otherwise, always with delay=0sec (jenkinds applies the delay
// itself). It returns the queue item id from Location, the session, and
// whether Jenkins merged the request into an identical waiting item (303).
func (b *backend) trigger(ctx context.Context, job string, params []Param, parameterized bool) (queueID int64, session string, merged bool, err error) {
	p := jenkins.JobPath(job)
	var body io.Reader
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
		body = strings.NewReader("")
	}
	r, _, err := b.do(ctx, http.MethodPost, p, body, contentType)
	if err != nil {
		return 0, "", false, err
	}
	id, err := queueIDFromLocation(r.Location)
	if err != nil {
		// Jenkins said yes without saying to what: the item may exist, so
		// the outcome is ambiguous (not a StatusError).
		return 0, r.Session, false, fmt.Errorf("POST %s: HTTP %d: %w", p, r.Code, err)
	}
	return id, r.Session, r.Code == http.StatusSeeOther, nil
}

// queueIDFromLocation reads N from …/queue/item/N/.
func queueIDFromLocation(loc string) (int64, error) {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return 0, fmt.Errorf("no queue item in Location %q", loc)
	}
	dir, last := path.Split(strings.TrimSuffix(u.Path, "/"))
	if !strings.HasSuffix(dir, "/queue/item/") {
		return 0, fmt.Errorf("no queue item in Location %q", loc)
	}
	id, err := strconv.ParseInt(last, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("no queue item in Location %q", loc)
	}
	return id, nil
}

// queue reads the controller's queue; full adds each item's job and
// parameters (needed to recognise items by content rather than id).
func (b *backend) queue(ctx context.Context, full bool) ([]apiQueueItem, string, error) {
	tree := queueTreeLight
	if full {
		tree = queueTreeFull
	}
	var q struct {
		Items []apiQueueItem `json:"items"`
	}
	r, err := b.getJSON(ctx, withTree("queue/", tree), &q)
	return q.Items, session(r), err
}

// builds reads builds [from, to) of job, newest first, and its
// nextBuildNumber; full adds their parameters and causes.
func (b *backend) builds(ctx context.Context, job string, from, to int, full bool) ([]apiBuild, int64, string, error) {
	fields := buildLight
	if full {
		fields = buildFields
	}
	var j struct {
		Next   int64      `json:"nextBuildNumber"`
		Builds []apiBuild `json:"allBuilds"`
	}
	tree := fmt.Sprintf("nextBuildNumber,allBuilds[%s]{%d,%d}", fields, from, to)
	r, err := b.getJSON(ctx, withTree(jenkins.JobPath(job), tree), &j)
	return j.Builds, j.Next, session(r), err
}

// runningTree lists what every executor of every computer runs
// (oneOffExecutors carry Pipeline builds).
const runningTree = "computer[executors[currentExecutable[number,queueId,url]],oneOffExecutors[currentExecutable[number,queueId,url]]]"

// running reads every build running on the controller, by job and number,
// in one request whatever the number of jobs.
func (b *backend) running(ctx context.Context) (map[string]map[int64]apiBuild, string, error) {
	type executor struct {
		Current *struct {
			Number  int64  `json:"number"`
			QueueID int64  `json:"queueId"`
			URL     string `json:"url"`
		} `json:"currentExecutable"`
	}
	var set struct {
		Computer []struct {
			Executors []executor `json:"executors"`
			OneOff    []executor `json:"oneOffExecutors"`
		} `json:"computer"`
	}
	r, err := b.getJSON(ctx, withTree("computer/", runningTree), &set)
	if err != nil {
		return nil, session(r), err
	}
	out := map[string]map[int64]apiBuild{}
	for _, c := range set.Computer {
		for _, e := range append(c.Executors, c.OneOff...) {
			if e.Current == nil || e.Current.Number == 0 {
				continue
			}
			job := jobFromURL(e.Current.URL)
			if out[job] == nil {
				out[job] = map[int64]apiBuild{}
			}
			out[job][e.Current.Number] = apiBuild{Number: e.Current.Number, QueueID: e.Current.QueueID, Building: true}
		}
	}
	return out, session(r), nil
}

// build reads one build.
func (b *backend) build(ctx context.Context, job string, number int64) (apiBuild, string, error) {
	var out apiBuild
	r, err := b.getJSON(ctx, withTree(jenkins.JobPath(job)+strconv.FormatInt(number, 10)+"/", buildFields), &out)
	return out, session(r), err
}

// queueItem reads one queue item, live or left (Jenkins keeps left items
// for 5 minutes).
func (b *backend) queueItem(ctx context.Context, id int64) (apiQueueItem, string, error) {
	var out apiQueueItem
	r, err := b.getJSON(ctx, withTree("queue/item/"+strconv.FormatInt(id, 10)+"/", "id,cancelled,executable[number],task[url]"), &out)
	return out, session(r), err
}

// stop aborts a running build (302 when done; a finished build is left
// alone by Jenkins).
func (b *backend) stop(ctx context.Context, job string, number int64) error {
	_, _, err := b.do(ctx, http.MethodPost, jenkins.JobPath(job)+strconv.FormatInt(number, 10)+"/stop", strings.NewReader(""), "")
	return err
}

// cancelItem cancels a waiting queue item. gone reports that the item was
// not there to cancel (404: unknown; 422: it already left the queue).
func (b *backend) cancelItem(ctx context.Context, id int64) (gone bool, err error) {
	_, _, err = b.do(ctx, http.MethodPost, "queue/cancelItem?id="+strconv.FormatInt(id, 10), strings.NewReader(""), "")
	var se *jenkins.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusUnprocessableEntity) {
		return true, nil
	}
	return false, err
}

// progressive reads the console from byte start: the text, the total
// size, and whether more is coming.
func (b *backend) progressive(ctx context.Context, job string, number, start int64) ([]byte, int64, bool, error) {
	p := fmt.Sprintf("%s%d/logText/progressiveText?start=%d", jenkins.JobPath(job), number, start)
	r, body, err := b.do(ctx, http.MethodGet, p, nil, "")
	if err != nil {
		return nil, 0, false, err
	}
	size, _ := strconv.ParseInt(r.Header.Get("X-Text-Size"), 10, 64)
	return body, size, r.Header.Get("X-More-Data") == "true", nil
}

// hasFooter reports whether the build's console ends with Jenkins'
// "Finished: RESULT" line, which a build lost in a restart lacks.
func (b *backend) hasFooter(ctx context.Context, job string, number int64) (bool, error) {
	text, size, _, err := b.progressive(ctx, job, number, 1<<40)
	if err != nil {
		return false, err
	}
	if int64(len(text)) != size { // Jenkins answered nothing past the end: read the tail
		if text, _, _, err = b.progressive(ctx, job, number, max(0, size-256)); err != nil {
			return false, err
		}
	}
	s := strings.TrimRight(string(text), "\r\n")
	i := strings.LastIndexByte(s, '\n')
	return strings.HasPrefix(s[i+1:], "Finished: "), nil
}

func session(r *jenkins.Response) string {
	if r == nil {
		return ""
	}
	return r.Session
}
