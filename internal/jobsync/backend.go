package jobsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

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

// classify is the one place that decides what an answer means, by
// jenkins.Classify and two named rules: 401 and 403 are jenkinds' own
// credentials failing on that controller (jenkins.CredentialsRejected),
// not the client's fault, so they count as unavailable (retried, never
// passed on); createItem's "already exists" is exists
// (jenkins.AlreadyExists). body is the answer's body when the call
// succeeded; a refusal's comes with its StatusError.
func classify(r *jenkins.Response, body []byte, err error) answer {
	a := answer{body: body, err: err}
	if r != nil {
		a.code, a.header = r.Code, r.Header
	}
	if se := (*jenkins.StatusError)(nil); errors.As(err, &se) {
		a.body = se.Body
	}
	switch {
	case err == nil:
		a.kind = applied
	case jenkins.CredentialsRejected(err):
		a.kind = unavailable
	case jenkins.IsNotFound(err):
		a.kind = notFound
	case jenkins.AlreadyExists(err):
		a.kind = exists
	case jenkins.Classify(err) == jenkins.Refused:
		a.kind = refused
	default: // nothing sent, not judged (502, 503, …), or no answer
		a.kind = unavailable
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
	rt     *controller.Runtime
	client *jenkins.Client // bounded by RequestTimeout
}

// backend returns rt's client: the one its runtime built (every request
// counted on the controller's live record), bounded by RequestTimeout.
func (s *Service) backend(rt *controller.Runtime) (*backend, error) {
	c := rt.Client()
	if c == nil {
		return nil, fmt.Errorf("controller %s has no usable URL", rt.Name())
	}
	return &backend{rt: rt, client: c.WithTimeout(s.cfg.RequestTimeout)}, nil
}

// as returns b sending the caller's Authorization header instead of
// jenkinds' token.
func (b *backend) as(authorization string) *backend {
	cp := *b
	cp.client = b.client.As(authorization)
	return &cp
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

// create sends POST [folder/]createItem?name= with the config.
func (b *backend) create(ctx context.Context, job, config string) answer {
	folder, name := splitName(job)
	r, err := b.client.CreateItem(ctx, folder, name, []byte(config))
	return classify(r, nil, err)
}

// update sends POST job/…/config.xml.
func (b *backend) update(ctx context.Context, job, config string) answer {
	r, err := b.client.PostConfigXML(ctx, job, []byte(config))
	return classify(r, nil, err)
}

// remove sends POST job/…/doDelete (302 when done).
func (b *backend) remove(ctx context.Context, job string) answer {
	r, err := b.client.Delete(ctx, job)
	return classify(r, nil, err)
}

// readConfig reads job/…/config.xml.
func (b *backend) readConfig(ctx context.Context, job string) answer {
	body, r, err := b.client.ConfigXML(ctx, job)
	return classify(r, body, err)
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
