package workerapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// Prefix is the path the worker API serves under.
const Prefix = "/api/v1/jobs/"

// Queue is the part of the job queue the worker API drives; *queue.Queue
// is one.
type Queue interface {
	LeaseWait(ctx context.Context, cluster, workerID string, ttl, wait time.Duration) (queue.Job, error)
	Get(ctx context.Context, id int64) (queue.Job, error)
	Extend(ctx context.Context, id int64, leaseToken string, ttl time.Duration) (queue.Job, error)
	Complete(ctx context.Context, id int64, leaseToken, result string, exitCode int) (queue.Job, error)
	Fail(ctx context.Context, id int64, leaseToken, reason string, retry bool) (queue.Job, error)
}

var _ Queue = (*queue.Queue)(nil)

// Options is what the worker API is built from.
type Options struct {
	// Config tunes it; zero fields take their defaults.
	Config Config
	// Queue hands out and fences jobs. Required.
	Queue Queue
	// Clusters reads the registry for keys and state. Required.
	Clusters buildcluster.Lister
	// Logs stores uploaded logs. Required.
	Logs *LogStore
	// Metrics counts rejections, deliveries and lost leases. Default:
	// unregistered counters.
	Metrics *Metrics
	// Logger gets rejections and internal errors, never a token. Default:
	// discard.
	Logger *slog.Logger
	// Now is the clock tokens are checked against. Default: time.Now.
	Now func() time.Time
}

// API is the worker API's http.Handler (doc.go has the routes).
type API struct {
	cfg     Config
	queue   Queue
	logs    *LogStore
	verify  *verifier
	metrics *Metrics
	log     *slog.Logger
	mux     *http.ServeMux
	jobs    jobClusters
}

// New returns the worker API.
func New(o Options) (*API, error) {
	if o.Queue == nil || o.Clusters == nil || o.Logs == nil {
		return nil, errors.New("worker API: Queue, Clusters and Logs are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: o.Config.withDefaults(), queue: o.Queue, logs: o.Logs, metrics: o.Metrics, log: o.Logger, mux: http.NewServeMux()}
	if a.metrics == nil {
		a.metrics = NewMetrics(nil)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a.verify = newVerifier(a.cfg, o.Clusters, now)
	a.mux.HandleFunc("GET "+Prefix+"{buildCluster}", a.authenticated(a.claim))
	for _, c := range []struct {
		name  string
		read  bool // the handler needs the job as it is now
		serve func(http.ResponseWriter, *http.Request, call) error
	}{
		{"extend", false, a.extend}, {"complete", false, a.complete}, {"fail", false, a.failJob}, {"log", true, a.appendLog},
	} {
		a.mux.HandleFunc("POST "+Prefix+"{buildCluster}/{jobId}/"+c.name, a.authenticated(a.onJob(c.name, c.read, c.serve)))
	}
	return a, nil
}

// Metrics are the API's counters.
func (a *API) Metrics() *Metrics { return a.metrics }

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.unrouted(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// unrouted answers 405 for a worker route asked with the wrong method,
// else 404.
func (a *API) unrouted(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.WithContext(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" {
			w.Header().Set("Allow", m)
			writeError(w, &apiError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, m), "", nil})
			return
		}
	}
	writeError(w, &apiError{http.StatusNotFound, CodeNotFound, fmt.Sprintf(
		"no worker route %s %s: the routes are GET %s{buildCluster}?wait=SECONDS and POST %s{buildCluster}/{jobId}/extend|complete|fail|log",
		r.Method, r.URL.Path, Prefix, Prefix), "", nil})
}

// identityKey carries a request's verified Identity to its handler.
type identityKey struct{}

// authenticated runs serve for requests whose token verifies for the
// {buildCluster} of their path; others get their rejection.
func (a *API) authenticated(serve func(http.ResponseWriter, *http.Request, Identity) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cluster := r.PathValue("buildCluster")
		id, err := a.authenticate(r, cluster)
		if err == nil {
			err = serve(w, r, id)
		}
		if err != nil {
			a.answer(w, r, cluster, err)
		}
	}
}

// authenticate verifies the request's bearer token for cluster.
func (a *API) authenticate(r *http.Request, cluster string) (Identity, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Identity{}, unauthorized(ReasonMissingToken,
			"send 'Authorization: Bearer <JWT>', a token signed with the cluster's private key (jenkinds worker does this)")
	}
	return a.verify.verify(r.Context(), cluster, token)
}

// answer answers r with err: a rejection (counted and logged, without the
// token), an *apiError, or an internal error.
func (a *API) answer(w http.ResponseWriter, r *http.Request, cluster string, err error) {
	var (
		rej *Rejection
		ae  *apiError
	)
	switch {
	case errors.As(err, &rej):
		label := a.clusterLabel(r.Context(), cluster)
		a.metrics.rejections.WithLabelValues(label, rej.Reason).Inc()
		a.log.WarnContext(r.Context(), "worker request refused", "cluster", label, "reason", rej.Reason,
			"detail", rej.Detail, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		writeRejection(w, rej)
		return
	case errors.As(err, &ae):
	case errors.Is(err, context.Canceled):
		ae = &apiError{http.StatusServiceUnavailable, CodeUnavailable, "the request was canceled: the client went away or the server is shutting down", "", nil}
	default:
		a.log.ErrorContext(r.Context(), "worker request failed", "cluster", a.clusterLabel(r.Context(), cluster),
			"method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{http.StatusServiceUnavailable, CodeUnavailable, "the server cannot serve this now (its log has why): retry shortly", "", nil}
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, ae)
}

// clusterLabel is cluster as a metric label: the name when it is
// registered, unknownCluster otherwise.
func (a *API) clusterLabel(ctx context.Context, cluster string) string {
	if !clusterName(cluster) {
		return unknownCluster
	}
	ck, err := a.verify.keys.lookup(ctx, cluster)
	if err != nil || !ck.known {
		return unknownCluster
	}
	return cluster
}
