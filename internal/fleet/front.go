package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/stapler"
)

// Builds is what the front door needs of the durable builds.
// *dispatch.Service is one.
type Builds interface {
	Submit(ctx context.Context, req dispatch.Request) (dispatch.Build, error)
	Get(ctx context.Context, id int64) (dispatch.Build, error)
	GetByNumber(ctx context.Context, cluster, job string, number int64) (dispatch.Build, error)
	Cancel(ctx context.Context, id int64) (dispatch.Build, error)
	Stop(ctx context.Context, id int64) (dispatch.Build, error)
	Log(ctx context.Context, id int64, start int64) ([]byte, int64, bool, error)
	History(ctx context.Context, cluster, job string, before int64, limit int) ([]dispatch.Build, error)
	Waiting(ctx context.Context, cluster, job string, limit int) ([]dispatch.Build, error)
	Permalink(ctx context.Context, cluster, job, name string) (int64, error)
	NextNumber(ctx context.Context, cluster, job string) (int64, error)
}

var _ Builds = (*dispatch.Service)(nil)

// JobWriter writes job definitions to every controller of a cluster
// (package jobsync), answering as Jenkins does.
type JobWriter interface {
	ServeCreateItem(w http.ResponseWriter, r *http.Request, cluster, folder string)
	ServeConfigXML(w http.ResponseWriter, r *http.Request, cluster, job string)
	ServeDelete(w http.ResponseWriter, r *http.Request, cluster, job string)
}

// Watcher watches a request that only one controller can answer (a
// build's console, its artifacts): the context it returns is cancelled,
// with a *health.SilentError cause, once that controller looks frozen.
// *health.Monitor is one.
type Watcher interface {
	Watch(ctx context.Context, r *controller.Runtime, deadline time.Duration) (context.Context, context.CancelFunc)
}

// Config tunes the front door's Jenkins API.
type Config struct {
	// AuthTTL is how long a caller's authentication (and read permission
	// on a job) checked against a controller is trusted. Default: 30s.
	AuthTTL time.Duration
	// RequestTimeout bounds each request jenkinds makes to a controller to
	// answer a client. Default: 10s.
	RequestTimeout time.Duration
	// MaxBuilds bounds allBuilds in a job's JSON. Default: 10000.
	MaxBuilds int
	// MaxFormBytes bounds the body of a trigger (its form): a larger one
	// is refused with 413 and nothing is queued. Default: 10 MiB.
	MaxFormBytes int64
}

func (c Config) withDefaults() Config {
	if c.AuthTTL <= 0 {
		c.AuthTTL = 30 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxBuilds <= 0 {
		c.MaxBuilds = 10000
	}
	if c.MaxFormBytes <= 0 {
		c.MaxFormBytes = 10 << 20
	}
	return c
}

// Options are what New needs.
type Options struct {
	Config Config
	Builds Builds
	// Catalog is the read model of the controllers: their jobs, and the
	// answers they gave, served without waiting on them.
	Catalog *catalog.Catalog
	// Jobs writes job definitions; nil proxies createItem, config.xml and
	// doDelete to one controller like any request.
	Jobs JobWriter
	Pool *controller.Pool
	// Next serves what this package does not (the proxy).
	Next http.Handler
	// ClusterFor maps a request's Host to its cluster.
	ClusterFor func(host string) string
	// Pin binds a request to one controller for Next.
	Pin func(r *http.Request, id int64) *http.Request
	// AgentOwner names the controller an agent belongs to (nil: none known).
	AgentOwner func(cluster, agent string) (int64, bool)
	// Watch, when set, stops waiting for a controller that looks frozen on
	// requests no other controller can answer (nil: they wait up to their
	// timeouts).
	Watch Watcher
	Log   *slog.Logger
	Now   func() time.Time
}

// Front is the front door's Jenkins API.
type Front struct {
	cfg        Config
	builds     Builds
	cat        *catalog.Catalog
	renders    renders
	jobs       JobWriter
	pool       *controller.Pool
	next       http.Handler
	clusterFor func(string) string
	pin        func(*http.Request, int64) *http.Request
	log        *slog.Logger
	now        func() time.Time
	auth       authCache
	tokens     tokenCache
	session    string // X-Jenkins-Session of the front door's own answers
	agentOwner func(cluster, agent string) (int64, bool)
	watch      Watcher

	closing context.Context // cancelled by Close: requests to controllers end
	close   context.CancelFunc
}

// New returns the front door's Jenkins API over o.Next.
func New(o Options) *Front {
	f := &Front{
		cfg: o.Config.withDefaults(), builds: o.Builds, cat: o.Catalog, jobs: o.Jobs, pool: o.Pool, next: o.Next,
		clusterFor: o.ClusterFor, pin: o.Pin, log: o.Log, now: o.Now, agentOwner: o.AgentOwner,
		watch: o.Watch,
	}
	var sess [4]byte
	_, _ = rand.Read(sess[:])
	f.session = hex.EncodeToString(sess[:])
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.clusterFor == nil {
		f.clusterFor = func(string) string { return controller.DefaultCluster }
	}
	f.auth.init()
	f.tokens.m = map[tokenKey]jobToken{}
	f.closing, f.close = context.WithCancel(context.Background())
	return f
}

// Close ends the requests to controllers in flight (answers then fall back
// to jenkinds' records or fail), so that a graceful shutdown is not held up
// by a hung controller. Call it when the front door starts shutting down.
func (f *Front) Close() { f.close() }

// req is one request being answered here.
type req struct {
	w       http.ResponseWriter
	r       *http.Request
	cluster string
	job     string        // full name, "" for root resources
	rest    []string      // path segments after the job (or from the root)
	user    string        // the authenticated caller
	scope   catalog.Scope // whose eyes the caller reads with: its credentials, hashed
	remote  string        // the address of a remote trigger (?token=)
	front   *Front
	path    stapler.Path // as Stapler reads it

	jobs map[string]jobLookup // what the catalog said of a job, per request
}

type jobLookup struct {
	info catalog.JobInfo
	err  error
}

// jobInfo asks the catalog about job once per request. Jenkins finds a
// job whatever the case of its name in the URL (/job/HELLO/ is hello): when
// job is the request's job, q.job becomes the name as the controllers
// spell it, which is the name jenkinds' builds are recorded under.
func (q *req) jobInfo(job string) (catalog.JobInfo, error) {
	if l, ok := q.jobs[job]; ok {
		return l.info, l.err
	}
	info, err := q.front.cat.Job(q.r.Context(), q.cluster, job)
	if q.jobs == nil {
		q.jobs = map[string]jobLookup{}
	}
	q.jobs[job] = jobLookup{info, err}
	if err == nil && info.Job != job {
		q.jobs[info.Job] = jobLookup{info, err}
		if job == q.job {
			q.job = info.Job
		}
	}
	return info, err
}

// ServeHTTP answers the fleet-wide part of the Jenkins API and proxies the
// rest. Paths are read as Stapler reads them (docs/stapler-dispatch.md):
// canonical, decoded token by token, actions matched on their name whatever
// follows it.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if jenkins.RejectSemicolon(w, r) { // as every controller would
		return
	}
	if !fleetPath(r.URL.Path) || r.Header.Get("Authorization") == "" && !remoteTriggerPath(r) {
		f.next.ServeHTTP(w, r)
		return
	}
	p, err := stapler.ParsePath(r.URL.EscapedPath())
	if err != nil {
		f.next.ServeHTTP(w, r)
		return
	}
	q := &req{w: w, r: r, cluster: f.clusterFor(r.Host), front: f, path: p}
	if auth := r.Header.Get("Authorization"); auth != "" {
		q.scope = catalog.ScopeOf(auth)
	}
	segs := p.Tokens
	var parts []string
	for len(segs) >= 2 && segs[0] == "job" {
		if strings.Contains(segs[1], "/") {
			// "%2F" in a name: no item is called that, the controllers
			// answer 404; it must not read as a folder path here.
			f.next.ServeHTTP(w, r)
			return
		}
		parts = append(parts, segs[1])
		segs = segs[2:]
	}
	q.job, q.rest = strings.Join(parts, "/"), segs
	if r.Header.Get("Authorization") == "" {
		// Without credentials only a remote trigger is answered here (it is
		// checked against the job's token); anything else is the
		// controllers' to refuse.
		if q.job != "" && (at(segs, "build") || at(segs, "buildWithParameters")) {
			f.serveTrigger(q)
			return
		}
		f.next.ServeHTTP(w, r)
		return
	}
	if h := f.route(q); h != nil {
		h(q)
		return
	}
	f.next.ServeHTTP(w, r)
}

// fleetPath is a cheap first look at the decoded path: could it be ours?
// Leading empty segments do not count ("//job/x" is /job/x to Stapler).
func fleetPath(p string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(p, "/"), "/")
	switch first {
	case "job", "queue", "computer", "view", "api", "createItem", ".", "..":
		return true
	}
	return false
}

// remoteTriggerPath: a trigger with ?token= and no credentials; build and
// buildWithParameters are actions, so anything may follow them.
func remoteTriggerPath(r *http.Request) bool {
	if !strings.Contains(r.URL.RawQuery, "token=") {
		return false
	}
	for s := range strings.SplitSeq(r.URL.Path, "/") {
		if s == "build" || s == "buildWithParameters" {
			return true
		}
	}
	return false
}

type handler func(*req)

// at reports whether rest starts with names: Stapler calls an action
// (doXyz) whatever follows its name, so actions match on a prefix.
func at(rest []string, names ...string) bool {
	if len(rest) < len(names) {
		return false
	}
	for i, n := range names {
		if rest[i] != n {
			return false
		}
	}
	return true
}

// api routes <object>/api/…, rest starting at "api" (ok is false
// otherwise). api/json, whatever follows it and whatever the method, is
// Api.doJson: serve. api/xml, api/python and api/schema are 404 here: the
// front door renders JSON only, and a controller would answer them with
// its own numbers and its own jobs. The API's page (api, api/) is nil, the
// proxy's.
func api(rest []string, serve handler) (h handler, ok bool) {
	if !at(rest, "api") {
		return nil, false
	}
	switch {
	case len(rest) == 1:
		return nil, true
	case rest[1] == "json":
		return serve, true
	case rest[1] == "xml", rest[1] == "python", rest[1] == "schema":
		return func(q *req) { jenkins.NotFound(q.w) }, true
	}
	return nil, true
}

// route picks the handler for q, nil when the request is proxied.
func (f *Front) route(q *req) handler {
	m, rest := q.r.Method, q.rest
	post := m == http.MethodPost
	if q.job == "" {
		switch {
		case at(rest, "api"):
			h, _ := api(rest, f.serveRoot)
			return h
		case at(rest, "computer", "api"):
			h, _ := api(rest[1:], f.serveComputers)
			return h
		case at(rest, "computer") && len(rest) >= 2:
			return f.computerRoute(q)
		case at(rest, "view") && len(rest) >= 3 && rest[2] == "api":
			h, _ := api(rest[2:], f.serveRoot) // a view's jobs, merged as the root's
			return h
		case at(rest, "queue", "api"):
			h, _ := api(rest[1:], f.serveQueue)
			return h
		case at(rest, "queue", "cancelItem"):
			return f.serveCancelItem
		case at(rest, "queue", "item") && len(rest) >= 3:
			return f.queueItemRoute(q)
		case at(rest, "createItem") && post && f.jobs != nil:
			return f.serveCreateItem
		}
		return nil
	}
	switch {
	case at(rest, "build") || at(rest, "buildWithParameters"):
		// Only a POST, or a ?token= trigger, can start a build; any other
		// request is answered by a controller as Jenkins would (the
		// parameters form, 405, 409).
		if !post && m != http.MethodPut && m != http.MethodPatch && !q.r.URL.Query().Has("token") {
			return nil
		}
		return f.serveTrigger
	case at(rest, "api"):
		h, _ := api(rest, f.serveJob)
		return h
	case at(rest, "createItem") && post && f.jobs != nil:
		return f.serveCreateItem
	case at(rest, "config.xml") && (post || m == http.MethodGet) && f.jobs != nil:
		// HEAD and other methods are the controllers' 400.
		return func(q *req) {
			if f.authenticate(q, q.job) {
				f.jobs.ServeConfigXML(f.changes(q), q.r, q.cluster, q.job)
			}
		}
	case (at(rest, "doDelete") && post || len(rest) == 0 && q.path.Slash && m == http.MethodDelete) && f.jobs != nil:
		// DELETE /job/X without the slash is the controllers' 302 first.
		return func(q *req) {
			if f.authenticate(q, q.job) {
				f.jobs.ServeDelete(f.changes(q), q.r, q.cluster, q.job)
			}
		}
	case len(rest) >= 1 && (isNumber(rest[0]) || rest[0] == "firstBuild" || dispatch.IsPermalink(rest[0])):
		return f.serveBuildResource
	}
	return nil
}

// computerRoute sends /computer/<node>/… to the controller the node
// belongs to: "<name> on <controller>" as /computer/api/json lists a
// repeated name, or an agent the proxy's directory knows.
func (f *Front) computerRoute(q *req) handler {
	name := q.rest[1]
	var id int64
	for _, rt := range f.pool.Cluster(q.cluster) {
		if ctl := rt.Instance().Name; strings.HasSuffix(name, " on "+ctl) {
			name, id = strings.TrimSuffix(name, " on "+ctl), rt.ID()
			break
		}
	}
	if id == 0 && f.agentOwner != nil {
		id, _ = f.agentOwner(q.cluster, name)
	}
	if id == 0 {
		return nil
	}
	return func(q *req) {
		if len(q.rest) == 2 && !q.path.Slash {
			jenkins.AddSlash(q.w, q.r, q.path.Canonical())
			return
		}
		f.proxyTo(q, id, "/computer/"+url.PathEscape(name)+"/", q.rest[2:])
	}
}

// queueItemRoute routes /queue/item/N/…: Queue.getItem(long), then the
// item's doIndex, api and cancelQueue, whatever the method. An id that is
// not a positive number is the controllers' (a 500 or a 404 there).
func (f *Front) queueItemRoute(q *req) handler {
	rest := q.rest
	id, err := strconv.ParseInt(rest[2], 10, 64)
	if err != nil || id <= 0 {
		return nil
	}
	tail := rest[3:]
	switch {
	case len(tail) == 0 && !q.path.Slash:
		return func(q *req) {
			if _, ok := f.item(q, id); ok {
				jenkins.AddSlash(q.w, q.r, q.path.Canonical())
			}
		}
	case len(tail) == 0, at(tail, "index"):
		return func(q *req) { f.serveQueueItemPage(q, id) }
	case at(tail, "api"):
		h, _ := api(tail, func(q *req) { f.serveQueueItem(q, id) })
		return h
	case at(tail, "cancelQueue"):
		return func(q *req) {
			if q.r.Method == http.MethodPost {
				f.serveCancelQueue(q, id)
			} else if _, ok := f.item(q, id); ok {
				jenkins.RequirePOST(q.w)
			}
		}
	}
	return nil
}

func (f *Front) serveCreateItem(q *req) {
	if f.authenticate(q, q.job) {
		f.jobs.ServeCreateItem(f.changes(q), q.r, q.cluster, q.job)
	}
}

// changes wraps q's writer so that a job write the controllers accepted
// makes the build service read their job lists again.
func (f *Front) changes(q *req) http.ResponseWriter {
	if q.r.Method == http.MethodGet || q.r.Method == http.MethodHead {
		return q.w
	}
	return &jobWrite{ResponseWriter: q.w, done: func() { f.cat.JobsChanged(q.cluster) }}
}

type jobWrite struct {
	http.ResponseWriter
	done    func()
	written bool
}

func (w *jobWrite) WriteHeader(code int) {
	if !w.written {
		w.written = true
		if code < 400 {
			w.done()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *jobWrite) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// isNumber reports whether s is a build number as Job.getDynamic reads it
// (Integer.parseInt: digits, a leading '+' allowed).
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// origin is the scheme://host the client used, for absolute URLs.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}

// jobURL is the front door's URL of job full name.
func jobURL(base, job string) string { return base + jenkins.JobPath(job) }

// usable lists the controllers of ids that can answer now (active, not
// unhealthy), in the given order.
func (f *Front) usable(ids []int64) []*controller.Runtime {
	var out []*controller.Runtime
	for _, id := range ids {
		if rt := f.pool.Get(id); rt != nil && rt.Instance().IsActive && rt.Health() != balance.Unhealthy {
			out = append(out, rt)
		}
	}
	return out
}

// clusterControllers are the usable controllers of the cluster.
func (f *Front) clusterControllers(cluster string) []*controller.Runtime {
	var ids []int64
	for _, rt := range f.pool.Cluster(cluster) {
		ids = append(ids, rt.ID())
	}
	return f.usable(ids)
}

// ── answers ────────────────────────────────────────────────────────────

var (
	jsonType = []string{"application/json;charset=utf-8"}
	textType = []string{"text/plain;charset=utf-8"}
)

// retryAfter is the Retry-After of the front door's own 503s.
const retryAfter = 5 * time.Second

// jsonOptions reads tree=, depth= and pretty as Stapler does; a malformed
// tree is a 500, as on Jenkins.
func jsonOptions(q *req) (stapler.Options, bool) {
	v := q.r.URL.Query()
	opts := stapler.Options{Pretty: v.Has("pretty")}
	if v.Has("tree") {
		t, err := stapler.ParseTree(v.Get("tree"))
		if err != nil {
			jenkins.ServerError(q.w, err.Error())
			return opts, false
		}
		opts.Tree = t
	} else if d := v.Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			jenkins.ServerError(q.w, "Depth parameter must be a number")
			return opts, false
		}
		opts.Depth = n
	}
	return opts, true
}

// writeJSON renders o for q.
func writeJSON(q *req, o *stapler.Object) {
	opts, ok := jsonOptions(q)
	if !ok {
		return
	}
	writeBody(q, stapler.Marshal(o, opts))
}

func writeBody(q *req, body []byte) {
	h := q.w.Header()
	h["Content-Type"] = jsonType
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "deny")
	if v := q.front.jenkinsVersion(q.cluster); v != "" {
		h.Set("X-Jenkins", v)
	}
	h.Set("X-Jenkins-Session", q.front.session)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if q.r.Method == http.MethodHead {
		return
	}
	_, _ = q.w.Write(body)
}

// jenkinsVersion is the X-Jenkins of the cluster's controllers, as their
// live records last saw it.
func (f *Front) jenkinsVersion(cluster string) string {
	for _, rt := range f.pool.Cluster(cluster) {
		if v := rt.Version(); v != "" {
			return v
		}
	}
	return ""
}
