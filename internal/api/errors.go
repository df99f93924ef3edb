package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jenkinds/jenkinds/internal/auth"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// Error codes: the "code" of every error answer,
// {"error":{"code":"…","message":"…","field":"…"}}. Clients branch on the
// code, people read the message, and field names the JSON field, query or
// path parameter at fault when there is one.
const (
	CodeInvalidField         = "invalid_field"          // 400: a field's value breaks its rule, or has the wrong JSON type
	CodeUnknownField         = "unknown_field"          // 400: the body has a field the endpoint does not take
	CodeInvalidJSON          = "invalid_json"           // 400: the body is empty, malformed or not one JSON object
	CodeInvalidParameter     = "invalid_parameter"      // 400: a path or query parameter is malformed or unknown
	CodeUnknownStrategy      = "unknown_strategy"       // 400: strategy is not a balancing strategy
	CodeUnauthorized         = auth.CodeUnauthorized    // 401: the admin token is missing or wrong
	CodeNotFound             = "not_found"              // 404: no such instance, cluster or route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: the route exists for other methods (see Allow)
	CodeConflict             = "conflict"               // 409: a taken name, or a second primary in a cluster
	CodeBodyTooLarge         = "body_too_large"         // 413: the body is over the limit
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: the body is not sent as application/json
	CodeInternal             = "internal"               // 500: a fault of the server; its log has the details
	CodeNoEligibleInstance   = "no_eligible_instance"   // 503: no instance may take work now (see Retry-After)
	CodeNotReady             = "not_ready"              // 503: /readyz: a dependency does not answer
	CodeCanceled             = "canceled"               // 503: the request was canceled (client gone, or shutdown)
	CodeTimeout              = "timeout"                // 504: a dependency did not answer in time

	// Build clusters and pipeline builds (buildcluster's doc.go has the mapping).
	CodeInvalidYAML                  = "invalid_yaml"                   // 400: the screwdriver.yaml does not parse (field yaml)
	CodeBuildClusterForbidden        = "build_cluster_forbidden"        // 403: the pipeline's organization may not use the named cluster
	CodeAmbiguousCluster             = "ambiguous_cluster"              // 409: the name has records for several scmContexts: name one
	CodeExternalWithoutOrganizations = "external_without_organizations" // 422: an external cluster must list its organizations
	CodeUnknownBuildCluster          = "unknown_build_cluster"          // 422: the annotation names no cluster of the scmContext
	CodeNotEnabled                   = "not_enabled"                    // 501: the server runs without this service
	CodeNoBuildCluster               = "no_build_cluster"               // 503: no active cluster may take the build now (see Retry-After)

	// Jenkins-controller builds (dispatch's doc.go has the mapping).
	CodeBuildEnded            = "build_ended"            // 409: the build already ended: nothing to cancel
	CodeControllerError       = "controller_error"       // 502: the controller the build is on answered with an error
	CodeControllerUnavailable = "controller_unavailable" // 503: the controller the build is on does not answer now
)

// retryAfterNoneEligible is the Retry-After of no_eligible_instance, in
// seconds: about one health-check round, after which the answer may differ.
const retryAfterNoneEligible = "5"

// retryAfterNoBuildCluster is the Retry-After of no_build_cluster: an
// admin must activate or register a cluster, which takes longer.
const retryAfterNoBuildCluster = "60"

// problem is an error that knows its answer.
type problem struct {
	status  int
	code    string
	message string
	field   string
}

func (p *problem) Error() string { return p.message }

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// classify maps err to its answer: the one place where an error becomes a
// status. Nil means an internal error.
func classify(err error) *problem {
	var (
		p  *problem
		ve *controller.ValidationError
		ce *controller.ConflictError
	)
	if p := classifyBuildCluster(err); p != nil {
		return p
	}
	if p := classifyDispatch(err); p != nil {
		return p
	}
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		return &problem{http.StatusBadRequest, CodeInvalidField, ve.Error(), ve.Field}
	case errors.As(err, &ce):
		return &problem{http.StatusConflict, CodeConflict, ce.Error(), ce.Field}
	case errors.Is(err, controller.ErrConflict):
		return &problem{http.StatusConflict, CodeConflict, err.Error(), ""}
	case errors.Is(err, controller.ErrNotFound):
		return &problem{http.StatusNotFound, CodeNotFound, err.Error(), ""}
	case errors.Is(err, balance.ErrNoneEligible):
		return &problem{http.StatusServiceUnavailable, CodeNoEligibleInstance, err.Error(), ""}
	case errors.Is(err, balance.ErrUnknownStrategy):
		return &problem{http.StatusBadRequest, CodeUnknownStrategy, err.Error(), "strategy"}
	case errors.Is(err, context.Canceled):
		return &problem{http.StatusServiceUnavailable, CodeCanceled, "the request was canceled: the client went away or the server is shutting down", ""}
	case errors.Is(err, context.DeadlineExceeded):
		return &problem{http.StatusGatewayTimeout, CodeTimeout, "a dependency did not answer in time: try again", ""}
	}
	return nil
}

// classifyBuildCluster maps the errors of the build cluster registry, its
// router and the job queue, as buildcluster's doc.go recommends; nil for
// any other error.
func classifyBuildCluster(err error) *problem {
	var (
		ve  *buildcluster.ValidationError
		ye  *buildcluster.YAMLError
		ce  *buildcluster.ConflictError
		ae  *buildcluster.AmbiguousError
		qve *queue.ValidationError
	)
	switch {
	// Before *ValidationError, which wraps it.
	case errors.Is(err, buildcluster.ErrExternalWithoutOrganizations) && errors.As(err, &ve):
		return &problem{http.StatusUnprocessableEntity, CodeExternalWithoutOrganizations, ve.Error(), ve.Field}
	case errors.As(err, &ve):
		return &problem{http.StatusBadRequest, CodeInvalidField, ve.Error(), ve.Field}
	case errors.As(err, &ye):
		return &problem{http.StatusBadRequest, CodeInvalidYAML, ye.Error(), "yaml"}
	case errors.As(err, &ce):
		return &problem{http.StatusConflict, CodeConflict, ce.Error(), ce.Field}
	case errors.As(err, &ae):
		return &problem{http.StatusConflict, CodeAmbiguousCluster, ae.Error(), "scmContext"}
	case errors.Is(err, buildcluster.ErrConflict):
		return &problem{http.StatusConflict, CodeConflict, err.Error(), ""}
	case errors.Is(err, buildcluster.ErrNotFound), errors.Is(err, buildcluster.ErrKeyNotFound), errors.Is(err, queue.ErrNotFound):
		return &problem{http.StatusNotFound, CodeNotFound, err.Error(), ""}
	case errors.Is(err, buildcluster.ErrUnauthorized):
		return &problem{http.StatusForbidden, CodeBuildClusterForbidden, err.Error(), "annotations"}
	case errors.Is(err, buildcluster.ErrUnknownCluster):
		return &problem{http.StatusUnprocessableEntity, CodeUnknownBuildCluster, err.Error(), "annotations"}
	case errors.Is(err, buildcluster.ErrNoCandidate):
		return &problem{http.StatusServiceUnavailable, CodeNoBuildCluster, err.Error(), ""}
	case errors.As(err, &qve):
		return &problem{http.StatusBadRequest, CodeInvalidField, qve.Error(), qve.Field}
	case errors.Is(err, queue.ErrDuplicate):
		return &problem{http.StatusConflict, CodeConflict, err.Error(), ""}
	}
	return nil
}

// fail answers r with err's status and error body. Internal errors get a
// generic message; their details go to the log, which holds no secrets
// because no error of this package, the registry or the Picker carries one.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	switch {
	case p == nil:
		h.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		p = &problem{http.StatusInternalServerError, CodeInternal, "internal error: the details are in the server's log", ""}
	case p.code == CodeTimeout:
		h.log.WarnContext(r.Context(), "api request timed out", "method", r.Method, "path", r.URL.Path, "err", err)
	case p.code == CodeNoEligibleInstance:
		w.Header().Set("Retry-After", retryAfterNoneEligible)
	case p.code == CodeNoBuildCluster:
		w.Header().Set("Retry-After", retryAfterNoBuildCluster)
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Field = p.code, p.message, p.field
	b, _ := marshal(body) // strings only: cannot fail
	writeJSON(w, p.status, b)
}

// reply answers r with status and v as JSON.
func (h *handler) reply(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	writeJSON(w, status, b)
	return nil
}

// marshal renders v as JSON ending in a newline, without escaping <, >
// and &: messages such as "Bearer <admin token>" stay readable, and
// nosniff keeps browsers from reading the JSON as HTML.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return b.Bytes(), err
}

// writeJSON writes body, JSON ending in a newline.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}
