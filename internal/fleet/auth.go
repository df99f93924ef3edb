package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// authCache remembers what controllers said of a caller's credentials:
// per hash of the Authorization header, cluster and job ("" for the
// caller's identity). Only the hash of the credentials is kept.
type authCache struct {
	mu sync.Mutex
	m  map[authKey]verdict
}

type authKey struct {
	cred         [32]byte
	cluster, job string
}

// verdict is a controller's answer: 200 with the user, or the status,
// headers and body to pass on (401, 403, 404).
type verdict struct {
	status  int
	user    string
	wwwAuth string
	body    []byte
	expires time.Time
}

func (c *authCache) init() { c.m = map[authKey]verdict{} }

func (c *authCache) get(k authKey, now time.Time) (verdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok || now.After(v.expires) {
		return verdict{}, false
	}
	return v, true
}

func (c *authCache) put(k authKey, v verdict, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10000 {
		for k, old := range c.m {
			if now.After(old.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= 10000 {
			clear(c.m) // a flood of distinct credentials: start over rather than grow
		}
	}
	c.m[k] = v
}

// authenticate checks the caller against a controller of the cluster: its
// identity, and read access to job when job is not "". It answers the
// request itself (401, 403, 404, 503) and returns false when the caller
// may not go on.
func (f *Front) authenticate(q *req, job string) bool {
	header := q.r.Header.Get("Authorization")
	if header == "" {
		// Only remote triggers come here without credentials, and they are
		// checked against the job's token, never as jenkinds.
		jenkins.Failure(q.w, http.StatusForbidden, "Authentication required")
		return false
	}
	cred := sha256.Sum256([]byte(header))
	who, ok := f.check(q, authKey{cred, q.cluster, ""}, "me/api/json?tree=id", nil)
	if !ok {
		return false
	}
	q.user = who.user
	if job == "" {
		return true
	}
	// A job the inventory knows is checked where it is; a folder (the
	// inventory holds jobs only) or a job unknown yet, on any controller.
	var ids []int64
	info, err := q.jobInfo(job)
	switch {
	case err == nil:
		ids, job = info.Controllers, info.Job
	case !errors.Is(err, dispatch.ErrUnknownJob):
		writeBuildError(q, err)
		return false
	}
	_, ok = f.check(q, authKey{cred, q.cluster, job}, jenkins.JobPath(job)+"api/json?tree=name", ids)
	return ok
}

// mayRead reports whether the authenticated caller of q may read job,
// without answering the request (for filtering lists).
func (f *Front) mayRead(q *req, job string) bool {
	var ids []int64
	if info, err := q.jobInfo(job); err == nil {
		ids, job = info.Controllers, info.Job
	}
	cred := sha256.Sum256([]byte(q.r.Header.Get("Authorization")))
	v, err := f.verdictOf(q, authKey{cred, q.cluster, job}, jenkins.JobPath(job)+"api/json?tree=name", ids)
	return err == nil && v.status == http.StatusOK
}

// verdictOf answers k from the cache or asks a controller (of ids, else of
// the cluster) with the caller's credentials, through the catalog: each
// controller is waited for at most the hedge deadline before the next is
// asked, so a frozen controller delays a caller's first request by the
// hedge deadline, not a timeout. An error when none could answer.
func (f *Front) verdictOf(q *req, k authKey, path string, ids []int64) (verdict, error) {
	now := f.now()
	if v, ok := f.auth.get(k, now); ok {
		return v, nil
	}
	var rts []*controller.Runtime
	if ids != nil {
		rts = f.usable(ids)
	} else {
		rts = f.clusterControllers(q.cluster)
	}
	err := errors.New("none is available")
	auth := q.r.Header.Get("Authorization")
	for _, rt := range rts {
		r, _ := f.cat.Get(q.r.Context(), rt, q.scope, auth, path)
		v, aerr := verdictFrom(rt, r, path)
		if aerr != nil {
			err = aerr
			continue
		}
		v.expires = now.Add(f.cfg.AuthTTL)
		if v.status != http.StatusNotFound { // a job may appear any moment
			f.auth.put(k, v, now)
		}
		return v, nil
	}
	return verdict{}, err
}

// check is verdictOf that answers the request itself (401, 403, 404, 503)
// unless the verdict is 200.
func (f *Front) check(q *req, k authKey, path string, ids []int64) (verdict, bool) {
	v, err := f.verdictOf(q, k, path, ids)
	if err != nil {
		jenkins.ServiceUnavailable(q.w, "no Jenkins controller of cluster "+q.cluster+" can check your credentials now: "+err.Error(), retryAfter)
		return v, false
	}
	if v.status == http.StatusOK {
		return v, true
	}
	if v.wwwAuth != "" {
		q.w.Header().Set("WWW-Authenticate", v.wwwAuth)
	}
	if v.status == http.StatusNotFound {
		jenkins.NotFound(q.w)
		return v, false
	}
	q.w.Header().Set("Content-Type", "text/html;charset=utf-8")
	q.w.WriteHeader(v.status)
	_, _ = q.w.Write(v.body)
	return v, false
}

// verdictFrom reads what a controller's answer to path says of the
// caller: 200 with the user, or the status, headers and body to pass on
// (401, 403, 404); an error when it gave no such answer.
func verdictFrom(rt *controller.Runtime, r *catalog.Read, path string) (verdict, error) {
	switch {
	case r == nil:
		return verdict{}, fmt.Errorf("%s did not answer in time", rt.Name())
	case r.Err != nil:
		return verdict{}, r.Err
	}
	v := verdict{status: r.Code, wwwAuth: r.Header.Get("WWW-Authenticate")}
	switch r.Code {
	case http.StatusOK:
		var me struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r.Body, &me) // the job check has no id
		v.user = me.ID
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		v.body = r.Body
	default:
		return verdict{}, &jenkins.StatusError{Code: r.Code, Method: http.MethodGet, URL: rt.Name() + "/" + path}
	}
	return v, nil
}

// asJenkinds is fetch's auth for jenkinds' own requests, made with the
// controller's API token (reading a job's remote-trigger token).
const asJenkinds = "\x00jenkinds"

var errNoCredentials = errors.New("jenkinds: no credentials to ask a controller with")

// fetch sends method path (relative to the controller's URL, with its
// query) to rt with the caller's Authorization header auth, or with the
// controller's API token when auth is asJenkinds, through the
// controller's own client (counted on its live record). An empty auth is
// refused: a caller without credentials is never served as jenkinds. The
// answer comes whatever its status; the caller closes its body.
func (f *Front) fetch(ctx context.Context, rt *controller.Runtime, method, path, auth string) (*http.Response, error) {
	if auth == "" {
		return nil, errNoCredentials
	}
	c := rt.Client()
	if c == nil {
		return nil, fmt.Errorf("controller %s has no usable URL", rt.Name())
	}
	if auth != asJenkinds {
		c = c.As(auth)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(f.closing, cancel) // Close ends it too
	res, err := c.Stream(ctx, method, path, nil, "")
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	res.Body = jenkins.OnClose(res.Body, func() { stop(); cancel() })
	return res, nil
}
