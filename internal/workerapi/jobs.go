package workerapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/queue"
)

// Claim is the answer of a claim that got a job (200).
type Claim struct {
	// Job is the job as leased: Payload is what to run (the build's spec),
	// Attempt which delivery this is.
	Job queue.Job `json:"job"`
	// LeaseToken is the lease: every later call about the job carries it.
	// Whoever has it may complete the job, so it is never logged.
	LeaseToken string `json:"leaseToken"`
	// LeaseTTLSeconds is how long the lease lasts without an extend;
	// extend every third of it.
	LeaseTTLSeconds float64 `json:"leaseTtlSeconds"`
}

// ExtendRequest is the body of POST …/{jobId}/extend.
type ExtendRequest struct {
	LeaseToken string `json:"leaseToken"`
}

// CompleteRequest is the body of POST …/{jobId}/complete: the job ran,
// whatever its outcome.
type CompleteRequest struct {
	LeaseToken string `json:"leaseToken"`
	// Result is the build's outcome: SUCCESS, FAILURE, ABORTED, UNSTABLE…
	Result   string `json:"result"`
	ExitCode int    `json:"exitCode"`
}

// FailRequest is the body of POST …/{jobId}/fail: the job could not run
// here. With retry it goes back to the queue while attempts are left.
type FailRequest struct {
	LeaseToken string `json:"leaseToken"`
	Reason     string `json:"reason"`
	Retry      bool   `json:"retry"`
}

// LogRequest is the body of POST …/{jobId}/log: the part of the attempt's
// log that starts at byte Offset. Sending the same part again (after a
// lost answer) stores it once.
type LogRequest struct {
	LeaseToken string `json:"leaseToken"`
	Offset     int64  `json:"offset"`
	Data       string `json:"data"`
}

// LogResponse is the answer of a log upload.
type LogResponse struct {
	Attempt int `json:"attempt"`
	// Stored is how many bytes of Data were kept.
	Stored int `json:"stored"`
	// Truncated says the attempt's log reached the server's limit: the
	// rest was dropped, and later parts will be too.
	Truncated bool `json:"truncated"`
}

// maxResult bounds a result word.
const maxResult = 32

// GET /api/v1/jobs/{buildCluster}?wait=SECONDS
func (a *API) claim(w http.ResponseWriter, r *http.Request, id Identity) error {
	wait, err := a.waitParam(r.URL.RawQuery)
	if err != nil {
		return err
	}
	j, err := a.queue.LeaseWait(r.Context(), id.Cluster, id.Worker, a.cfg.LeaseTTL, wait)
	switch {
	case errors.Is(err, queue.ErrEmpty):
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case err != nil:
		return err
	}
	redelivery := "no"
	if j.Attempt > 1 {
		redelivery = "yes"
	}
	a.metrics.deliveries.WithLabelValues(id.Cluster, redelivery).Inc()
	a.jobs.put(j.ID, j.Cluster)
	a.log.DebugContext(r.Context(), "job delivered", "cluster", id.Cluster, "job", j.ID, "build", j.BuildID,
		"worker", id.Worker, "attempt", j.Attempt)
	return writeJSON(w, http.StatusOK, Claim{Job: j, LeaseToken: j.LeaseToken, LeaseTTLSeconds: a.cfg.LeaseTTL.Seconds()})
}

// waitParam reads ?wait=SECONDS (0 when absent), cut to MaxWait.
func (a *API) waitParam(rawQuery string) (time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, badParam("", "malformed query string: "+err.Error())
	}
	for k, v := range q {
		if k != "wait" {
			return 0, badParam(k, fmt.Sprintf("unknown query parameter %q: a claim takes wait=SECONDS", k))
		}
		if len(v) > 1 {
			return 0, badParam(k, "wait is given more than once")
		}
	}
	s := q.Get("wait")
	if s == "" {
		return 0, nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, badParam("wait", fmt.Sprintf("wait must be a number of seconds, 0 or more (at most %s is used)", a.cfg.MaxWait))
	}
	return min(time.Duration(secs*float64(time.Second)), a.cfg.MaxWait), nil
}

// call is one of the calls about a leased job: its id, the cluster whose
// token made the call, and, for a log upload, the job as read before it.
type call struct {
	id      int64
	cluster string
	job     queue.Job
}

// onJob reads {jobId}, checks that the job is in the cluster's queue, and
// runs serve with it; a lost lease is counted. read says serve needs the
// job itself (its lease and attempt); otherwise the job's cluster may come
// from the cache of what claims handed out, which spares a read on the
// claim-extend-complete path.
func (a *API) onJob(name string, read bool, serve func(http.ResponseWriter, *http.Request, call) error) func(http.ResponseWriter, *http.Request, Identity) error {
	return func(w http.ResponseWriter, r *http.Request, id Identity) error {
		s := r.PathValue("jobId")
		jobID, err := strconv.ParseInt(s, 10, 64)
		if err != nil || jobID <= 0 || s[0] == '+' {
			return badParam("jobId", fmt.Sprintf("jobId must be a positive integer, not %q", shorten(s)))
		}
		c := call{id: jobID, cluster: id.Cluster}
		cluster, cached := a.jobs.cluster(jobID)
		if read || !cached {
			c.job, err = a.queue.Get(r.Context(), jobID)
			switch {
			case errors.Is(err, queue.ErrNotFound):
				return notInQueue(jobID, id.Cluster)
			case err != nil:
				return err
			}
			cluster = c.job.Cluster
		}
		if cluster != id.Cluster {
			// The same answer as for a job that does not exist: a cluster
			// learns nothing of another's queue.
			return notInQueue(jobID, id.Cluster)
		}
		err = serve(w, r, c)
		if errors.Is(err, queue.ErrLeaseLost) {
			a.metrics.leaseLost.WithLabelValues(id.Cluster, name).Inc()
			a.log.InfoContext(r.Context(), "stale lease refused", "cluster", id.Cluster, "job", jobID, "call", name, "worker", id.Worker)
		}
		return err
	}
}

// maxCachedJobs bounds the cache of job clusters; past it the cache starts
// over (a miss only costs a read).
const maxCachedJobs = 100_000

// jobClusters remembers the cluster of the jobs claims handed out. A job
// never changes cluster, so an entry is never wrong, only possibly absent.
type jobClusters struct {
	mu sync.Mutex
	m  map[int64]string
}

func (c *jobClusters) cluster(id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[id]
	return cl, ok
}

func (c *jobClusters) put(id int64, cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedJobs {
		c.m = map[int64]string{}
	}
	c.m[id] = cluster
}

func (c *jobClusters) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

func notInQueue(jobID int64, cluster string) *apiError {
	return &apiError{http.StatusNotFound, CodeNotFound, fmt.Sprintf("job %d is not in the queue of build cluster %q", jobID, cluster), "jobId", nil}
}

// POST …/{jobId}/extend
func (a *API) extend(w http.ResponseWriter, r *http.Request, c call) error {
	var req ExtendRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := needToken(req.LeaseToken); err != nil {
		return err
	}
	j, err := a.queue.Extend(r.Context(), c.id, req.LeaseToken, a.cfg.LeaseTTL)
	if err != nil {
		return queueError(err)
	}
	return writeJSON(w, http.StatusOK, j)
}

// POST …/{jobId}/complete
func (a *API) complete(w http.ResponseWriter, r *http.Request, c call) error {
	var req CompleteRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := needToken(req.LeaseToken); err != nil {
		return err
	}
	if !resultWord(req.Result) {
		return &apiError{http.StatusBadRequest, CodeInvalidField,
			fmt.Sprintf("result must be an outcome word of 1 to %d capital letters or '_', e.g. SUCCESS or FAILURE", maxResult), "result", nil}
	}
	j, err := a.queue.Complete(r.Context(), c.id, req.LeaseToken, req.Result, req.ExitCode)
	if err != nil {
		return queueError(err)
	}
	a.jobs.forget(j.ID)
	a.log.DebugContext(r.Context(), "job completed", "cluster", c.cluster, "job", j.ID, "result", j.Result, "attempt", j.Attempt)
	return writeJSON(w, http.StatusOK, j)
}

// POST …/{jobId}/fail
func (a *API) failJob(w http.ResponseWriter, r *http.Request, c call) error {
	var req FailRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := needToken(req.LeaseToken); err != nil {
		return err
	}
	j, err := a.queue.Fail(r.Context(), c.id, req.LeaseToken, req.Reason, req.Retry)
	if err != nil {
		return queueError(err)
	}
	if j.State.Finished() {
		a.jobs.forget(j.ID)
	}
	a.log.InfoContext(r.Context(), "job failed by its worker", "cluster", c.cluster, "job", j.ID, "state", j.State,
		"attempt", j.Attempt, "retry", req.Retry, "err", j.Error)
	return writeJSON(w, http.StatusOK, j)
}

// POST …/{jobId}/log
func (a *API) appendLog(w http.ResponseWriter, r *http.Request, c call) error {
	var req LogRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := needToken(req.LeaseToken); err != nil {
		return err
	}
	if req.Offset < 0 {
		return &apiError{http.StatusBadRequest, CodeInvalidField, "offset must be 0 or more: the byte of the log where data starts", "offset", nil}
	}
	// The log goes to the attempt the token holds; a token that no longer
	// holds the job writes nothing.
	j := c.job
	if j.State != queue.StateLeased || subtle.ConstantTimeCompare([]byte(j.LeaseToken), []byte(req.LeaseToken)) != 1 {
		return queueError(&queue.LeaseLostError{ID: j.ID, State: j.State, Attempt: j.Attempt})
	}
	stored, truncated, err := a.logs.Append(r.Context(), j.ID, j.Attempt, req.Offset, req.Data)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, LogResponse{Attempt: j.Attempt, Stored: stored, Truncated: truncated})
}

func needToken(token string) error {
	if token == "" {
		return &apiError{http.StatusBadRequest, CodeInvalidField, "leaseToken is required: the one the claim answered with", "leaseToken", nil}
	}
	return nil
}

// resultWord reports whether s is 1 to maxResult of [A-Z_].
func resultWord(s string) bool {
	if s == "" || len(s) > maxResult {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r == '_') {
			return false
		}
	}
	return true
}

// queueError gives the queue's errors their answers.
func queueError(err error) error {
	var (
		lost *queue.LeaseLostError
		ve   *queue.ValidationError
	)
	switch {
	case errors.As(err, &lost):
		return &apiError{http.StatusConflict, CodeLeaseLost, lost.Error(), "leaseToken", err}
	case errors.Is(err, queue.ErrLeaseLost):
		return &apiError{http.StatusConflict, CodeLeaseLost, err.Error(), "leaseToken", err}
	case errors.Is(err, queue.ErrNotFound):
		return &apiError{http.StatusNotFound, CodeNotFound, err.Error(), "jobId", err}
	case errors.As(err, &ve):
		return &apiError{http.StatusBadRequest, CodeInvalidField, ve.Error(), ve.Field, err}
	}
	return err
}
