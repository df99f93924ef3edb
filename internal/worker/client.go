package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// Client calls the worker API of one jenkinds server for one cluster,
// with a freshly signed token on every request (a token is accepted once:
// the server keeps its jti until it expires). It is safe for concurrent use.
type Client struct {
	base    string
	cluster string
	kid     string
	key     Key
	method  jwt.SigningMethod
	worker  string
	ttl     time.Duration
	hc      *http.Client
	now     func() time.Time
}

// ClientConfig is what a Client needs.
type ClientConfig struct {
	// Server is the jenkinds server's base URL, e.g. http://jenkinds:7070.
	Server string
	// Cluster is the build cluster the worker serves.
	Cluster string
	// Key signs the tokens; KID is the kid it is registered with (default:
	// Key.KID()).
	Key Key
	KID string
	// Worker names this worker in the tokens (sub) and on the jobs it
	// leases.
	Worker string
	// TokenTTL is the lifetime of each token, at most 10 minutes.
	// Default: 1m.
	TokenTTL time.Duration
	// HTTP sends the requests. Default: a client without a timeout (the
	// claim long-polls; every call has its context).
	HTTP *http.Client
	// Now is the clock tokens are dated by. Default: time.Now.
	Now func() time.Time
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.Server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("server %q: want the jenkinds server's http or https URL, e.g. http://jenkinds.example.com:7070", cfg.Server)
	}
	method := jwt.GetSigningMethod(cfg.Key.Algorithm)
	if cfg.Key.Signer == nil || method == nil {
		return nil, errors.New("a private key is required")
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), cluster: cfg.Cluster, kid: cfg.KID, key: cfg.Key, method: method,
		worker: cfg.Worker, ttl: cfg.TokenTTL, hc: cfg.HTTP, now: cfg.Now}
	if c.kid == "" {
		c.kid = cfg.Key.KID()
	}
	if c.ttl <= 0 {
		c.ttl = time.Minute
	}
	if c.ttl > workerapi.MaxTokenLifetime {
		return nil, fmt.Errorf("token lifetime %s: at most %s", c.ttl, workerapi.MaxTokenLifetime)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Token signs a new token: the cluster, aud jenkinds, iat now, exp now+ttl,
// a random jti, the worker as sub, kid in the header.
func (c *Client) Token() (string, error) {
	now := c.now()
	var jti [16]byte
	rand.Read(jti[:])
	t := jwt.NewWithClaims(c.method, workerapi.Claims{
		BuildCluster: c.cluster,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.worker,
			Audience:  jwt.ClaimStrings{workerapi.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.ttl)),
			ID:        hex.EncodeToString(jti[:]),
		},
	})
	t.Header["kid"] = c.kid
	s, err := t.SignedString(c.key.Signer)
	if err != nil {
		return "", fmt.Errorf("sign worker token: %w", err)
	}
	return s, nil
}

// Error is an error answer of the worker API.
type Error struct {
	Status  int
	Code    string
	Reason  string // why a token was refused (401, 403)
	Message string
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("HTTP %d %s (%s): %s", e.Status, e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// IsLeaseLost reports an answer that says the lease no longer holds the
// job: stop working on it.
func IsLeaseLost(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == workerapi.CodeLeaseLost
}

// IsRefused reports an answer that refused the token for a reason of the
// worker's setup (401, or 403 for another cluster's queue): not a paused
// cluster (403 cluster_inactive), which an admin may resume.
func IsRefused(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized ||
		e.Status == http.StatusForbidden && e.Reason != workerapi.ReasonClusterInactive)
}

// Temporary reports an error worth retrying: no answer, or a 5xx.
func Temporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// do sends method path with in as JSON and decodes a 200 answer into out.
// It returns false for a 204.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (bool, error) {
	token, err := c.Token()
	if err != nil {
		return false, err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return false, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return false, err // a *url.Error: method, URL, cause; never a header
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return false, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	switch {
	case res.StatusCode == http.StatusNoContent:
		return false, nil
	case res.StatusCode != http.StatusOK:
		var eb workerapi.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return false, &Error{Status: res.StatusCode, Code: eb.Error.Code, Reason: eb.Error.Reason, Message: eb.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return false, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return true, nil
}

func (c *Client) jobPath(id int64, call string) string {
	return workerapi.Prefix + url.PathEscape(c.cluster) + "/" + strconv.FormatInt(id, 10) + "/" + call
}

// Claim asks for a job, waiting up to wait for one: nil when none came.
func (c *Client) Claim(ctx context.Context, wait time.Duration) (*workerapi.Claim, error) {
	var out workerapi.Claim
	path := workerapi.Prefix + url.PathEscape(c.cluster) + "?wait=" + strconv.FormatFloat(wait.Seconds(), 'f', -1, 64)
	got, err := c.do(ctx, http.MethodGet, path, nil, &out)
	if err != nil || !got {
		return nil, err
	}
	return &out, nil
}

// Extend renews the lease of job id.
func (c *Client) Extend(ctx context.Context, id int64, leaseToken string) (queue.Job, error) {
	var out queue.Job
	_, err := c.do(ctx, http.MethodPost, c.jobPath(id, "extend"), workerapi.ExtendRequest{LeaseToken: leaseToken}, &out)
	return out, err
}

// Complete reports that job id ran, with its result and exit code.
func (c *Client) Complete(ctx context.Context, id int64, leaseToken, result string, exitCode int) (queue.Job, error) {
	var out queue.Job
	_, err := c.do(ctx, http.MethodPost, c.jobPath(id, "complete"),
		workerapi.CompleteRequest{LeaseToken: leaseToken, Result: result, ExitCode: exitCode}, &out)
	return out, err
}

// Fail reports that job id could not run here; retry puts it back in the
// queue while attempts are left.
func (c *Client) Fail(ctx context.Context, id int64, leaseToken, reason string, retry bool) (queue.Job, error) {
	var out queue.Job
	_, err := c.do(ctx, http.MethodPost, c.jobPath(id, "fail"),
		workerapi.FailRequest{LeaseToken: leaseToken, Reason: reason, Retry: retry}, &out)
	return out, err
}

// AppendLog uploads the part of job id's log that starts at offset.
func (c *Client) AppendLog(ctx context.Context, id int64, leaseToken string, offset int64, data string) (workerapi.LogResponse, error) {
	var out workerapi.LogResponse
	_, err := c.do(ctx, http.MethodPost, c.jobPath(id, "log"),
		workerapi.LogRequest{LeaseToken: leaseToken, Offset: offset, Data: data}, &out)
	return out, err
}
