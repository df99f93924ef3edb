package apiclient

import (
	"context"
	"net/url"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/api"
)

// The health authority's event log: transitions, restarts, and the
// freezes and thaws of re-dispatch.

// EventPage says which page of events to read; the zero value is the
// newest 100.
type EventPage struct {
	// Limit is 1 to 1000; 0 is the server's default, 100.
	Limit int
	// Before is the Next of the previous page: only older events.
	Before int64
}

func (p EventPage) query() url.Values {
	q := url.Values{}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Before != 0 {
		q.Set("before", strconv.FormatInt(p.Before, 10))
	}
	return q
}

// Events returns a page of the events of cluster (with jenkinds' own), or
// of every cluster for "", newest first: GET /api/v1/events. Pass its Next
// as Before for the older page; 0 means it was the last.
func (c *Client) Events(ctx context.Context, cluster string, p EventPage) (api.EventList, error) {
	q := p.query()
	if cluster != "" {
		q.Set("cluster", cluster)
	}
	var out api.EventList
	return out, c.do(ctx, "GET", "/api/v1/events", q, nil, &out)
}

// InstanceEvents returns a page of the events of an instance, with the
// freezes and thaws of its cluster and of jenkinds, newest first:
// GET /api/v1/instances/{id}/events.
func (c *Client) InstanceEvents(ctx context.Context, id int64, p EventPage) (api.EventList, error) {
	var out api.EventList
	return out, c.do(ctx, "GET", instancePath(id)+"/events", p.query(), nil, &out)
}
