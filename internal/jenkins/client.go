// Package jenkins is jenkinds' client for the Jenkins remote API: the few
// calls the health monitor, the dispatcher and the workers make, always
// authenticated with an API token (so no crumbs are needed, see
// ../shared/research/jenkins-api.md §2.2), with typed errors that say
// whether a failure means the controller is down.
package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one Jenkins controller.
type Client struct {
	base  *url.URL // with a trailing slash
	user  string
	token string
	auth  string // a caller's Authorization header, instead of user and token
	http  *http.Client
}

// As returns a copy of c that sends the given Authorization header (a
// caller's own credentials) instead of c's user and token.
func (c *Client) As(authorization string) *Client {
	cp := *c
	cp.user, cp.token, cp.auth = "", "", authorization
	return &cp
}

// New returns a client for the controller at baseURL. hc may be nil.
func New(baseURL, user, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("controller URL %q: must be an absolute http or https URL", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, user: user, token: token, http: hc}, nil
}

// BaseURL is the controller's URL with a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// StatusError is a non-2xx answer.
type StatusError struct {
	Method, URL string
	Code        int
	Message     string // X-Error, or the start of the body
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Code, e.Message)
	}
	return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Code)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// IsUnavailable reports an error that means the controller is not serving:
// no connection, a timeout, a 5xx, or 503 while it restarts. Errors about
// the request itself (4xx) are not.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset")
}

// Response is what a call returns besides its body.
type Response struct {
	Code     int
	Header   http.Header
	Version  string // X-Jenkins
	Session  string // X-Jenkins-Session
	Location string
	Latency  time.Duration
}

// Do sends method path (relative to the base URL, query included) with
// body, and returns the response with its body read (at most 32 MiB).
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, contentType string) (*Response, []byte, error) {
	ref, err := url.Parse(strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, nil, fmt.Errorf("path %q: %w", path, err)
	}
	u := c.base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, err
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
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	r := &Response{
		Code: resp.StatusCode, Header: resp.Header, Latency: time.Since(start),
		Version: resp.Header.Get("X-Jenkins"), Session: resp.Header.Get("X-Jenkins-Session"),
		Location: resp.Header.Get("Location"),
	}
	if err != nil {
		return r, nil, fmt.Errorf("%s %s: read body: %w", method, redact(u), err)
	}
	if resp.StatusCode >= 400 {
		msg := resp.Header.Get("X-Error")
		if msg == "" && !strings.Contains(resp.Header.Get("Content-Type"), "html") {
			msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return r, data, &StatusError{Method: method, URL: redact(u), Code: resp.StatusCode, Message: msg}
	}
	return r, data, nil
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
