package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Proxy is the front door.
type Proxy struct {
	cfg     Config
	pool    *controller.Pool
	log     *slog.Logger
	metrics *Metrics
	rp      *httputil.ReverseProxy
	tr      *http.Transport

	hosts    atomic.Pointer[hostMap] // Host -> cluster, cached per pool version
	targets  sync.Map                // controller URL string -> *url.URL
	affinity sync.Map                // JSESSIONID.<hex> cookie name -> controller id
	health   Health
	agents   agentDirectory
	tcp      tcpPassThrough
}

// Health is the health authority the front door reports to (passive
// health): every answer, every failed attempt, and every request a
// controller left unanswered past the hedge deadline. *health.Monitor is
// one. It decides; the front door only reads the verdicts on the pool.
type Health interface {
	Answered(rt *controller.Runtime, session string)
	Failure(rt *controller.Runtime, err error)
	Hung(rt *controller.Runtime, deadline time.Duration)
}

type hostMap struct {
	version uint64
	byHost  map[string]string
}

// New returns a front door over pool, reporting to health. metrics may be
// nil.
func New(cfg Config, pool *controller.Pool, health Health, log *slog.Logger, metrics *Metrics) *Proxy {
	cfg = cfg.withDefaults()
	tr := &http.Transport{
		Proxy:                 nil, // only registered controllers are ever dialled
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
		ForceAttemptHTTP2:     false,
	}
	p := &Proxy{cfg: cfg, pool: pool, health: health, log: log, metrics: metrics, tr: tr}
	p.agents.init()
	p.tcp.init(p)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &attempts{p: p},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return p
}

// Run keeps the agent directory fresh until ctx ends, then closes the TCP
// pass-through listeners.
func (p *Proxy) Run(ctx context.Context) error {
	defer p.tcp.closeAll()
	t := time.NewTicker(p.cfg.AgentRefresh)
	defer t.Stop()
	for {
		p.refreshAgents(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reqState travels with a request through the proxy.
type reqState struct {
	cluster string
	rt      *controller.Runtime // chosen first
	browser bool                // a browser session (no Authorization header)
	hedge   bool                // short idempotent API request
	replay  bool                // idempotent without a body: may go to another controller
	in      *http.Request       // the client's request
	served  *controller.Runtime // the controller that answered
	start   time.Time
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	return st
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if simulatorOnly(r.URL.Path) {
		jenkins.NotFound(w) // what a Jenkins controller answers there
		return
	}
	st := &reqState{start: time.Now(), cluster: p.clusterFor(r.Host), browser: r.Header.Get("Authorization") == "", in: r}
	upgrade := r.Header.Get("Upgrade") != ""
	idempotent := (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions) &&
		(r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) && !upgrade
	st.replay = idempotent
	st.hedge = idempotent && !st.browser && p.cfg.HedgeAfter > 0 && !longLived(r.URL.Path)
	if _, pinned := r.Context().Value(pinKey{}).(int64); pinned {
		st.replay, st.hedge = false, false // only that controller has what is asked for
	}

	rt, err := p.choose(r, st)
	if err != nil {
		p.unavailable(w, r, st, err)
		return
	}
	st.rt = rt
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	if p.cfg.AccessLog {
		name := ""
		if st.served != nil {
			name = st.served.Instance().Name
		}
		p.log.Info("request", "method", r.Method, "path", r.URL.Path, "cluster", st.cluster, "controller", name,
			"duration", time.Since(st.start).Round(time.Microsecond), "remote", r.RemoteAddr)
	}
}

// simulatorOnly reports a path of the Jenkins simulator's own fault API
// (/__sim/), in any spelling: it is never proxied, or anyone who reaches
// the front door could take the simulated controllers down.
func simulatorOnly(p string) bool {
	if !strings.Contains(p, "__sim") {
		return false // the common case, without allocating
	}
	c := path.Clean("/" + p)
	return c == "/__sim" || strings.HasPrefix(c, "/__sim/")
}

// longLived are routes never hedged: streams, downloads, agents, the CLI.
func longLived(path string) bool {
	for _, s := range []string{"/logText/", "/consoleText", "/consoleFull", "/artifact/", "/ws/", "/wsagents", "/cli", "/jnlpJars/", "/descriptorByName/", "/timestamps/", "/execution/"} {
		if strings.Contains(path, s) {
			return true
		}
	}
	return strings.HasSuffix(path, ".zip") || strings.HasSuffix(path, ".jar") || strings.HasSuffix(path, ".tar.gz")
}

// clusterFor maps a Host to its cluster.
func (p *Proxy) clusterFor(host string) string {
	hm := p.hosts.Load()
	if v := p.pool.Version(); hm == nil || hm.version != v {
		hm = &hostMap{version: v, byHost: map[string]string{}}
		for _, rt := range p.pool.All() {
			inst := rt.Instance()
			if inst.LoadBalancerURL == "" {
				continue
			}
			if u, err := url.Parse(inst.LoadBalancerURL); err == nil && u.Host != "" {
				hm.byHost[strings.ToLower(u.Host)] = inst.ClusterID
				hm.byHost[strings.ToLower(u.Hostname())] = inst.ClusterID
			}
		}
		p.hosts.Store(hm)
	}
	if len(hm.byHost) > 0 {
		if c, ok := hm.byHost[strings.ToLower(host)]; ok {
			return c
		}
	}
	return p.cfg.DefaultCluster
}

// ClusterFor returns the cluster whose loadBalancerUrl has host, else the
// default cluster.
func (p *Proxy) ClusterFor(host string) string { return p.clusterFor(host) }

// AgentOwner returns the controller that agent belongs to in cluster, as
// the agent directory last read it.
func (p *Proxy) AgentOwner(cluster, agent string) (int64, bool) {
	return p.agents.owner(cluster, agent)
}

type pinKey struct{}

// Pin binds r to controller id: the front door sends it there and nowhere
// else (no retry, no hedging), or answers 503 when id cannot serve.
func Pin(r *http.Request, id int64) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), pinKey{}, id))
}

// choose picks the controller for a request.
func (p *Proxy) choose(r *http.Request, st *reqState) (*controller.Runtime, error) {
	if id, ok := r.Context().Value(pinKey{}).(int64); ok {
		rt := p.pool.Get(id)
		if rt != nil && usable(rt) {
			return rt, nil
		}
		if rt != nil {
			why := "inactive"
			if rt.Instance().IsActive {
				why = "unhealthy: " + rt.Facts().Reason
			}
			return nil, fmt.Errorf("controller %s, which holds what was asked for, is %s", rt.Name(), why)
		}
		return nil, fmt.Errorf("controller %d, which holds what was asked for, is no longer registered", id)
	}
	if strings.HasPrefix(r.URL.Path, "/wsagents") {
		if name := r.Header.Get("Node-Name"); name != "" {
			if id, ok := p.agents.owner(st.cluster, name); ok {
				if rt := p.pool.Get(id); rt != nil && usable(rt) {
					return rt, nil
				}
			}
		}
	}
	if st.browser {
		if rt := p.sticky(r, st.cluster); rt != nil {
			return rt, nil
		}
	}
	return p.pool.Pick(st.cluster, "")
}

// usable says whether a controller may still serve requests that are
// bound to it (sticky sessions, agents): active and not unhealthy. A
// draining controller keeps serving them.
func usable(rt *controller.Runtime) bool {
	return rt.Instance().IsActive && rt.Health() != balance.Unhealthy
}

func (p *Proxy) unavailable(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	if p.metrics != nil {
		p.metrics.unavailable.WithLabelValues(st.cluster).Inc()
	}
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "jenkinds: no Jenkins controller of cluster %q can take this request now: %v\n", st.cluster, err)
}

// forwardedPort is the port the client connected to, for X-Forwarded-Port.
func forwardedPort(r *http.Request) string {
	if i := strings.LastIndexByte(r.Host, ':'); i >= 0 && !strings.Contains(r.Host[i:], "]") {
		return r.Host[i+1:]
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// frontOrigin is the scheme://host the client used.
func frontOrigin(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host}
}

func (p *Proxy) target(rt *controller.Runtime) *url.URL {
	raw := rt.Instance().URL
	if u, ok := p.targets.Load(raw); ok {
		return u.(*url.URL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		u = &url.URL{Scheme: "http", Host: "invalid.invalid"}
	}
	p.targets.Store(raw, u)
	return u
}

// rewrite points the outgoing request at the chosen controller.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := stateOf(pr.In)
	pr.SetURL(p.target(st.rt))
	pr.SetXForwarded()
	pr.Out.Header["X-Forwarded-Port"] = []string{forwardedPort(pr.In)}
	pr.Out.Header.Del("X-Real-Ip")
}

// retarget points a request prepared for one controller at another.
func (p *Proxy) retarget(req *http.Request, from, to *controller.Runtime) {
	fu, tu := p.target(from), p.target(to)
	req.URL.Scheme, req.URL.Host = tu.Scheme, tu.Host
	if fu.Path != tu.Path {
		rest := strings.TrimPrefix(req.URL.Path, strings.TrimSuffix(fu.Path, "/"))
		req.URL.Path = strings.TrimSuffix(tu.Path, "/") + rest
		req.URL.RawPath = ""
	}
	req.Host = ""
}

// modifyResponse rewrites what the controller said for the front door.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := stateOf(resp.Request)
	if st == nil {
		return nil
	}
	rt := st.served
	if rt == nil {
		rt = st.rt
	}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if loc := resp.Header.Get("Location"); loc != "" {
			resp.Header.Set("Location", p.rewriteLocation(loc, rt, frontOrigin(st.in)))
		}
	}
	for _, c := range resp.Header["Set-Cookie"] {
		if strings.HasPrefix(c, "JSESSIONID.") {
			if name, _, ok := strings.Cut(c, "="); ok {
				p.affinity.Store(name, rt.ID())
			}
		}
	}
	if st.browser {
		p.setAffinity(resp, rt)
	}
	if strings.HasPrefix(resp.Request.URL.Path, strings.TrimSuffix(p.target(rt).Path, "/")+"/tcpSlaveAgentListener") {
		p.tcp.rewriteHeaders(resp, rt, frontOrigin(st.in))
	}
	return nil
}

// rewriteLocation maps a Location that points at the controller (or is
// path-absolute) onto the front door's origin, keeping path, query and
// trailing slash.
func (p *Proxy) rewriteLocation(loc string, rt *controller.Runtime, front *url.URL) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	t := p.target(rt)
	if u.Host != "" && !strings.EqualFold(u.Host, t.Host) {
		return loc // somewhere else entirely: leave it
	}
	u.Scheme, u.Host = front.Scheme, front.Host
	if base := strings.TrimSuffix(t.Path, "/"); base != "" {
		u.Path = strings.TrimPrefix(u.Path, base)
		u.RawPath = ""
	}
	return u.String()
}

// errorHandler answers when every attempt failed.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	if r.Context().Err() != nil {
		return // the client went away
	}
	name := ""
	if st != nil && st.served != nil {
		name = st.served.Instance().Name
	} else if st != nil && st.rt != nil {
		name = st.rt.Instance().Name
	}
	p.log.Warn("proxy request failed", "cluster", st.cluster, "controller", name, "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, ok := err.(noneLeftError); ok {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	} else {
		w.WriteHeader(http.StatusBadGateway)
	}
	fmt.Fprintf(w, "jenkinds: the Jenkins controller %s did not answer: %v\n", name, err)
}

type bufferPool struct{}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(bufs.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { bufs.Put(&b) }
