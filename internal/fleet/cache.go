package fleet

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// rendered is an answer the front door made, kept to be served again to
// identical requests of the same caller while what it was made from holds.
type rendered struct {
	status  int
	header  http.Header
	body    []byte
	key     string // what it was made from: the reads' generations, the cluster's version
	at      time.Time
	partial string // controllers that did not answer, for X-Jenkinds-Partial
}

// renders keeps rendered answers per (cluster, caller, path, query), and
// coalesces identical concurrent renders.
type renders struct {
	mu     sync.Mutex
	m      map[string]*rendered
	flight singleflight.Group
}

const maxRendered = 10000

func (rs *renders) get(k string) *rendered {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.m[k]
}

func (rs *renders) put(k string, r *rendered) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil || len(rs.m) >= maxRendered {
		rs.m = map[string]*rendered{} // a flood of distinct queries: start over rather than grow
	}
	rs.m[k] = r
}

// source is what one answer is made from: each controller's read (or
// none), and the cluster's version.
type source struct {
	reads   []*catalog.Read
	rts     []*controller.Runtime
	version uint64
}

// key fingerprints s: the same key, the same answer.
func (s source) key() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(s.version, 10))
	for _, r := range s.reads {
		b.WriteByte(',')
		if r == nil {
			b.WriteByte('-')
			continue
		}
		b.WriteString(strconv.FormatUint(r.Gen, 10))
	}
	return b.String()
}

// answer is one controller's decoded 200 answer, with the index of its read.
type answer struct {
	i int
	m map[string]any
}

// answers decodes the 200 answers of s, in the order of its reads (base:
// the front door's own URL, for the urls in them); a read that is missing,
// another status or undecodable is left out.
func (s source) answers(base string) []answer {
	var out []answer
	for i, r := range s.reads {
		if r == nil || r.Code != http.StatusOK {
			continue
		}
		if m, err := decode(s.rts[i], r, base); err == nil {
			out = append(out, answer{i, m})
		}
	}
	return out
}

// partial names the controllers that did not answer.
func (s source) partial() string {
	var names []string
	for i, r := range s.reads {
		if r == nil {
			names = append(names, s.rts[i].Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	return strings.Join(names, ", ") + " did not answer"
}

// read gets path (with q's query) from every controller of rts at once,
// as q's caller, each bounded by the hedge deadline.
func (f *Front) read(q *req, rts []*controller.Runtime, path string) source {
	if raw := q.r.URL.RawQuery; raw != "" {
		path += "?" + raw
	}
	s := source{reads: make([]*catalog.Read, len(rts)), rts: rts, version: f.cat.Version(q.cluster)}
	auth := q.r.Header.Get("Authorization")
	ctx := q.r.Context()
	if len(rts) == 1 {
		s.reads[0], _ = f.cat.Get(ctx, rts[0], q.scope, auth, path)
		return s
	}
	var wg sync.WaitGroup
	for i, rt := range rts {
		wg.Go(func() { s.reads[i], _ = f.cat.Get(ctx, rt, q.scope, auth, path) })
	}
	wg.Wait()
	return s
}

// serveRendered answers q with what render makes of src, reusing the
// answer made for the same caller, path and query while src's key holds
// and it is younger than the catalog's MaxStaleness (parts of it may come
// from jenkinds' own records, which change without a read). Identical
// requests arriving while it is made wait for that one.
func (f *Front) serveRendered(q *req, src source, render func(ctx context.Context) *rendered) {
	k := q.cluster + "\x00" + string(q.scope[:]) + "\x00" + q.r.Host + "\x00" + q.r.URL.EscapedPath() + "?" + q.r.URL.RawQuery
	key := src.key()
	now := f.now()
	var out *rendered
	switch {
	case !f.cat.Settled(q.cluster, src.version):
		// A change of the cluster's builds is being committed, or was since
		// src was read: what is kept, or what a render under way makes, may
		// predate it, and this client may have seen it. Render for this
		// request alone.
		out = render(q.r.Context())
		out.partial = src.partial()
	default:
		out = f.renders.get(k)
		if out != nil && out.key == key && now.Sub(out.at) < f.cat.Config().MaxStaleness {
			break
		}
		v, _, _ := f.renders.flight.Do(k+"\x00"+key, func() (any, error) {
			r := render(detached(q.r.Context()))
			r.key, r.at, r.partial = key, now, src.partial()
			// Kept only if no change began or ended while it was made.
			if r.status == http.StatusOK && f.cat.Settled(q.cluster, src.version) {
				f.renders.put(k, r)
			}
			return r, nil
		})
		out = v.(*rendered)
	}
	h := q.w.Header()
	for name, v := range out.header {
		h[name] = v
	}
	if out.partial != "" {
		h.Set("X-Jenkinds-Partial", out.partial)
	}
	if out.status == http.StatusOK {
		writeBody(q, out.body)
		return
	}
	q.w.WriteHeader(out.status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(out.body)
	}
}

// detached is the context of work done for a request that must not end
// with it (a render other identical requests wait for).
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
