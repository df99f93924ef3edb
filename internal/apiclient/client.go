// Package apiclient is a typed Go client of jenkinds' admin API (package
// api): one method per route, the API's own types in and out, and every
// error answer as an *Error carrying its status, code, message and field.
//
//	c, err := apiclient.New("http://127.0.0.1:7070", token, nil)
//	inst, err := c.CreateInstance(ctx, controller.CreateInput{Name: "jenkins-1", URL: "https://jenkins-1.example.com"})
//	var apiErr *apiclient.Error
//	if errors.As(err, &apiErr) && apiErr.Code == api.CodeConflict { … }
//
// The admin token goes in the Authorization header of every request and
// nowhere else: no error this package returns contains it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxAnswer is the largest answer read; a list of thousands of instances
// is well below it.
const maxAnswer = 32 << 20

// Client talks to one jenkinds server. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host[/prefix], without a trailing slash
	token string
	hc    *http.Client
}

// New returns a client of the server at baseURL (http or https, with a path
// prefix if the server is mounted under one) that authenticates with the
// admin token. hc may be nil for http.DefaultClient.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("jenkinds address %q: want an http or https URL such as http://127.0.0.1:7070, without credentials or query", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, hc: hc}, nil
}

// BaseURL is the server's address as the client uses it.
func (c *Client) BaseURL() string { return c.base }

// Error is an error answer of the server.
type Error struct {
	Status  int    // HTTP status
	Code    string // the API's error code (api.Code…); "" when the answer was not the API's
	Message string
	Field   string // the field or parameter at fault, if one
}

// Error returns the message, and the field when there is one:
// "url: must be an absolute http or https URL (field: url)".
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Message + " (field: " + e.Field + ")"
	}
	return e.Message
}

// do sends method path?query with in as its JSON body (none when nil) and
// decodes a 2xx answer into out: JSON into a pointer, raw bytes into a
// *[]byte, nothing when out is nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	_, data, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*out = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends method path?query with in as its JSON body (none when nil)
// and returns a 2xx answer's headers and body; any other answer is an
// *Error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (http.Header, []byte, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err // a *url.Error: method, URL and cause, never a header
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, nil, answerError(res.StatusCode, data)
	}
	return res.Header, data, nil
}

// answerError reads an error answer: the API's JSON error, or for anything
// else (a proxy's HTML page) the status and the start of the body.
func answerError(status int, data []byte) *Error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		return &Error{Status: status, Code: body.Error.Code, Message: body.Error.Message, Field: body.Error.Field}
	}
	msg := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if s := snippet(data); s != "" {
		msg += ": " + s
	}
	return &Error{Status: status, Message: msg}
}

// snippet is the start of body on one line, for a message.
func snippet(body []byte) string {
	const max = 200
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
