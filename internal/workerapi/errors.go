package workerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Error codes of the worker API, in the admin API's error shape
// {"error":{"code","message","field","reason"}}: reason is set on 401 and
// 403 (see the Reason constants).
const (
	CodeUnauthorized     = "unauthorized"       // 401: the token does not prove the caller is the cluster's worker
	CodeForbidden        = "forbidden"          // 403: it does, and may not do this (another cluster's queue, inactive cluster)
	CodeInvalidField     = "invalid_field"      // 400: a body field breaks its rule
	CodeInvalidJSON      = "invalid_json"       // 400: the body is not one JSON object of the call's fields
	CodeInvalidParameter = "invalid_parameter"  // 400: a path or query parameter is wrong
	CodeNotFound         = "not_found"          // 404: no such route, or no such job in the cluster's queue
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeLeaseLost        = "lease_lost"         // 409: the lease token no longer holds the job: stop working on it
	CodeBodyTooLarge     = "body_too_large"     // 413
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeUnavailable      = "unavailable" // 503: retry after Retry-After
)

// apiError is an error that knows its answer; cause, when set, is what
// errors.Is and errors.As see through it.
type apiError struct {
	status  int
	code    string
	message string
	field   string
	cause   error
}

func (e *apiError) Error() string { return e.message }
func (e *apiError) Unwrap() error { return e.cause }

func badParam(name, message string) *apiError {
	return &apiError{http.StatusBadRequest, CodeInvalidParameter, message, name, nil}
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
		Reason  string `json:"reason,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b ErrorBody
	b.Error.Code, b.Error.Message, b.Error.Field = e.code, e.message, e.field
	writeJSON(w, e.status, b)
}

// writeRejection answers a refused token: 401 with a WWW-Authenticate
// challenge (RFC 6750), 403, or 503 with Retry-After.
func writeRejection(w http.ResponseWriter, r *Rejection) {
	var b ErrorBody
	b.Error.Message, b.Error.Reason = r.Detail, r.Reason
	switch r.Status {
	case http.StatusUnauthorized:
		b.Error.Code = CodeUnauthorized
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="jenkinds workers", error="invalid_token", error_description=%q`, r.Reason))
	case http.StatusForbidden:
		b.Error.Code = CodeForbidden
	default:
		b.Error.Code = CodeUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, r.Status, b)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// decode reads the body, one JSON object of dst's fields and no others.
// Its messages never quote the body, which holds the lease token.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "send the body as Content-Type: application/json", "", nil}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes: upload logs in smaller parts", tooLarge.Limit), "", nil}
	case err != nil:
		return &apiError{http.StatusBadRequest, CodeInvalidJSON, "the body could not be read", "", err}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &apiError{http.StatusBadRequest, CodeInvalidJSON, "the body must be one JSON object of this call's fields: " +
			strings.TrimPrefix(jsonProblem(err), "json: "), "", nil}
	}
	if dec.More() {
		return &apiError{http.StatusBadRequest, CodeInvalidJSON, "the body must hold one JSON object and nothing after it", "", nil}
	}
	return nil
}

// jsonProblem describes a decoding error without quoting values.
func jsonProblem(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("%s must be a JSON %s", typ.Field, typ.Type.Kind())
	}
	return err.Error()
}
