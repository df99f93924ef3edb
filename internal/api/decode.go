package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// decode reads r's body, which must be one JSON object of dst's fields,
// into dst. Every way it can be wrong is a *problem (4xx) that says what to
// send instead; no message quotes a value from the body, which may hold a
// token.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &problem{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
				fmt.Sprintf("the body is sent as %q: send JSON with Content-Type: application/json", ct), ""}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &problem{http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit), ""}
	case err != nil:
		return &problem{http.StatusBadRequest, CodeInvalidJSON, "the request body could not be read: " + err.Error(), ""}
	}
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return invalidJSON("the request body is empty: send a JSON object with the fields %s", fieldList(dst))
	case body[0] != '{':
		return invalidJSON("the request body must be a JSON object {…} with the fields %s", fieldList(dst))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err, dst)
	}
	if dec.InputOffset() != int64(len(body)) {
		return invalidJSON("the request body must hold one JSON object and nothing after it")
	}
	return nil
}

func invalidJSON(format string, args ...any) *problem {
	return &problem{http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf(format, args...), ""}
}

// decodeProblem explains an error of json.Decoder.Decode into dst.
func decodeProblem(err error, dst any) *problem {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return invalidJSON("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("malformed JSON: the body ends before the object does")
	case errors.As(err, &typ) && typ.Field != "":
		return &problem{http.StatusBadRequest, CodeInvalidField,
			fmt.Sprintf("%s must be %s, not %s", typ.Field, jsonType(typ.Type), jsonValue(typ.Value)), typ.Field}
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ := strconv.Unquote(quoted)
		return &problem{http.StatusBadRequest, CodeUnknownField,
			fmt.Sprintf("unknown field %q: the fields are %s", name, fieldList(dst)), name}
	}
	return invalidJSON("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names what JSON value decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// jsonValue describes UnmarshalTypeError.Value: "string", "number 1.5",
// "bool", "array", "object".
func jsonValue(v string) string {
	switch v {
	case "string", "number":
		return "a " + v
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	}
	if n, ok := strings.CutPrefix(v, "number "); ok {
		return n
	}
	return v
}

// fieldList lists the JSON fields of the struct dst points to, for
// messages: "name, url, username".
func fieldList(dst any) string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// pathID returns the {id} path parameter, a positive integer.
func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' {
		return 0, &problem{http.StatusBadRequest, CodeInvalidParameter, fmt.Sprintf("id must be a positive integer, not %q", s), "id"}
	}
	return id, nil
}

// query returns r's query parameters, refusing any parameter not in
// allowed, and any given twice: a misspelt ?cluster=prod must not silently
// mean every cluster.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &problem{http.StatusBadRequest, CodeInvalidParameter, "malformed query string: " + err.Error(), ""}
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(allowed, k):
			return nil, &problem{http.StatusBadRequest, CodeInvalidParameter,
				fmt.Sprintf("unknown query parameter %q: this endpoint takes %s", k, strings.Join(allowed, ", ")), k}
		case len(q[k]) > 1:
			return nil, &problem{http.StatusBadRequest, CodeInvalidParameter, fmt.Sprintf("query parameter %q is given %d times: give it once", k, len(q[k])), k}
		}
	}
	return q, nil
}

// intParam reads the integer query parameter name of q, def when it is
// absent or empty; it must lie between lo and hi. rule says what it must
// be, for the message: "limit must be <rule>, not "x"".
func intParam(q url.Values, name string, def, lo, hi int64, rule string) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi || s[0] == '+' {
		return 0, &problem{http.StatusBadRequest, CodeInvalidParameter, fmt.Sprintf("%s must be %s, not %q", name, rule, s), name}
	}
	return v, nil
}

// pageLimit reads the limit query parameter of a list route: 1 to max,
// def when absent.
func pageLimit(q url.Values, def, max int) (int, error) {
	n, err := intParam(q, "limit", int64(def), 1, int64(max), fmt.Sprintf("an integer between 1 and %d", max))
	return int(n), err
}

// cutPage cuts list, asked for with min(limit+1, max) items, to limit, and
// reports whether another page may follow: the one more came, or a full
// page of max did.
func cutPage[T any](list []T, limit, max int) ([]T, bool) {
	if len(list) > limit || len(list) == max {
		return list[:limit], true
	}
	return nonNil(list), false
}
