package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// Builds is the durable build engine of Jenkins-controller builds, behind
// /api/v1/builds/{id} and the controller-build form of POST
// /api/v1/builds; *dispatch.Service is one. Its errors are mapped by
// classifyDispatch.
type Builds interface {
	Submit(ctx context.Context, req dispatch.Request) (dispatch.Build, error)
	Get(ctx context.Context, id int64) (dispatch.Build, error)
	List(ctx context.Context, f dispatch.Filter) ([]dispatch.Build, error)
	// Cancel cancels a build that waits (accepted, placed) and stops a
	// running one; dispatch.ErrFinished when it already ended.
	Cancel(ctx context.Context, id int64) (dispatch.Build, error)
	Log(ctx context.Context, id int64, start int64) (text []byte, next int64, more bool, err error)
}

var _ Builds = (*dispatch.Service)(nil)

// Build is a Jenkins-controller build as GET /api/v1/builds/{id}, POST
// /api/v1/builds and …/cancel answer it: the stored build with every
// attempt, each naming its controller.
type Build struct {
	dispatch.Build
	// Attempts are the build's placements on controllers, oldest first;
	// [] while it waits for the first.
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one placement of a build, with its controller's name ("" when
// the controller is no longer registered). Its fields are
// dispatch.Attempt's, promoted: a.Attempt is the attempt's number.
type Attempt struct {
	dispatchAttempt
	ControllerName string `json:"controllerName"`
}

// dispatchAttempt embeds dispatch.Attempt in Attempt under a name that does
// not hide its Attempt field.
type dispatchAttempt = dispatch.Attempt

// BuildList is the answer of GET /api/v1/builds: builds by ascending id,
// without their attempts, and the cursor of the next page ("" on the last
// page): pass it as ?after=.
type BuildList struct {
	Builds []dispatch.Build `json:"builds"`
	Next   string           `json:"next"`
}

// Limits of the controller-build routes.
const (
	defaultBuildLimit = 100
	maxBuildLimit     = 1000
	maxDelaySeconds   = 30 * 24 * 60 * 60 // 30 days
)

// controllerBuildFields lists what a Jenkins-controller build takes, for
// messages.
const controllerBuildFields = `clusterId, job (its full name, folder/job), parameters ({"NAME": "value", …}) and delaySeconds`

// controllerBuildRoutes are the routes of Jenkins-controller builds; POST
// /api/v1/builds, shared with pipeline builds, is in buildClusterRoutes
// and comes here through createBuild.
func (h *handler) controllerBuildRoutes() []route {
	return []route{
		{"GET", "/api/v1/builds", h.handle(h.listControllerBuilds)},
		{"GET", "/api/v1/builds/{id}", h.handle(h.getControllerBuild)},
		{"POST", "/api/v1/builds/{id}/cancel", h.handle(h.cancelControllerBuild)},
		{"GET", "/api/v1/builds/{id}/log", h.handle(h.controllerBuildLog)},
	}
}

// controllerBuilds returns the build engine, or not_enabled.
func (h *handler) controllerBuilds() (Builds, error) {
	if h.builds == nil {
		return nil, notEnabled("Jenkins-controller builds")
	}
	return h.builds, nil
}

// createControllerBuild accepts a build of a job on the Jenkins controllers
// of a cluster (POST /api/v1/builds with clusterId).
func (h *handler) createControllerBuild(w http.ResponseWriter, r *http.Request, req BuildRequest) error {
	builds, err := h.controllerBuilds()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"scmContext", req.SCMContext != ""},
		{"annotations", req.Annotations != nil},
		{"environment", req.Environment != nil},
		{"image", req.Image != ""},
		{"steps", req.Steps != nil},
	} {
		if f.set {
			return &problem{http.StatusBadRequest, CodeInvalidField,
				f.name + " is for pipeline builds; a build on a Jenkins controller takes " + controllerBuildFields, f.name}
		}
	}
	params, err := controllerParams(req.Parameters)
	if err != nil {
		return err
	}
	if req.DelaySeconds < 0 || req.DelaySeconds > maxDelaySeconds {
		return &problem{http.StatusBadRequest, CodeInvalidField,
			fmt.Sprintf("delaySeconds must be between 0 and %d (30 days), the seconds to hold the build back; got %d", maxDelaySeconds, req.DelaySeconds), "delaySeconds"}
	}
	b, err := builds.Submit(r.Context(), dispatch.Request{
		Cluster: req.ClusterID, Job: req.Job, Params: params,
		Cause:          dispatch.Cause{Kind: "api", Addr: remoteHost(r)},
		Delay:          time.Duration(req.DelaySeconds) * time.Second,
		WithParameters: len(params) > 0,
	})
	if err != nil {
		return &jobError{cluster: req.ClusterID, job: strings.Trim(req.Job, "/"), err: err}
	}
	h.log.InfoContext(r.Context(), "controller build accepted", "build", b.ID, "cluster", b.Cluster, "job_name", b.Job)
	w.Header().Set("Location", fmt.Sprintf("%sbuilds/%d", Prefix, b.ID))
	return h.reply(w, http.StatusCreated, h.named(r.Context(), b))
}

// controllerParams reads the parameters of a controller build: a JSON
// object of names to values, in the order given. A value may be a string,
// a number or a boolean (Jenkins takes every parameter as text: 3 is "3",
// true is "true").
func controllerParams(raw json.RawMessage) ([]dispatch.Param, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return &problem{http.StatusBadRequest, CodeInvalidField, fmt.Sprintf(format, args...), "parameters"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad(`parameters must be an object of names to values, e.g. {"ENV": "qa", "COUNT": "3"}`)
	}
	params := []dispatch.Param{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("parameters: malformed JSON: %v", err)
		}
		name, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, bad("parameters: malformed JSON: %v", err)
		}
		var value string
		switch v := v.(type) {
		case string:
			value = v
		case json.Number:
			value = v.String()
		case bool:
			value = strconv.FormatBool(v)
		default:
			return nil, bad("parameters: the value of %q must be a string, a number or a boolean", name)
		}
		switch {
		case strings.TrimSpace(name) == "":
			return nil, bad("parameters: a parameter has an empty name")
		case seen[name]:
			return nil, bad("parameters: %q is given twice", name)
		}
		seen[name] = true
		params = append(params, dispatch.Param{Name: name, Value: value})
	}
	return params, nil
}

// remoteHost is the client's address without its port, for the build's
// cause.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// GET /api/v1/builds[?cluster=&job=&state=&after=&limit=]
func (h *handler) listControllerBuilds(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "cluster", "job", "state", "after", "limit")
	if err != nil {
		return err
	}
	builds, err := h.controllerBuilds()
	if err != nil {
		return err
	}
	f := dispatch.Filter{Cluster: q.Get("cluster"), Job: strings.Trim(q.Get("job"), "/"), State: dispatch.State(q.Get("state"))}
	switch f.State {
	case "", dispatch.StateAccepted, dispatch.StatePlaced, dispatch.StateRunning,
		dispatch.StateFinished, dispatch.StateFailed, dispatch.StateCancelled:
	default:
		return &problem{http.StatusBadRequest, CodeInvalidParameter,
			fmt.Sprintf("state must be accepted, placed, running, finished, failed or cancelled, not %q", f.State), "state"}
	}
	if f.AfterID, err = intParam(q, "after", 0, 0, math.MaxInt64, "the next cursor of the previous page (a build id)"); err != nil {
		return err
	}
	limit, err := pageLimit(q, defaultBuildLimit, maxBuildLimit)
	if err != nil {
		return err
	}
	// One more than the page, to know whether another page follows.
	f.Limit = min(limit+1, maxBuildLimit)
	list, err := builds.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := BuildList{}
	var more bool
	if out.Builds, more = cutPage(list, limit, maxBuildLimit); more {
		out.Next = strconv.FormatInt(out.Builds[limit-1].ID, 10)
	}
	return h.reply(w, http.StatusOK, out)
}

// GET /api/v1/builds/{id}
func (h *handler) getControllerBuild(w http.ResponseWriter, r *http.Request) error {
	builds, err := h.controllerBuilds()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := builds.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, h.named(r.Context(), b))
}

// POST /api/v1/builds/{id}/cancel
func (h *handler) cancelControllerBuild(w http.ResponseWriter, r *http.Request) error {
	builds, err := h.controllerBuilds()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := builds.Cancel(r.Context(), id)
	if errors.Is(err, dispatch.ErrFinished) {
		return &endedError{b: b, err: err}
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "controller build cancelled", "build", b.ID, "state", b.State, "stop", b.StopRequested)
	return h.reply(w, http.StatusOK, h.named(r.Context(), b))
}

// GET /api/v1/builds/{id}/log[?start=N]: the console of the build's
// current attempt from byte N, as Jenkins' progressiveText answers it.
func (h *handler) controllerBuildLog(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "start")
	if err != nil {
		return err
	}
	builds, err := h.controllerBuilds()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	start, err := intParam(q, "start", 0, 0, math.MaxInt64, "a byte offset, 0 or the X-Text-Size of the previous answer")
	if err != nil {
		return err
	}
	text, next, more, err := builds.Log(r.Context(), id, start)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Text-Size", strconv.FormatInt(next, 10))
	hdr.Set("X-More-Data", strconv.FormatBool(more))
	w.WriteHeader(http.StatusOK)
	w.Write(text)
	return nil
}

// named returns b with its attempts, each naming its controller as the
// registry knows it.
func (h *handler) named(ctx context.Context, b dispatch.Build) Build {
	out := Build{Build: b, Attempts: make([]Attempt, 0, len(b.Attempts))}
	names := map[int64]string{}
	for _, a := range b.Attempts {
		name, ok := names[a.ControllerID]
		if !ok {
			if inst, err := h.registry.Get(ctx, a.ControllerID); err == nil {
				name = inst.Name
			}
			names[a.ControllerID] = name
		}
		out.Attempts = append(out.Attempts, Attempt{dispatchAttempt: a, ControllerName: name})
	}
	out.Build.Attempts = nil
	return out
}

// jobError is an error of Submit, which names the job and cluster it is
// about.
type jobError struct {
	cluster, job string
	err          error
}

func (e *jobError) Error() string {
	switch {
	case errors.Is(e.err, dispatch.ErrUnknownJob):
		return fmt.Sprintf("no controller of cluster %q has a job %q: give the job's full name (folder/job) and check the cluster", e.cluster, e.job)
	case errors.Is(e.err, dispatch.ErrNotBuildable):
		return fmt.Sprintf("job %q of cluster %q is not buildable: it is disabled on every controller that has it", e.job, e.cluster)
	case errors.Is(e.err, dispatch.ErrNotParameterized):
		return fmt.Sprintf("job %q of cluster %q is not parameterized: leave parameters out", e.job, e.cluster)
	}
	return e.err.Error()
}

func (e *jobError) Unwrap() error { return e.err }

// endedError is Cancel's answer for a build that already ended.
type endedError struct {
	b   dispatch.Build
	err error
}

func (e *endedError) Error() string {
	how := string(e.b.State)
	if e.b.Result != "" {
		how += " " + e.b.Result
	} else if e.b.Reason != "" {
		how += ": " + e.b.Reason
	}
	return fmt.Sprintf("build %d already ended (%s): there is nothing to cancel", e.b.ID, how)
}

func (e *endedError) Unwrap() error { return e.err }

// classifyDispatch maps the errors of the build engine, as dispatch's
// doc.go lists them; nil for any other error.
func classifyDispatch(err error) *problem {
	var (
		ve *dispatch.ValidationError
		be *dispatch.BackendError
	)
	switch {
	case errors.Is(err, dispatch.ErrUnknownJob):
		return &problem{http.StatusNotFound, CodeNotFound, err.Error(), "job"}
	case errors.Is(err, dispatch.ErrNotBuildable):
		return &problem{http.StatusConflict, CodeConflict, err.Error(), "job"}
	case errors.Is(err, dispatch.ErrNotParameterized):
		return &problem{http.StatusBadRequest, CodeInvalidField, err.Error(), "parameters"}
	case errors.Is(err, dispatch.ErrNotFound):
		return &problem{http.StatusNotFound, CodeNotFound, err.Error(), ""}
	case errors.Is(err, dispatch.ErrFinished):
		return &problem{http.StatusConflict, CodeBuildEnded, err.Error(), ""}
	case errors.As(err, &ve):
		field := ve.Field
		if field == "delay" {
			field = "delaySeconds"
		}
		return &problem{http.StatusBadRequest, CodeInvalidField, ve.Error(), field}
	case errors.As(err, &be) && be.Unavailable():
		return &problem{http.StatusServiceUnavailable, CodeControllerUnavailable, be.Error() + ": try again", ""}
	case errors.As(err, &be):
		return &problem{http.StatusBadGateway, CodeControllerError, be.Error(), ""}
	}
	return nil
}
