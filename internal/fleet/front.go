package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
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
	Job(ctx context.Context, cluster, job string) (dispatch.JobInfo, error)
	History(ctx context.Context, cluster, job string, before int64, limit int) ([]dispatch.Build, error)
	Waiting(ctx context.Context, cluster, job string, limit int) ([]dispatch.Build, error)
	Permalink(ctx context.Context, cluster, job, name string) (int64, error)
	NextNumber(ctx context.Context, cluster, job string) (int64, error)
	// JobsChanged says jobs of cluster were written through the front door.
	JobsChanged(cluster string)
}

var _ Builds = (*dispatch.Service)(nil)

// JobWriter writes job definitions to every controller of a cluster
// (package jobsync), answering as Jenkins does.
type JobWriter interface {
	ServeCreateItem(w http.ResponseWriter, r *http.Request, cluster, folder string)
	ServeConfigXML(w http.ResponseWriter, r *http.Request, cluster, job string)
	ServeDelete(w http.ResponseWriter, r *http.Request, cluster, job string)
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
	return c
}

// Options are what New needs.
type Options struct {
	Config Config
	Builds Builds
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
	// Client talks to controllers; nil is a default client.
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
}

// Front is the front door's Jenkins API.
type Front struct {
	cfg        Config
	builds     Builds
	jobs       JobWriter
	pool       *controller.Pool
	next       http.Handler
	clusterFor func(string) string
	pin        func(*http.Request, int64) *http.Request
	hc         *http.Client
	log        *slog.Logger
	now        func() time.Time
	auth       authCache
	tokens     tokenCache
	version    atomic.Value // string: the newest X-Jenkins a controller sent
	session    string       // X-Jenkins-Session of the front door's own answers
	agentOwner func(cluster, agent string) (int64, bool)

	closing context.Context // cancelled by Close: requests to controllers end
	close   context.CancelFunc
}

// New returns the front door's Jenkins API over o.Next.
func New(o Options) *Front {
	f := &Front{
		cfg: o.Config.withDefaults(), builds: o.Builds, jobs: o.Jobs, pool: o.Pool, next: o.Next,
		clusterFor: o.ClusterFor, pin: o.Pin, hc: o.Client, log: o.Log, now: o.Now, agentOwner: o.AgentOwner,
	}
	var sess [4]byte
	_, _ = rand.Read(sess[:])
	f.session = hex.EncodeToString(sess[:])
	if f.hc == nil {
		f.hc = &http.Client{}
	}
	own := *f.hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.hc = &own
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
	job     string   // full name, "" for root resources
	rest    []string // path segments after the job (or from the root)
	user    string   // the authenticated caller
	remote  string   // the address of a remote trigger (?token=)
	front   *Front

	jobs map[string]jobLookup // what the build inventory said of a job, per request
}

type jobLookup struct {
	info dispatch.JobInfo
	err  error
}

// jobInfo asks the build inventory about job once per request.
func (q *req) jobInfo(job string) (dispatch.JobInfo, error) {
	if l, ok := q.jobs[job]; ok {
		return l.info, l.err
	}
	info, err := q.front.builds.Job(q.r.Context(), q.cluster, job)
	if q.jobs == nil {
		q.jobs = map[string]jobLookup{}
	}
	q.jobs[job] = jobLookup{info, err}
	return info, err
}

// ServeHTTP answers the fleet-wide part of the Jenkins API and proxies the
// rest.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !fleetPath(r.URL.Path) || r.Header.Get("Authorization") == "" && !remoteTriggerPath(r) {
		f.next.ServeHTTP(w, r)
		return
	}
	segs, ok := segments(r.URL)
	if !ok {
		f.next.ServeHTTP(w, r)
		return
	}
	q := &req{w: w, r: r, cluster: f.clusterFor(r.Host), front: f}
	var parts []string
	for len(segs) >= 2 && segs[0] == "job" {
		parts = append(parts, segs[1])
		segs = segs[2:]
	}
	q.job, q.rest = strings.Join(parts, "/"), segs
	if r.Header.Get("Authorization") == "" {
		// Without credentials only a remote trigger is answered here (it is
		// checked against the job's token); anything else is the
		// controllers' to refuse.
		if q.job != "" && len(segs) == 1 && (segs[0] == "build" || segs[0] == "buildWithParameters") {
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

// fleetPath is a cheap first look: could this path be ours?
func fleetPath(p string) bool {
	switch {
	case strings.HasPrefix(p, "/job/"), strings.HasPrefix(p, "/queue/"), strings.HasPrefix(p, "/computer/"),
		p == "/api/json", p == "/api/json/", strings.HasPrefix(p, "/createItem"):
		return true
	}
	return false
}

// remoteTriggerPath: a trigger with ?token= and no credentials.
func remoteTriggerPath(r *http.Request) bool {
	return (strings.HasSuffix(r.URL.Path, "/build") || strings.HasSuffix(r.URL.Path, "/buildWithParameters") ||
		strings.HasSuffix(r.URL.Path, "/build/") || strings.HasSuffix(r.URL.Path, "/buildWithParameters/")) &&
		strings.Contains(r.URL.RawQuery, "token=")
}

// segments splits the escaped path into unescaped segments, dropping empty
// ones (clients send "//" and trailing slashes).
func segments(u *url.URL) ([]string, bool) {
	raw := strings.Split(u.EscapedPath(), "/")
	out := raw[:0]
	for _, s := range raw {
		if s == "" {
			continue
		}
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

type handler func(*req)

// route picks the handler for q, nil when the request is proxied.
func (f *Front) route(q *req) handler {
	m, rest := q.r.Method, q.rest
	get := m == http.MethodGet || m == http.MethodHead
	is := func(want ...string) bool {
		if len(rest) != len(want) {
			return false
		}
		for i := range want {
			if rest[i] != want[i] {
				return false
			}
		}
		return true
	}
	if q.job == "" {
		switch {
		case len(rest) >= 2 && rest[0] == "computer" && rest[1] != "api":
			return f.computerRoute(q)
		case is("api", "json") && get:
			return f.serveRoot
		case is("computer", "api", "json") && get:
			return f.serveComputers
		case is("queue", "api", "json") && get:
			return f.serveQueue
		case is("queue", "cancelItem"):
			return f.serveCancelItem
		case len(rest) >= 3 && rest[0] == "queue" && rest[1] == "item":
			return f.queueItemRoute(q)
		case is("createItem") && m == http.MethodPost && f.jobs != nil:
			return f.serveCreateItem
		}
		return nil
	}
	switch {
	case is("build") || is("buildWithParameters"):
		return f.serveTrigger
	case is("api", "json") && get:
		return f.serveJob
	case is("createItem") && m == http.MethodPost && f.jobs != nil:
		return f.serveCreateItem
	case is("config.xml") && (m == http.MethodPost || get) && f.jobs != nil:
		return func(q *req) {
			if f.authenticate(q, q.job) {
				f.jobs.ServeConfigXML(f.changes(q), q.r, q.cluster, q.job)
			}
		}
	case (is("doDelete") && m == http.MethodPost || len(rest) == 0 && m == http.MethodDelete) && f.jobs != nil:
		return func(q *req) {
			if f.authenticate(q, q.job) {
				f.jobs.ServeDelete(f.changes(q), q.r, q.cluster, q.job)
			}
		}
	case len(rest) >= 1 && (isNumber(rest[0]) || dispatch.IsPermalink(rest[0])):
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
	return func(q *req) { f.proxyTo(q, id, "/computer/"+url.PathEscape(name)+"/", q.rest[2:]) }
}

func (f *Front) queueItemRoute(q *req) handler {
	rest := q.rest
	id, err := strconv.ParseInt(rest[2], 10, 64)
	if err != nil || id <= 0 {
		return nil
	}
	tail := rest[3:]
	get := q.r.Method == http.MethodGet || q.r.Method == http.MethodHead
	switch {
	case len(tail) == 2 && tail[0] == "api" && tail[1] == "json" && get:
		return func(q *req) { f.serveQueueItem(q, id) }
	case len(tail) == 0 && get:
		return func(q *req) { f.serveQueueItemPage(q, id) }
	case len(tail) == 1 && tail[0] == "cancelQueue" && q.r.Method == http.MethodPost:
		return func(q *req) { f.serveCancelQueue(q, id) }
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
	return &jobWrite{ResponseWriter: q.w, done: func() { f.builds.JobsChanged(q.cluster) }}
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

func isNumber(s string) bool {
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

// jsonOptions reads tree=, depth= and pretty as Stapler does; a malformed
// tree is a 500, as on Jenkins.
func jsonOptions(q *req) (stapler.Options, bool) {
	v := q.r.URL.Query()
	opts := stapler.Options{Pretty: v.Has("pretty")}
	if v.Has("tree") {
		t, err := stapler.ParseTree(v.Get("tree"))
		if err != nil {
			serverError(q.w, err.Error())
			return opts, false
		}
		opts.Tree = t
	} else if d := v.Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			serverError(q.w, "Depth parameter must be a number")
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
	if v, ok := q.front.version.Load().(string); ok {
		h.Set("X-Jenkins", v)
	}
	h.Set("X-Jenkins-Session", q.front.session)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if q.r.Method == http.MethodHead {
		return
	}
	_, _ = q.w.Write(body)
}

func page(w http.ResponseWriter, status int, title, bodyHTML string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>" + html.EscapeString(title) + " [Jenkins]</title></head><body>" + bodyHTML + "</body></html>\n"))
}

func notFound(w http.ResponseWriter) {
	page(w, http.StatusNotFound, "Not Found", "<h2>Not Found</h2><p>This page may not exist, or you may not have permission to see it.</p>")
}

// failure is Jenkins' hudson.model.Failure: the message in X-Error and on
// a page.
func failure(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("X-Error", jenkins.HeaderSafe(msg))
	page(w, status, "Error", "<h1>Error</h1><p>"+html.EscapeString(msg)+"</p>")
}

func serverError(w http.ResponseWriter, msg string) {
	page(w, http.StatusInternalServerError, "Oops!", "<h2>A problem occurred while processing the request</h2><pre>"+html.EscapeString(msg)+"</pre>")
}

// unavailable answers 503 when no controller can serve what is asked.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "5")
	w.Header()["Content-Type"] = textType
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("jenkinds: " + msg + "\n"))
}

// requirePOST answers 405 as Stapler's @RequirePOST does.
func requirePOST(w http.ResponseWriter) {
	w.Header().Set("Allow", "POST")
	page(w, http.StatusMethodNotAllowed, "Error", "<h1>Error</h1><p>This URL requires POST</p>")
}
