package jenkins

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file holds the calls about the build queue (jenkins-api.md §4).

// QueueItem is an item of the queue: waiting, or left (Jenkins keeps a
// left item for 5 minutes, then answers 404).
type QueueItem struct {
	ID     int64
	Job    string  // the full name of the item's job, from its task URL
	Params []Param // the parameters it was queued with
	// Cancelled: the item left the queue without becoming a build.
	Cancelled bool
	// Executable is the number of the build it became; 0 while waiting.
	Executable int64
}

// apiQueueItem is an item as api/json writes it.
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

func (q apiQueueItem) item() QueueItem {
	out := QueueItem{ID: q.ID, Params: actionParams(q.Actions), Cancelled: q.Cancelled}
	if q.Task != nil {
		out.Job = JobFromURL(q.Task.URL)
	}
	if q.Executable != nil {
		out.Executable = q.Executable.Number
	}
	return out
}

const (
	queueLight = "items[id]"
	queueFull  = "items[id,task[url],actions[parameters[name,value]]]"
	itemTree   = "id,cancelled,executable[number],task[url],actions[parameters[name,value]]"
)

// Queue reads the controller's queue; full adds each item's job and
// parameters (to recognise items by content rather than id).
func (c *Client) Queue(ctx context.Context, full bool) ([]QueueItem, *Response, error) {
	tree := queueLight
	if full {
		tree = queueFull
	}
	var q struct {
		Items []apiQueueItem `json:"items"`
	}
	r, err := c.GetJSON(ctx, withTree("queue/", tree), &q)
	if err != nil {
		return nil, r, err
	}
	out := make([]QueueItem, len(q.Items))
	for i, it := range q.Items {
		out[i] = it.item()
	}
	return out, r, nil
}

// QueueItem reads queue item id, waiting or left, with its job and
// parameters; a 404 (IsNotFound) once Jenkins forgot it.
func (c *Client) QueueItem(ctx context.Context, id int64) (QueueItem, *Response, error) {
	var q apiQueueItem
	r, err := c.GetJSON(ctx, withTree("queue/item/"+strconv.FormatInt(id, 10)+"/", itemTree), &q)
	if err != nil {
		return QueueItem{}, r, err
	}
	return q.item(), r, nil
}

// CancelItem cancels waiting queue item id (POST queue/cancelItem: 204).
// gone reports that the item was not there to cancel: 404 (unknown) or
// 422 (it already left the queue); that is not an error.
func (c *Client) CancelItem(ctx context.Context, id int64) (gone bool, err error) {
	_, err = c.post(ctx, "queue/cancelItem?id="+strconv.FormatInt(id, 10))
	if code := statusOf(err); code == http.StatusNotFound || code == http.StatusUnprocessableEntity {
		return true, nil
	}
	return false, err
}

// JobFromURL turns a job's URL (…/job/a/job/b%20c/, absolute or relative,
// with anything after it) into its full name "a/b c"; "" when it names
// no job.
func JobFromURL(raw string) string {
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
