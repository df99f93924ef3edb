package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Scope is whose eyes a read is made with: the hash of the caller's
// Authorization header (Jenkins decides what each caller may see), or
// Jenkinds for jenkinds' own, with the controller's API token. Only the
// hash of credentials is kept.
type Scope [32]byte

// Jenkinds is the scope of reads made with the controllers' own tokens.
var Jenkinds = Scope{}

// ScopeOf is the scope of a caller's Authorization header.
func ScopeOf(authorization string) Scope { return sha256.Sum256([]byte(authorization)) }

// Read is a controller's answer to one GET, as the catalog keeps it.
type Read struct {
	// Code is the status it answered (200, or the 401, 403, 404 … to
	// pass on); 0 with Err when no answer came.
	Code int
	// Header holds the answer's Content-Type, WWW-Authenticate, X-Error,
	// X-Jenkins and X-Jenkins-Session.
	Header http.Header
	Body   []byte
	Err    error
	// At is when it was read; Gen changes whenever Code or Body do, so that
	// what is rendered from reads can be kept while their Gens hold.
	At  time.Time
	Gen uint64
}

// Answered reports whether the controller answered (whatever the status).
func (r *Read) Answered() bool { return r != nil && r.Err == nil }

type readKey struct {
	ctl   int64
	scope Scope
	path  string // relative to the controller, query included
}

// readEntry is one kept read and its refresh.
type readEntry struct {
	mu      sync.Mutex
	cur     *Read         // the newest answer; nil until one came
	invalid bool          // jenkinds wrote meanwhile: never served again as it is
	epoch   uint64        // bumped by every invalidation
	wait    chan struct{} // closed when the refresh in flight for epoch ends; nil when none
	used    time.Time
}

type reads struct {
	mu      sync.Mutex
	entries map[readKey]*readEntry
	gen     uint64
	// overdue are the controllers that left a read unanswered past the
	// hedge deadline, with when: callers do not wait for them again until
	// they answer something (a read, a probe, the proxy's traffic).
	overdue map[int64]time.Time
}

func (rs *reads) init() { rs.entries, rs.overdue = map[readKey]*readEntry{}, map[int64]time.Time{} }

// isOverdue reports whether rt missed a hedge deadline and has answered
// nothing since.
func (rs *reads) isOverdue(rt *controller.Runtime) bool {
	rs.mu.Lock()
	at, ok := rs.overdue[rt.ID()]
	rs.mu.Unlock()
	if ok && rt.LastAnswer().After(at) {
		rs.setOverdue(rt.ID(), false)
		return false
	}
	return ok
}

// setOverdue marks controller id overdue now (a read missed the hedge
// deadline) or not (it answered).
func (rs *reads) setOverdue(id int64, v bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if v {
		rs.overdue[id] = time.Now() // compared with the real time of answers
	} else {
		delete(rs.overdue, id)
	}
}

func (rs *reads) entry(k readKey, now time.Time, limit int) *readEntry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e, ok := rs.entries[k]
	if !ok {
		if len(rs.entries) >= limit {
			rs.evictLocked(limit / 10)
		}
		e = &readEntry{}
		rs.entries[k] = e
	}
	e.used = now
	return e
}

// evictLocked drops n of the entries used longest ago.
func (rs *reads) evictLocked(n int) {
	for ; n > 0; n-- {
		var oldest readKey
		var at time.Time
		first := true
		for k, e := range rs.entries {
			if first || e.used.Before(at) {
				oldest, at, first = k, e.used, false
			}
		}
		if first {
			return
		}
		delete(rs.entries, oldest)
	}
}

func (rs *reads) nextGen() uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.gen++
	return rs.gen
}

// Get returns controller rt's answer to GET path (relative to the
// controller, query included) for scope, made with authorization (the
// caller's Authorization header; "" for the controller's own token with
// scope Jenkinds). A read younger than MaxStaleness is served as it is;
// an older one is read again — one read at a time per controller, path
// and scope, concurrent callers sharing it — and the caller waits for
// that at most HedgeAfter: then it gets what was read before (stale),
// or, if nothing was or jenkinds wrote since, nil, and the controller is
// reported to health as hung. Until that controller answers a read again,
// callers do not wait for it at all: a frozen controller costs each of
// them nothing, not the hedge deadline each. fresh tells whether the
// answer is younger than MaxStaleness.
func (c *Catalog) Get(ctx context.Context, rt *controller.Runtime, scope Scope, authorization, path string) (r *Read, fresh bool) {
	now := c.now()
	e := c.reads.entry(readKey{rt.ID(), scope, path}, now, c.cfg.MaxReads)
	e.mu.Lock()
	if cur := e.cur; cur != nil && !e.invalid && now.Sub(cur.At) < c.cfg.MaxStaleness {
		e.mu.Unlock()
		return cur, true
	}
	wait := e.wait
	if wait == nil {
		wait = make(chan struct{})
		e.wait = wait
		go c.refresh(rt, e, e.epoch, authorization, path, wait)
	}
	e.mu.Unlock()
	if !c.reads.isOverdue(rt) {
		timer := time.NewTimer(c.cfg.HedgeAfter)
		defer timer.Stop()
		select {
		case <-wait:
		case <-timer.C:
			c.reads.setOverdue(rt.ID(), true)
			if c.health != nil {
				c.health.Hung(rt, c.cfg.HedgeAfter)
			}
		case <-ctx.Done():
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.cur; cur != nil && !e.invalid {
		return cur, c.now().Sub(cur.At) < c.cfg.MaxStaleness
	}
	return nil, false
}

// refresh reads path from rt again and keeps the answer, unless an
// invalidation came meanwhile (it may predate the write).
func (c *Catalog) refresh(rt *controller.Runtime, e *readEntry, epoch uint64, authorization, path string, done chan struct{}) {
	r := c.fetch(rt, authorization, path)
	e.mu.Lock()
	defer e.mu.Unlock()
	defer close(done)
	if e.wait == done {
		e.wait = nil
	}
	if !r.Answered() || e.epoch != epoch {
		return // keep the last answer, if any: served stale within the hedge rules
	}
	if cur := e.cur; cur != nil && cur.Code == r.Code && bytes.Equal(cur.Body, r.Body) {
		r.Gen = cur.Gen
	} else {
		r.Gen = c.reads.nextGen()
	}
	e.cur, e.invalid = r, false
}

// kept are the headers a Read keeps.
var kept = []string{"Content-Type", "WWW-Authenticate", "X-Error", "X-Jenkins", "X-Jenkins-Session"}

// fetch makes one GET of path to rt, bounded by RequestTimeout.
func (c *Catalog) fetch(rt *controller.Runtime, authorization, path string) *Read {
	r := &Read{At: c.now()}
	cl := rt.Client()
	if cl == nil {
		r.Err = errors.New("controller " + rt.Name() + " has no usable URL")
		return r
	}
	if authorization != "" {
		cl = cl.As(authorization)
	}
	ctx, cancel := context.WithTimeout(c.closing, c.cfg.RequestTimeout)
	defer cancel()
	resp, body, err := cl.Do(ctx, http.MethodGet, path, nil, "")
	var se *jenkins.StatusError
	switch {
	case errors.As(err, &se):
		r.Code, r.Body = se.Code, se.Body
		r.Header = keep(se.Header)
	case err != nil:
		r.Err = err
		return r
	default:
		r.Code, r.Body = resp.Code, body
		r.Header = keep(resp.Header)
	}
	r.At = c.now()
	return r
}

func keep(h http.Header) http.Header {
	out := make(http.Header, len(kept))
	for _, k := range kept {
		if v := h.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// Invalidate marks every read of cluster's controllers out of date:
// jenkinds wrote to them (a job created, configured or deleted), so the
// next read of each is made again before it is served, however young it
// is (a client reads its own writes).
func (c *Catalog) Invalidate(cluster string) {
	ids := map[int64]bool{}
	for _, r := range c.pool.Cluster(cluster) {
		ids[r.ID()] = true
	}
	c.reads.mu.Lock()
	var es []*readEntry
	for k, e := range c.reads.entries {
		if ids[k.ctl] {
			es = append(es, e)
		}
	}
	c.reads.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		e.invalid = true
		e.epoch++
		e.wait = nil // a refresh in flight read before the write: the next Get starts another
		e.mu.Unlock()
	}
	c.bump(cluster)
}
