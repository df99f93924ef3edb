package api

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/jenkinds/jenkinds/internal/auth"
)

// Prefix is the path under which every route needs the admin token.
const Prefix = "/api/v1/"

// DefaultMaxBodyBytes is the default limit of a request body.
const DefaultMaxBodyBytes = 1 << 20

// Config is what the API is built from.
type Config struct {
	// Registry stores the instances. Required.
	Registry Registry
	// Checker runs health checks on demand. Required.
	Checker Checker
	// Picker chooses instances. Required.
	Picker Picker
	// Prober talks to Jenkins controllers. Required.
	Prober Prober
	// AdminToken is the bearer token every route under /api/v1 requires
	// (see auth.LoadAdminToken). Required.
	AdminToken string
	// Ready reports whether the server can serve, for /readyz: nil when
	// it can, else why not. Default: always ready.
	Ready func(ctx context.Context) error
	// Metrics is served at /metrics without the admin token. Default: nil,
	// /metrics is not served.
	Metrics http.Handler
	// Logger gets internal errors and the changes made to the registry.
	// Default: a logger that discards.
	Logger *slog.Logger
	// MaxBodyBytes is the largest request body accepted; larger ones get
	// 413. Default: 1 MiB.
	MaxBodyBytes int64

	// BuildClusters is the build cluster registry behind
	// /api/v1/buildClusters. Default: nil, those routes answer 501
	// not_enabled.
	BuildClusters BuildClusters
	// BuildRouter and BuildQueue route and queue pipeline builds (POST
	// /api/v1/builds, GET /api/v1/queue/jobs/{id}); JobLogs reads the logs
	// workers upload. Default: nil, those routes answer 501 not_enabled.
	BuildRouter BuildRouter
	BuildQueue  BuildQueue
	JobLogs     JobLogs

	// Builds accepts, lists, cancels and reads the console of builds on
	// the Jenkins controllers of the fleet (POST /api/v1/builds with
	// clusterId, /api/v1/builds/{id}…); *dispatch.Service is one.
	// Default: nil, those routes answer 501 not_enabled.
	Builds Builds

	// Drift compares the job definitions of a cluster's controllers (GET
	// /api/v1/clusters/{clusterId}/drift); *jobsync.Service is one.
	// Default: nil, that route answers 501 not_enabled.
	Drift DriftChecker
	// PluginDrift compares the Jenkins versions and plugins of a cluster's
	// controllers, answered beside the job drift (GET
	// /api/v1/clusters/{clusterId}/drift, "plugins"); *plugins.Checker is
	// one. Default: nil, no "plugins" in that answer.
	PluginDrift PluginDriftChecker

	// Events is the health authority's event log (GET /api/v1/events,
	// GET /api/v1/instances/{id}/events); *health.Monitor is one.
	// Default: nil, those routes answer 501 not_enabled.
	Events HealthEvents
	// Policies keeps the re-dispatch policies of clusters and jobs
	// (/api/v1/clusters/{clusterId}/redispatch-policy,
	// /api/v1/redispatch-policies); *dispatch.Service is one. Default:
	// nil, those routes answer 501 not_enabled.
	Policies RedispatchPolicies
}

// Validate says which required field is missing.
func (c Config) Validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Registry", c.Registry != nil},
		{"Checker", c.Checker != nil},
		{"Picker", c.Picker != nil},
		{"Prober", c.Prober != nil},
		{"AdminToken", c.AdminToken != ""},
	} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("api config: %s required", strings.Join(missing, ", "))
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("api config: MaxBodyBytes is %d: must be positive, or 0 for the default", c.MaxBodyBytes)
	}
	return nil
}

// handler serves the API.
type handler struct {
	registry Registry
	checker  Checker
	picker   Picker
	prober   Prober
	ready    func(context.Context) error
	log      *slog.Logger
	maxBody  int64
	clusters BuildClusters
	router   BuildRouter
	queue    BuildQueue
	logs     JobLogs
	builds   Builds
	drift    DriftChecker
	plugins  PluginDriftChecker
	events   HealthEvents
	policies RedispatchPolicies

	mux      *http.ServeMux // every route in routes
	patterns []string       // what mux serves, "METHOD /path"
	unrouted http.Handler   // 404 or 405 for what mux does not serve
	// literal maps each route path without wildcards to its methods.
	literal map[string][]string
}

// route is one method and path the API serves; the path is an
// http.ServeMux pattern, and the same string is the OpenAPI path.
type route struct {
	method, path string
	serve        http.Handler
}

// New returns the API's handler: the admin REST API under /api/v1 (every
// route behind auth.Middleware) and /healthz, /readyz and /metrics without
// authentication. See the package documentation for the routes.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{
		registry: cfg.Registry,
		checker:  cfg.Checker,
		picker:   cfg.Picker,
		prober:   cfg.Prober,
		ready:    cfg.Ready,
		log:      cfg.Logger,
		maxBody:  cfg.MaxBodyBytes,
		clusters: cfg.BuildClusters,
		router:   cfg.BuildRouter,
		queue:    cfg.BuildQueue,
		logs:     cfg.JobLogs,
		builds:   cfg.Builds,
		drift:    cfg.Drift,
		plugins:  cfg.PluginDrift,
		events:   cfg.Events,
		policies: cfg.Policies,
		mux:      http.NewServeMux(),
		literal:  map[string][]string{},
	}
	if h.ready == nil {
		h.ready = func(context.Context) error { return nil }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	guard := func(next http.Handler) http.Handler { return auth.Middleware(cfg.AdminToken, next) }
	register := func(method, path string, serve http.Handler) {
		if strings.HasPrefix(path, Prefix) {
			serve = guard(serve)
		}
		h.mux.Handle(method+" "+path, serve)
	}
	for _, rt := range h.routes(cfg.Metrics) {
		register(rt.method, rt.path, rt.serve)
		h.patterns = append(h.patterns, rt.method+" "+rt.path)
		if !strings.Contains(rt.path, "{") {
			h.literal[rt.path] = append(h.literal[rt.path], rt.method)
		}
	}
	unrouted := http.HandlerFunc(h.serveUnrouted)
	h.unrouted = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			guard(unrouted).ServeHTTP(w, r) // unknown API paths need the token too
			return
		}
		unrouted(w, r)
	})
	return h, nil
}

// routes lists every route; metrics may be nil.
func (h *handler) routes(metrics http.Handler) []route {
	rs := []route{
		{"POST", "/api/v1/instances", h.handle(h.createInstance)},
		{"GET", "/api/v1/instances", h.handle(h.listInstances)},
		{"GET", "/api/v1/instances/{id}", h.handle(h.getInstance)},
		{"PATCH", "/api/v1/instances/{id}", h.handle(h.updateInstance)},
		{"DELETE", "/api/v1/instances/{id}", h.handle(h.deleteInstance)},
		{"GET", "/api/v1/instances/{id}/stats", h.handle(h.instanceStats)},
		{"POST", "/api/v1/instances/{id}/drain", h.handle(h.drain(true))},
		{"POST", "/api/v1/instances/{id}/undrain", h.handle(h.drain(false))},
		{"POST", "/api/v1/instances/test-connection", h.handle(h.testConnection)},
		{"GET", "/api/v1/optimal-instance", h.handle(h.optimalInstance)},
		{"GET", "/api/v1/clusters", h.handle(h.listClusters)},
		{"GET", "/api/v1/clusters/{clusterId}/primary", h.handle(h.primary)},
		{"POST", "/api/v1/clusters/{clusterId}/failover", h.handle(h.failover)},
		{"GET", "/api/v1/clusters/{clusterId}/drift", h.handle(h.clusterDrift)},
		{"POST", "/api/v1/health-checks", h.handle(h.runHealthChecks)},
		{"GET", "/api/v1/openapi.json", h.handle(h.openAPI)},
		{"GET", "/healthz", h.handle(h.healthz)},
		{"GET", "/readyz", h.handle(h.readyz)},
	}
	rs = append(rs, h.buildClusterRoutes()...)
	rs = append(rs, h.controllerBuildRoutes()...)
	rs = append(rs, h.eventRoutes()...)
	rs = append(rs, h.policyRoutes()...)
	if metrics != nil {
		rs = append(rs, route{"GET", "/metrics", metrics})
	}
	return rs
}

// handle adapts a handler that returns its error to http.Handler.
func (h *handler) handle(serve func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := serve(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := h.mux.Handler(r)
	// A literal path is only its own routes', even where a wildcard route
	// of another method matches it too: GET /api/v1/instances/test-connection
	// is a 405, not GET …/{id} saying "id must be a positive integer".
	_, isLiteral := h.literal[r.URL.Path]
	if pattern == "" || isLiteral && strings.Contains(pattern, "{") {
		h.unrouted.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// probeMethods are the methods serveUnrouted tries to fill Allow.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// serveUnrouted answers a request no route serves: 405 with Allow when the
// path has routes for other methods, else 404, both as JSON errors.
func (h *handler) serveUnrouted(w http.ResponseWriter, r *http.Request) {
	if methods, ok := h.literal[r.URL.Path]; ok {
		h.notAllowed(w, r, allowed(methods))
		return
	}
	var allow []string
	for _, m := range probeMethods {
		probe := r.WithContext(r.Context()) // a shallow copy
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		h.notAllowed(w, r, allow)
		return
	}
	h.fail(w, r, &problem{http.StatusNotFound, CodeNotFound,
		fmt.Sprintf("no route %s %s: the routes are listed in %sopenapi.json", r.Method, r.URL.Path, Prefix), ""})
}

// notAllowed answers 405 with Allow.
func (h *handler) notAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.fail(w, r, &problem{http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")), ""})
}

// allowed returns methods in probeMethods order, with HEAD after GET.
func allowed(methods []string) []string {
	var out []string
	for _, m := range probeMethods {
		if slices.Contains(methods, m) || m == http.MethodHead && slices.Contains(methods, http.MethodGet) {
			out = append(out, m)
		}
	}
	return out
}

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.0 document of this API.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, openAPIDocument)
	return nil
}
