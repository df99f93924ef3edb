// Package jenkins is jenkinds' one client of the Jenkins remote API and
// its one kit of Jenkins-style answers. Every call jenkinds makes to a
// controller goes through a Client, one file per resource (builds, queue,
// jobs, computers, plugins, whoami, lifecycle, status); every failure is
// classified in one place (retryable.go); every queue Location is read by
// one parser (location.go). Calls are authenticated with an API token (so
// no crumbs are needed, see ../shared/research/jenkins-api.md §2.2), or
// with a caller's own Authorization header (As).
//
// The package imports nothing of jenkinds: callers convert its wire types
// to their own and make the decisions.
package jenkins

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one Jenkins controller. It never follows redirects: a
// Jenkins 302 (stop, doDelete, quietDown, restart) is the answer, and its
// Location may name the configured root URL, which can be the front door.
// A Client is safe for concurrent use; As and WithTimeout return changed
// copies. What a controller's client sends is observed by its transport
// (controller.Runtime counts it in flight and notes answers and failures).
type Client struct {
	base    *url.URL // with a trailing slash
	user    string
	token   string
	auth    string // a caller's Authorization header, instead of user and token
	http    *http.Client
	timeout time.Duration // bounds each Do; 0 for none
}

// New returns a client for the controller at baseURL, authenticated as
// user with API token token (both "" for anonymous). hc may be nil
// (http.DefaultClient's transport); it is copied so as not to follow
// redirects.
func New(baseURL, user, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("controller URL %q: must be an absolute http or https URL", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	own := http.Client{}
	if hc != nil {
		own = *hc
	}
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: u, user: user, token: token, http: &own}, nil
}

// As returns a copy of c that sends the given Authorization header (a
// caller's own credentials) instead of c's user and token; "" sends none.
func (c *Client) As(authorization string) *Client {
	cp := *c
	cp.user, cp.token, cp.auth = "", "", authorization
	return &cp
}

// WithTimeout returns a copy of c whose every call is bounded by d (0:
// only by the caller's context). It bounds the whole exchange, body
// included, so Stream ignores it.
func (c *Client) WithTimeout(d time.Duration) *Client {
	cp := *c
	cp.timeout = d
	return &cp
}

// BaseURL is the controller's URL with a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// Response is what a call learns besides its body.
type Response struct {
	Code     int
	Header   http.Header
	Version  string // X-Jenkins
	Session  string // X-Jenkins-Session: changes on every restart of the controller
	Location string
	Latency  time.Duration // until the response headers arrived
}

// SessionOf is r's Session, "" when r is nil (no answer came).
func SessionOf(r *Response) string {
	if r == nil {
		return ""
	}
	return r.Session
}

// maxBody bounds what Do reads of an answer.
const maxBody = 32 << 20

// Do sends method path (relative to the base URL, query included) with
// body, and returns the response with its body read (at most 32 MiB). An
// answer of 400 or more is a *StatusError, returned with the Response and
// the body; a 3xx is not an error.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, contentType string) (*Response, []byte, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, r, err := c.send(ctx, method, path, body, contentType)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return r, nil, fmt.Errorf("%s %s: read body: %w", method, redact(resp.Request.URL), err)
	}
	if r.Code >= 400 {
		msg := r.Header.Get("X-Error")
		if msg == "" && !strings.Contains(r.Header.Get("Content-Type"), "html") {
			msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return r, data, &StatusError{Method: method, URL: redact(resp.Request.URL), Code: r.Code, Message: msg, Header: r.Header, Body: data}
	}
	return r, data, nil
}

// Stream sends method path like Do but hands the answer over unread,
// whatever its status (no StatusError: a front door passes 401s and 404s
// on as they are). The caller must close the body; a controller's
// runtime counts the request in flight until then.
func (c *Client) Stream(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	resp, _, err := c.send(ctx, method, path, body, contentType)
	return resp, err
}

// send makes one exchange up to the response headers.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, *Response, error) {
	ref, err := url.Parse(strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, nil, fmt.Errorf("path %q: %w", path, err)
	}
	u := c.base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	switch {
	case c.auth != "":
		req.Header.Set("Authorization", c.auth)
	case c.user != "" || c.token != "":
		req.SetBasicAuth(c.user, c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	h := resp.Header
	r := &Response{Code: resp.StatusCode, Header: h, Latency: time.Since(start),
		Version: h.Get("X-Jenkins"), Session: h.Get("X-Jenkins-Session"), Location: h.Get("Location")}
	return resp, r, nil
}

// redact drops credentials a URL might carry.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// GetJSON GETs path and decodes the JSON answer into v.
func (c *Client) GetJSON(ctx context.Context, path string, v any) (*Response, error) {
	r, data, err := c.Do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return r, fmt.Errorf("GET %s: decode JSON: %w", path, err)
	}
	return r, nil
}

// post sends an empty POST and returns the answer's headers.
func (c *Client) post(ctx context.Context, path string) (*Response, error) {
	r, _, err := c.Do(ctx, http.MethodPost, path, strings.NewReader(""), "")
	return r, err
}

// withTree is p's api/json with the tree= expression tree.
func withTree(p, tree string) string { return p + "api/json?tree=" + url.QueryEscape(tree) }

// JobPath turns a full job name "a/b" into "job/a/job/b/".
func JobPath(full string) string {
	var sb strings.Builder
	for _, seg := range strings.Split(strings.Trim(full, "/"), "/") {
		sb.WriteString("job/")
		sb.WriteString(url.PathEscape(seg))
		sb.WriteByte('/')
	}
	return sb.String()
}
