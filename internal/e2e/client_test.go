package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

// client is a Jenkins API client of the front door, as python-jenkins or
// curl -u user:token is: Basic auth, keep-alive connections, redirects not
// followed. Unlike servertest.Server.Jenkins it reports transport errors
// instead of failing the test, because the test restarts jenkinds under
// it.
type client struct {
	front string // http://host:port of the front door
	hc    *http.Client
}

func newClient(front string) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &client{front: front, hc: &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends one request and reads the whole answer.
func (c *client) do(ctx context.Context, method, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.front+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(servertest.User, servertest.Token)
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return res, body, nil
}

// getJSON GETs path and decodes a 200 answer into v; it returns the status
// (0 on a transport error).
func (c *client) getJSON(ctx context.Context, path string, v any) (int, error) {
	res, body, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, fmt.Errorf("GET %s: HTTP %d: %.200s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return res.StatusCode, fmt.Errorf("GET %s: %w: %.200s", path, err, body)
	}
	return res.StatusCode, nil
}

// notSent reports whether err means the request never reached the server
// (the dial failed: connection refused while jenkinds restarts), so that
// sending it again cannot make a second build.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// queueID reads the global queue id from a trigger's Location,
// <front>/queue/item/N/.
func queueID(front, loc string) (int64, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return 0, fmt.Errorf("Location %q: %w", loc, err)
	}
	if !strings.HasPrefix(loc, front+"/queue/item/") || !strings.HasSuffix(u.Path, "/") {
		return 0, fmt.Errorf("Location %q: want %s/queue/item/N/", loc, front)
	}
	id, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(u.Path, "/queue/item/"), "/"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("Location %q: no queue id", loc)
	}
	return id, nil
}

// queueItem is GET /queue/item/N/api/json, the fields a client follows.
type queueItem struct {
	ID         int64 `json:"id"`
	Cancelled  bool  `json:"cancelled"`
	Executable *struct {
		Number int64 `json:"number"`
	} `json:"executable"`
}

// buildJSON is GET /job/X/N/api/json, the fields a client follows.
type buildJSON struct {
	Number   int64   `json:"number"`
	QueueID  int64   `json:"queueId"`
	Building bool    `json:"building"`
	Result   *string `json:"result"`
}

// wait pauses for d between two polls; false when ctx ended first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
