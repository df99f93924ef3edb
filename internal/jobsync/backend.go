package jobsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// This file holds every call jenkinds makes to a controller for job
// definitions, with the controller's API token (Basic user:token, so no
// crumb: ../shared/research/jenkins-api.md §2.2), and the one place that
// classifies what a controller answered.

// kind is what one controller did with one write.
type kind int

const (
	applied     kind = iota // it did it (2xx; 302 for doDelete)
	exists                  // createItem: a job of that name is already there
	notFound                // 404: no such job, or (createItem) no such folder
	refused                 // it judged the request and said no (400, 409, 500 "Unable to read config.xml", …)
	unavailable             // it did not judge it: no answer, timeout, 502/503/504, or jenkinds' token refused
)

func (k kind) String() string {
	return [...]string{"applied", "exists", "not found", "refused", "unavailable"}[k]
}

// answer is what one controller said to one request.
type answer struct {
	kind   kind
	code   int         // HTTP status; 0 when there was no answer
	header http.Header // the controller's headers, when it answered
	body   []byte
	err    error // nil when applied
}

// classify is the one place that decides what an answer means. 401 and
// 403 are jenkinds' own credentials failing on that controller, not the
// client's fault, so they count as unavailable (retried, never passed on).
func classify(r *jenkins.Response, body []byte, err error) answer {
	a := answer{body: body, err: err}
	if r != nil {
		a.code, a.header = r.Code, r.Header
	}
	var se *jenkins.StatusError
	switch {
	case err == nil:
		a.kind = applied
	case !errors.As(err, &se):
		a.kind = unavailable // no answer at all
	case se.Code == http.StatusNotFound:
		a.kind = notFound
	case se.Code == http.StatusBadRequest && strings.Contains(se.Message, "already exists"):
		a.kind = exists
	case se.Code == http.StatusUnauthorized, se.Code == http.StatusForbidden, se.Code == http.StatusRequestTimeout,
		se.Code == http.StatusTooManyRequests, se.Code == http.StatusBadGateway, se.Code == http.StatusServiceUnavailable,
		se.Code == http.StatusGatewayTimeout:
		a.kind = unavailable
	default:
		a.kind = refused
	}
	return a
}

// reason says in one line why a send did not apply ("" when it did).
func (a answer) reason() string {
	if a.err == nil {
		return ""
	}
	return a.err.Error()
}

// brief says why a send did not apply without naming the controller's
// address, for answers to clients (logs and pending rows get reason).
func (a answer) brief() string {
	switch {
	case a.err == nil:
		return "applied"
	case errors.Is(a.err, errUnhealthy):
		return "unhealthy, not asked"
	case errors.Is(a.err, errNoController):
		return a.err.Error()
	case a.code != 0:
		return fmt.Sprintf("HTTP %d", a.code)
	case errors.Is(a.err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return "unreachable"
}

// xError is the controller's X-Error header, or "".
func (a answer) xError() string {
	if a.header == nil {
		return ""
	}
	return a.header.Get("X-Error")
}

// backend is one controller as job sync talks to it.
type backend struct {
	rt      *controller.Runtime
	client  *jenkins.Client
	timeout time.Duration
}

type clientEntry struct {
	url, user, token string
	b                *backend
}

// backend returns the client of rt, rebuilt when its URL, user or token
// changed.
func (s *Service) backend(rt *controller.Runtime) (*backend, error) {
	inst, tok := rt.Instance(), rt.Token()
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if e, ok := s.clients[inst.ID]; ok && e.url == inst.URL && e.user == inst.Username && e.token == tok {
		return e.b, nil
	}
	c, err := jenkins.New(inst.URL, inst.Username, tok, s.hc)
	if err != nil {
		return nil, err
	}
	b := &backend{rt: rt, client: c, timeout: s.cfg.RequestTimeout}
	s.clients[inst.ID] = clientEntry{url: inst.URL, user: inst.Username, token: tok, b: b}
	return b, nil
}

// as returns b sending the caller's Authorization header instead of
// jenkinds' token.
func (b *backend) as(authorization string) *backend {
	cp := *b
	cp.client = b.client.As(authorization)
	return &cp
}

func (b *backend) send(ctx context.Context, method, p, body string) answer {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var rd io.Reader
	var ct string
	if method == http.MethodPost {
		rd = strings.NewReader(body)
		if body != "" {
			ct = "application/xml"
		}
	}
	r, data, err := b.client.Do(ctx, method, p, rd, ct)
	return classify(r, data, err)
}

// splitName splits a full name into its folder ("" for the root) and
// its own name.
func splitName(full string) (folder, name string) {
	full = strings.Trim(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// folderPath is the path of a folder ("" for the root), with a trailing
// slash unless it is the root.
func folderPath(folder string) string {
	if folder == "" {
		return ""
	}
	return jenkins.JobPath(folder)
}

// create sends POST [folder/]createItem?name= with the config.
func (b *backend) create(ctx context.Context, job, config string) answer {
	folder, name := splitName(job)
	return b.send(ctx, http.MethodPost, folderPath(folder)+"createItem?name="+url.QueryEscape(name), config)
}

// update sends POST job/…/config.xml.
func (b *backend) update(ctx context.Context, job, config string) answer {
	return b.send(ctx, http.MethodPost, jenkins.JobPath(job)+"config.xml", config)
}

// remove sends POST job/…/doDelete (302 when done: redirects are not
// followed).
func (b *backend) remove(ctx context.Context, job string) answer {
	return b.send(ctx, http.MethodPost, jenkins.JobPath(job)+"doDelete", "")
}

// readConfig reads job/…/config.xml.
func (b *backend) readConfig(ctx context.Context, job string) answer {
	return b.send(ctx, http.MethodGet, jenkins.JobPath(job)+"config.xml", "")
}

// converge makes the controller hold the write, whatever it holds now:
// a create finding the job there replaces its config.xml, an update
// finding no job creates it, and a delete finding no job is done. This is
// how every retry is sent, so a retry after a send whose answer was lost
// (which may have been applied) converges too.
func (b *backend) converge(ctx context.Context, op Op, job, config string) answer {
	switch op {
	case OpCreate:
		a := b.create(ctx, job, config)
		if a.kind == exists {
			return b.update(ctx, job, config)
		}
		return a
	case OpUpdate:
		a := b.update(ctx, job, config)
		if a.kind == notFound {
			return b.create(ctx, job, config)
		}
		return a
	case OpDelete:
		a := b.remove(ctx, job)
		if a.kind == notFound {
			a.kind, a.err = applied, nil
		}
		return a
	}
	return answer{kind: refused, err: fmt.Errorf("unknown op %q", op)}
}

// jobPathOf is the front-door path of a folder or job, for Location:
// "" for the root, "job/a/job/b/" otherwise.
func jobPathOf(full string) string {
	if strings.Trim(full, "/") == "" {
		return ""
	}
	return jenkins.JobPath(full)
}
